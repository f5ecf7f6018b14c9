"""Bucket covers, the rollup change of an item change, CSV cells and the multipart writer: pure rules, no AWS."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backinstock import buckets
from backinstock.csvfile import MultipartCsv, neutralise
from backinstock.keys import RELOCATED
from backinstock.services.rollups import change_of, pending_changes

pytestmark = pytest.mark.unit

days = st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31))


def expand(piece: tuple[str, date]) -> list[date]:
    granularity, start = piece
    end = buckets.next_start(start, granularity)
    return [start + timedelta(days=i) for i in range((end - start).days)]


@given(days, st.integers(min_value=0, max_value=400), st.sampled_from(buckets.GRANULARITIES))
def test_a_cover_is_exactly_the_window_in_whole_buckets(start: date, length: int, granularity: str) -> None:
    end = start + timedelta(days=length)
    pieces = buckets.cover(start, end, granularity)
    covered = [d for p in pieces for d in expand(p)]
    assert covered == [start + timedelta(days=i) for i in range(length + 1)]  # every day once, in order
    months = len(list(buckets.buckets(start, end, buckets.MONTH)))
    if granularity == buckets.MONTH:
        # Whole months, then at each cut edge <= 4 whole weeks and <= 6 days on either side of them.
        assert len(pieces) <= months + 2 * (4 + 6 + 6)


def test_runs_merge_consecutive_buckets_into_query_ranges() -> None:
    pieces = buckets.cover(date(2026, 1, 29), date(2026, 4, 2), buckets.MONTH)
    assert buckets.runs(pieces) == [
        ("day", "D#2026-01-29", "D#2026-01-31"),
        ("day", "D#2026-04-01", "D#2026-04-02"),
        ("month", "M#2026-02-01", "M#2026-03-01"),
    ]
    assert buckets.label(date(2026, 6, 3), buckets.WEEK) == "W#2026-06-01"  # ISO week: Monday


SIGNUP = {
    "entity": "signup",
    "shop_id": "s1",
    "signup_id": "019d0000-0000-7000-8000-000000000000",
    "variant_id": 101,
    "product_id": 10,
    "channel": "email",
    "created_at": "2026-06-03T10:00:00.000Z",
}


def test_a_notified_signup_moves_from_pending_to_notified_in_its_creation_buckets() -> None:
    change = change_of(SIGNUP, {**SIGNUP, "notified_at": "2026-06-09T10:00:00.000Z"})
    assert change is not None
    assert change.plain[("all", "D#2026-06-03")] == {"pending": Decimal(-1), "notified": Decimal(1)}
    assert change.plain[("v:101:ch:email", "M#2026-06-01")] == {"pending": Decimal(-1), "notified": Decimal(1)}
    assert change.plain[("dem", "D#2026-06-03")] == {"p_101": Decimal(-1)}
    assert pending_changes(change) == [(101, -1)]
    assert change.latest == {}


def test_a_blocked_signup_leaves_pending_for_signups_blocked_as_its_status_does_in_the_list() -> None:
    blocked = {**SIGNUP, "blocked_at": "2026-06-09T10:00:00.000Z"}
    change = change_of(SIGNUP, blocked)
    assert change is not None
    assert change.plain[("all", "D#2026-06-03")] == {"pending": Decimal(-1), "signups_blocked": Decimal(1)}
    assert change.plain[("dem", "D#2026-06-03")] == {"p_101": Decimal(-1)}
    assert pending_changes(change) == [(101, -1)]
    # notified later: it leaves blocked for notified, and pending does not move again
    later = change_of(blocked, {**blocked, "notified_at": "2026-06-10T10:00:00.000Z"})
    assert later is not None
    assert later.plain[("all", "D#2026-06-03")] == {"signups_blocked": Decimal(-1), "notified": Decimal(1)}


def test_a_transferred_signup_leaves_its_variant_for_the_new_one_and_a_shop_total_does_not_move() -> None:
    moved = {**SIGNUP, "variant_id": 102}
    change = change_of(SIGNUP, moved)
    assert change is not None
    assert change.plain[("v:101", "D#2026-06-03")]["signups"] == -1
    assert change.plain[("v:102", "D#2026-06-03")]["signups"] == 1
    assert ("all", "D#2026-06-03") not in change.plain
    assert sorted(pending_changes(change)) == [(101, -1), (102, 1)]
    assert change.latest[("dem", "D#2026-06-03")]["r_102"] == 10


def test_unrelated_items_and_low_confidence_orders_change_nothing() -> None:
    assert change_of(None, {"entity": "rollup", "shop_id": "s1"}) is None
    assert change_of(None, {"entity": "send_claim", "shop_id": "s1"}) is None
    attribution = {
        "entity": "attribution",
        "shop_id": "s1",
        "order_id": "9",
        "signup_id": SIGNUP["signup_id"],
        "variant_id": 101,
        "product_id": 10,
        "channel": "email",
        "confidence": "low",
        "revenue": "10.00",
        "ordered_at": "2026-06-04T10:00:00.000Z",
    }
    assert change_of(None, attribution) is None
    counted = change_of(None, {**attribution, "confidence": "medium"})
    assert counted is not None
    assert counted.plain[("all", "D#2026-06-04")] == {"revenue": Decimal("10.00")}
    assert set(counted.once) == {"ORDER#9", f"CONVERTED#{SIGNUP['signup_id']}"}
    assert change_of({**attribution, "confidence": "high"}, None) is None  # attributions are immutable


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+15555550100", "'+15555550100"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("plain", "plain"),
        (None, ""),
        (-2, -2),
        (0.5, 0.5),
    ],
)
def test_text_cells_that_a_spreadsheet_would_evaluate_are_neutralised(cell: Any, written: Any) -> None:
    assert neutralise(cell) == written


class FakeS3:
    """Records the multipart calls and the largest part: what the writer holds in memory is one part."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.completed: list[dict[str, Any]] | None = None
        self.aborted = False

    def create_multipart_upload(self, **_: Any) -> dict[str, Any]:
        return {"UploadId": "u1"}

    def upload_part(self, Body: bytes, PartNumber: int, **_: Any) -> dict[str, Any]:
        self.parts.append(Body)
        return {"ETag": f"e{PartNumber}"}

    def complete_multipart_upload(self, MultipartUpload: dict[str, Any], **_: Any) -> None:
        self.completed = MultipartUpload["Parts"]


