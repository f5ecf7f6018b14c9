"""The audit's pure rules (services/rollup_audit.py): expected counters from base records by the aggregator's own
`change_of`, once-groups, max-updates, customer rows, windows, and the state a resumed rebuild reads back."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from backinstock.models.rollups import CUSTOMER_ROW_ENTITY
from backinstock.services import rollup_audit
from backinstock.services.rollups import ENTITIES, change_of
from backinstock_tools.testkit.builders import signup_record as signup

pytestmark = pytest.mark.unit
SIGNUP_ID = "019a0000-0000-7000-8000-000000000001"  # a UUIDv7 of October 2025


def attribution(order: str, line: str, variant: int, revenue: str) -> dict[str, Any]:
    return {
        "entity": "attribution",
        "shop_id": "s1",
        "order_id": order,
        "line_item_id": line,
        "variant_id": variant,
        "product_id": 10,
        "channel": "email",
        "signup_id": SIGNUP_ID,
        "confidence": "high",
        "revenue": revenue,
        "ordered_at": "2026-06-04T10:00:00.000Z",
    }


def test_every_entity_the_aggregator_counts_has_a_base_record_source() -> None:
    assert set(rollup_audit.SOURCES) == set(ENTITIES) - {CUSTOMER_ROW_ENTITY}


def test_expected_counters_are_the_aggregators_change_of_each_record() -> None:
    expected = rollup_audit.Expected("s1")
    item = signup(notified_at="2026-06-05T00:00:00.000Z")
    expected.add(item)
    change = change_of(None, item)
    assert change is not None
    made = {slot: dict(counters) for slot, counters in change.plain.items()}
    for slot, values in change.latest.items():
        made.setdefault(slot, {}).update({k: Decimal(v) for k, v in values.items()})
    assert expected.counters() == made
    assert rollup_audit.compare(expected, made) == []


def test_an_order_counts_once_and_a_conversion_once_per_signup() -> None:
    expected = rollup_audit.Expected("s1")
    expected.add(attribution("9", "1", 101, "10.00"))
    expected.add(attribution("9", "2", 102, "5.00"))
    counters = expected.counters()
    month = ("all", "M#2026-06-01")
    assert counters[month] == {"orders": 1, "revenue": Decimal("15.00")}
    assert counters[("all", "M#2025-10-01")] == {"converted": 1}  # in the month the signup was created
    assert "orders" in counters[("v:101", "M#2026-06-01")] and "orders" not in counters[("v:102", "M#2026-06-01")]
    assert expected.once == {"ORDER#9", f"CONVERTED#{SIGNUP_ID}"}


def test_a_stored_counter_off_by_one_or_missing_is_a_difference() -> None:
    expected = rollup_audit.Expected("s1")
    expected.add(signup())
    stored = {slot: dict(c) for slot, c in expected.counters().items()}
    stored[("all", "D#2026-06-03")]["signups"] += 1
    del stored[("v:101", "TOTAL")]
    found = {
        (d.report, d.dimension, d.bucket, d.counter, d.stored, d.expected)
        for d in rollup_audit.compare(expected, stored)
    }
    assert found == {
        ("back_in_stock", "all", "D#2026-06-03", "signups", 2, 1),
        ("back_in_stock", "v:101", "TOTAL", "pending", 0, 1),
        ("back_in_stock", "v:101", "TOTAL", "signups", 0, 1),  # the list counts (total_count) live there too
        ("back_in_stock", "v:101", "TOTAL", "signups_pending", 0, 1),
    }


def test_latest_request_times_never_go_down() -> None:
    expected = rollup_audit.Expected("s1")
    expected.add(signup())
    stored = {slot: dict(c) for slot, c in expected.counters().items()}
    slot = ("dem", "D#2026-06-03")
    at = expected.latest[slot]["l_101"]
    stored[slot].update({"l_101": Decimal(at + 60), "r_101": Decimal(10), "l_999": Decimal(1)})
    assert rollup_audit.compare(expected, stored) == []  # a later signup, deleted since, left its time
    stored[slot]["l_101"] = Decimal(at - 1)
    stored[slot]["r_101"] = Decimal(11)
    assert {d.counter for d in rollup_audit.compare(expected, stored)} == {"l_101", "r_101"}


def test_customers_are_the_customer_rows_and_a_row_no_order_makes_is_a_difference() -> None:
    expected = rollup_audit.Expected("s1")
    expected.plain[("pcu", "M#2026-06-01#cus_a")] = {"orders": Decimal(1)}
    expected.plain[("pcu", "M#2026-06-01#cus_b")] = {"orders": Decimal(2)}
    counters = expected.counters()
    assert counters[("po", "M#2026-06-01")] == {"customers": 2}
    stored = {**counters, ("pcu", "M#2026-06-01#cus_c"): {"orders": Decimal(0)}}
    [extra] = rollup_audit.compare(expected, stored)
    assert (extra.report, extra.counter, extra.stored, extra.expected) == ("preorder_customers", "(row)", 1, 0)


def test_a_window_keeps_the_buckets_that_meet_it() -> None:
    june = (date(2026, 6, 10), date(2026, 6, 20))
    assert rollup_audit.in_window("D#2026-06-10", *june)
    assert not rollup_audit.in_window("D#2026-06-21", *june)
    assert rollup_audit.in_window("W#2026-06-08", *june) and rollup_audit.in_window("M#2026-06-01", *june)
    assert rollup_audit.in_window("M#2026-05-01#cus_a", date(2026, 5, 31), None)
    assert not rollup_audit.in_window("TOTAL", *june) and rollup_audit.in_window("TOTAL", None, None)


def test_the_saved_state_reads_back_the_same_sums() -> None:
    expected = rollup_audit.Expected("s1")
    expected.add(signup())
    expected.add(attribution("9", "1", 101, "10.25"))
    again = rollup_audit.Expected.from_json(expected.to_json())
    assert again.counters() == expected.counters() and again.once == expected.once
    assert again.latest == expected.latest and again.records == 2
