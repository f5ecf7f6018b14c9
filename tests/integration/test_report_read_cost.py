"""A report reads rollup items, never raw rows: items read per request stay within the window's buckets plus a small
constant, and do not change when the raw data grows tenfold. Every report read of the registry is measured, with the
sample request declared beside it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backinstock import aws, deps, ids, registry
from backinstock.services.rollups import change_of
from tests.helpers import call, sample_request
from tests.integration.test_no_scan import preorder_offer

pytestmark = pytest.mark.integration
START = datetime(2026, 3, 1, 12, tzinfo=UTC)
DAYS = 90


def write_history(shop_id: str, per_day: int, offset: int) -> None:
    """`per_day` signups on every day of the window (each notified, one in three attributed). Their rollup changes
    are computed by the aggregator's own rules (`change_of`) and summed per rollup item before they are written
    (one UpdateItem per item): the transactional, once-only apply is tested elsewhere, and moto's transactions
    copy the whole table."""
    total: dict[tuple[str, str], Counter[str]] = {}
    latest: dict[tuple[str, str], dict[str, int]] = {}
    n = 0
    for day in range(DAYS):
        for _ in range(per_day):
            n += 1
            at = START + timedelta(days=day, minutes=n % 600)
            for change in changes(shop_id, at, n, offset):
                for group in (change.plain, *change.once.values()):
                    for slot, counters in group.items():
                        total.setdefault(slot, Counter()).update(
                            {k: int(v) if v == int(v) else v for k, v in counters.items()}
                        )
                for slot, values in change.latest.items():
                    current = latest.setdefault(slot, {})
                    for name, value in values.items():
                        current[name] = max(current.get(name, 0), value)
    repo = deps.rollups()
    for slot, counters in total.items():
        update = repo._update(shop_id, slot, dict(counters))["Update"]
        repo.client.update_item(TableName=repo.table_name, **update)
    for (dimension, bucket), values in latest.items():
        for name, value in values.items():
            repo._raise_to(shop_id, dimension, bucket, name, value)


def changes(shop_id: str, at: datetime, n: int, offset: int) -> list[Any]:
    signup = {
        "entity": "signup",
        "shop_id": shop_id,
        "signup_id": ids.uuid7(at),
        "variant_id": 101 + n % 3,
        "product_id": 10,
        "channel": "email",
        "created_at": ids.iso(at),
    }
    notified = {**signup, "notified_at": ids.iso(at + timedelta(hours=1))}
    send = {
        "entity": "notification",
        "shop_id": shop_id,
        "status": "sent",
        "channel": "email",
        "variant_id": signup["variant_id"],
        "product_id": 10,
        "sent_at": notified["notified_at"],
    }
    out = [change_of(None, signup), change_of(signup, notified), change_of(None, send)]
    if n % 3 == 0:
        attribution = {
            "entity": "attribution",
            "shop_id": shop_id,
            "order_id": f"o-{offset + n}",
            "line_item_id": "1",
            "signup_id": signup["signup_id"],
            "variant_id": signup["variant_id"],
            "product_id": 10,
            "channel": "email",
            "confidence": "high",
            "revenue": "10.00",
            "ordered_at": ids.iso(at + timedelta(hours=2)),
        }
        out.append(change_of(None, attribution))
    return out


def items_read(key: str, path: str) -> tuple[int, dict[str, Any]]:
    read: Counter[str] = Counter()

    def count(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        if name == "Query":
            read[name] += parsed.get("Count", 0)
        elif name == "GetItem":
            read[name] += 1 if parsed.get("Item") else 0
        elif name == "BatchGetItem":
            read[name] += sum(len(v) for v in parsed.get("Responses", {}).values())
        elif name == "Scan":
            read[name] += parsed.get("Count", 0)

    client = aws.client("dynamodb")
    client.meta.events.register("after-call.dynamodb", count)
    try:
        status, body = call("GET", path, key)
    finally:
        client.meta.events.unregister("after-call.dynamodb", count)
    assert status == 200, body
    assert "Scan" not in read
    return sum(read.values()), body


R = "/back_in_stock/reports"
WINDOW = {"from": "2026-03-01", "to": "2026-05-29"}  # 90 days: 90 days, 13 ISO weeks (partial edges), 3 months
# Cut edges read finer buckets (a cut week: <= 6 days; a cut month: <= 4 weeks + 12 days, at each end), then the shop
# and the API key; products_in_demand's page titles are counted in its buckets here (3 variants).
CONSTANT = 2 * (4 + 12) + 2


def report_reads() -> list[registry.Action]:
    """Every report read of the registry (a GET with a report), each requested as its declared sample over WINDOW."""
    return [a for a in registry.actions() if a.report and a.method == "GET"]


def buckets_answered(body: dict[str, Any]) -> int:
    """The buckets a read's answer spans: its series' points; else every day of the window (the finest cover a
    read may take: a total over whole months reads fewer, see the summary below)."""
    return len(body["series"]) if "series" in body else DAYS


def test_items_read_per_report_stay_within_buckets_and_do_not_grow_with_the_raw_rows(
    shop: dict[str, Any], catalog: dict[str, int]
) -> None:
    key = shop["api_key"]
    values = {**WINDOW, "offer_id": preorder_offer(shop["shop_id"])}
    paths = {action.name: sample_request(action, values)[0] for action in report_reads()}
    assert len(paths) >= 5
    summary = f"{R}/summary?from={WINDOW['from']}&to={WINDOW['to']}"
    # Every day of the window has activity on each of the 3 variants: every bucket of every dimension exists.
    write_history(shop["shop_id"], 3, 0)
    small = {name: items_read(key, path) for name, path in {**paths, "whole summary": summary}.items()}
    write_history(shop["shop_id"], 27, 10_000)  # now 10x the raw rows
    large = {name: items_read(key, path) for name, path in {**paths, "whole summary": summary}.items()}
    for name, ((small_items, _), (large_items, body)) in ((n, (small[n], large[n])) for n in small):
        assert large_items == small_items, (name, small_items, large_items)
        assert large_items <= buckets_answered(body) + CONSTANT, (name, large_items)
    # A total reads the window's cover in whole months (3 here), not its days.
    assert large["whole summary"][0] <= 3 + CONSTANT
    # The 10x data is there: the reads answer it.
    totals = large["whole summary"][1]["totals"]
    assert totals["signups"] == 30 * DAYS and totals["notified"] == 30 * DAYS