def test_the_writer_ships_parts_of_the_configured_size_and_completes_in_order() -> None:
    s3 = FakeS3()
    writer = MultipartCsv("b", "k", file_name="f.csv", part_size=1024, client=s3)
    boundaries = sum(writer.write_row([i, "x" * 50, "é"]) for i in range(100))
    writer.complete()
    assert boundaries == len(s3.parts) - 1  # every part but the last was shipped at a row boundary
    assert all(1024 <= len(p) < 1024 + 100 for p in s3.parts[:-1])
    text = b"".join(s3.parts).decode("utf-8")
    assert text.count("\r\n") == 100 and text.startswith("0,") and "é" in text
    assert s3.completed == [{"PartNumber": i + 1, "ETag": f"e{i + 1}"} for i in range(len(s3.parts))]


def test_a_writer_resumes_an_upload_from_its_state() -> None:
    s3 = FakeS3()
    first = MultipartCsv("b", "k", file_name="f.csv", part_size=64, client=s3)
    while not first.write_row(["a" * 10]):
        pass
    resumed = MultipartCsv("b", "k", file_name="f.csv", part_size=64, client=s3, state=first.state())
    resumed.write_row(["last"])
    resumed.complete()
    assert [p["PartNumber"] for p in s3.completed or []] == [1, 2]
    assert b"".join(s3.parts).decode().endswith("last\r\n")


def test_the_window_defaults_to_the_last_30_days_and_is_bounded() -> None:
    from datetime import UTC, datetime

    from backinstock.errors import ValidationFailed
    from backinstock.models.reports import SeriesQuery
    from backinstock.reporting import resolve_window

    now = datetime(2026, 6, 10, 23, 59, tzinfo=UTC)
    assert resolve_window(SeriesQuery(), now) == (date(2026, 5, 12), date(2026, 6, 10))
    assert resolve_window(SeriesQuery.model_validate({"to": "2026-01-31"}), now) == (
        date(2026, 1, 2),
        date(2026, 1, 31),
    )
    assert resolve_window(SeriesQuery.model_validate({"from": "2026-06-01"}), now) == (
        date(2026, 6, 1),
        date(2026, 6, 10),
    )
    # A future `from` alone is a one-day window on that day, not an inverted one.
    assert resolve_window(SeriesQuery.model_validate({"from": "2026-07-01"}), now) == (
        date(2026, 7, 1),
        date(2026, 7, 1),
    )
    full_year = SeriesQuery.model_validate({"from": "2025-06-11", "to": "2026-06-11"})
    assert resolve_window(full_year, now)[0] == date(2025, 6, 11)  # 366 days: the maximum
    with pytest.raises(ValidationFailed):
        resolve_window(SeriesQuery.model_validate({"from": "2025-06-10", "to": "2026-06-11"}), now)


