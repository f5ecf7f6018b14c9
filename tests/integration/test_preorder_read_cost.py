"""A preorder report reads rollup items, never ledger rows: at 5x the orders it reads the same rollup items. The
distinct-customer figures (`customers` in summary, by_offer and by_date, and the customers report) are the one
exception, and a bounded one: they read the window's per-customer rows (a customer's rows in the buckets of the
window's cover), so those grow with the distinct customers, exactly, and nothing else does but the customers
report's page of profiles (docs/PERFORMANCE.md, "Preorder reports"; `bench/preorders.py` measures 1x, 10x, 100x).
Small histories: moto sorts a whole partition on every Query."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from backinstock import deps, registry
from backinstock_tools.local.seed import seed_preorders
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.history import measure, replicate, write_rollups
from backinstock_tools.testkit.samples import sample_request

pytestmark = pytest.mark.integration
NOW = datetime(2026, 9, 1, tzinfo=UTC)
WINDOW = {"from": "2026-06-03", "to": "2026-08-31"}
# The reports that show a distinct-customer count.
COUNT_CUSTOMERS = {"summary", "by_offer", "by_date", "customers"}


def reads() -> list[registry.Action]:
    return [a for a in registry.actions() if a.report and a.method == "GET" and a.resource == "preorder_reports"]


def test_items_read_do_not_grow_with_the_orders_but_for_the_customers_they_count(shop: Shop) -> None:
    shop_id, key = shop.id, shop.key
    seed_preorders(shop_id, 8, 90, random.Random(7), NOW)
    write_rollups(shop_id)
    values = {**WINDOW, "api_key": key, "offer_id": deps.offers().offers.list_ids(shop_id, NOW)[-1]}
    paths = {action.report: sample_request(action, values)[0] for action in reads()}
    assert set(paths) >= COUNT_CUSTOMERS | {"revenue", "by_variant", "by_product", "cancellations"}

    def read_all() -> dict[str, tuple[int, int, dict[str, Any]]]:
        out = {}
        for report, path in paths.items():
            found, body = measure(key, path)
            out[report] = (found.items - found.customer_rows, found.customer_rows, body)
        return out

    small = read_all()
    replicate(shop_id, 4)  # now 5x the orders, and 5x the customers
    write_rollups(shop_id)
    large = read_all()
    for report in paths:
        (small_items, small_rows, _), (large_items, large_rows, body) = small[report], large[report]
        if report == "customers":  # and the profiles of one page, which fills up as customers grow
            page = len(body["customers"]) - len(small[report][2]["customers"])
            assert page > 0 and large_items == small_items + page, (report, small_items, large_items)
        else:
            assert large_items == small_items, (report, small_items, large_items)
        if report in COUNT_CUSTOMERS:
            assert small_rows > 0 and large_rows == 5 * small_rows, (report, small_rows, large_rows)
        else:
            assert small_rows == large_rows == 0, report
    # The 5x data is there: the reads answer it.
    assert large["summary"][2]["totals"]["orders"] == 5 * small["summary"][2]["totals"]["orders"] > 0
    assert large["summary"][2]["totals"]["customers"] == 5 * small["summary"][2]["totals"]["customers"]
    assert large["customers"][2]["meta"]["total_count"] == 5 * small["customers"][2]["meta"]["total_count"]
    variant_rows = large["by_variant"][2]["rows"]
    assert variant_rows and sum(row["orders"] for row in variant_rows) > 0