def test_the_cap_is_on_buckets_not_days() -> None:
    """Issue 24: a 17-month window at month granularity is 17 buckets, fine; 367 buckets of any granularity is a 422
    that says buckets."""
    from backinstock.errors import ValidationFailed
    from backinstock.models.reports import ReportQuery, SeriesQuery
    from backinstock.reporting import resolve_window

    months = SeriesQuery.model_validate({"from": "2025-01-01", "to": "2026-05-31", "granularity": "month"})
    assert resolve_window(months) == (date(2025, 1, 1), date(2026, 5, 31))
    weeks = SeriesQuery.model_validate({"from": "2018-01-01", "to": "2026-12-31", "granularity": "week"})
    with pytest.raises(ValidationFailed) as refused:
        resolve_window(weeks)
    message = refused.value.problems[0].message
    assert "at most 366 buckets of the report's granularity" in message and "weeks" in message
    assert "coarser granularity" in message
    with pytest.raises(ValidationFailed):  # no granularity: days
        resolve_window(ReportQuery.model_validate({"from": "2025-01-01", "to": "2026-05-31"}))


def test_a_series_first_bucket_is_labelled_by_the_window_start() -> None:
    from backinstock.reporting import labelled

    points = {b: b for b in buckets.buckets(date(2026, 11, 8), date(2026, 12, 7), buckets.MONTH)}
    assert [d for d, _ in labelled(points, date(2026, 11, 8))] == [date(2026, 11, 8), date(2026, 12, 1)]


def test_a_blocked_send_counts_in_its_channel() -> None:
    send = {
        "entity": "notification",
        "shop_id": "s1",
        "variant_id": 101,
        "product_id": 10,
        "channel": "sms",
        "status": "blocked",
        "sent_at": "2026-06-03T10:00:00.000Z",
    }
    change = change_of(None, send)
    assert change is not None
    assert change.plain[("all", "D#2026-06-03")] == {"blocked": Decimal(1), "blocked_sms": Decimal(1)}


def test_a_pending_signup_counts_in_its_variants_waitlist_now() -> None:
    change = change_of(None, SIGNUP)
    assert change is not None
    assert change.plain[("dem", "TOTAL")] == {"p_101": Decimal(1)}
    assert change.latest[("dem", "TOTAL")] == {"l_101": 1780480800, "r_101": 10}
    notified = change_of(SIGNUP, {**SIGNUP, "notified_at": "2026-06-09T10:00:00.000Z"})
    assert notified is not None and notified.plain[("dem", "TOTAL")] == {"p_101": Decimal(-1)}


def test_a_failed_exports_message_is_meant_for_the_merchant() -> None:
    import json

    from backinstock.services.exports import error_message

    ours = {"Error": "ExportFailed", "Cause": json.dumps({"errorType": "ExportFailed", "errorMessage": "bad window"})}
    assert error_message(ours) == "The export failed: bad window"
    crash = {"Error": "KeyError", "Cause": json.dumps({"errorType": "KeyError", "errorMessage": "'secret detail'"})}
    assert "secret detail" not in error_message(crash) and "(KeyError)" in error_message(crash)
    assert "unknown error" in error_message(None)


def test_a_row_moved_to_its_issue_23_key_counts_nothing_and_stays_countable() -> None:
    """`migrate keys` (repositories/migration.py): the copy's INSERT and the old row's REMOVE carry `relocated` and
    count nothing (no new signup, no removed one, no waitlist move, no demand time); the marks coming and going
    change no counter; the copy, once unmarked, counts as the row did (what `reports verify` adds up), and a later
    delete of it takes it back as any delete does."""
    send = {
        "entity": "notification",
        "shop_id": "s1",
        "notification_id": "019d0000-0000-7000-8000-000000000001",
        "variant_id": 101,
        "product_id": 10,
        "channel": "email",
        "status": "sent",
        "sent_at": "2026-06-03T10:00:00.000Z",
        "campaign_id": "c1",
    }
    for row in (SIGNUP, send):
        moving = {**row, RELOCATED: "2026-12-07T19:00:00.000Z"}
        assert change_of(None, moving) is None  # the copy's INSERT
        assert change_of(moving, None) is None  # the old row's REMOVE
        marked = change_of(row, moving)  # the old row marked (step 1)
        assert marked is None or not marked.plain
        unmarked = change_of(moving, row)  # the copy unmarked (step 2)
        assert unmarked is None or not unmarked.plain
        counted, removed = change_of(None, row), change_of(row, None)
        assert counted is not None and counted.plain and removed is not None and removed.plain
    # a marked copy's own change (a send's claim landing while it moves) still counts
    moving = {**SIGNUP, RELOCATED: "2026-12-07T19:00:00.000Z"}
    notified = change_of(moving, {**moving, "notified_at": "2026-06-09T10:00:00.000Z"})
    assert notified is not None and notified.plain[("dem", "TOTAL")] == {"p_101": Decimal(-1)}
