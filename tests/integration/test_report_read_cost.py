"""A report reads rollup items, never raw rows: items read per request stay within the window's buckets plus a small
constant, and do not change when the raw data grows tenfold. Every report read of the registry is measured, with the
sample request declared beside it. The rollup items have their own partitions (`SHOP#<id>#ROLLUP#<shard>`): spreading
signups and log rows over 16 partitions each (issue 23) changes none of these counts."""

from __future__ import annotations

from typing import Any

import pytest

from backinstock import registry
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.history import DAYS, items_read, write_history
from backinstock_tools.testkit.samples import preorder_offer, sample_request

pytestmark = pytest.mark.integration
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
    shop: Shop, catalog: dict[str, int]
) -> None:
    key = shop.key
    values = {**WINDOW, "offer_id": preorder_offer(shop.id)}
    paths = {action.name: sample_request(action, values)[0] for action in report_reads()}
    assert len(paths) >= 5
    summary = f"{R}/summary?from={WINDOW['from']}&to={WINDOW['to']}"
    # Every day of the window has activity on each of the 3 variants: every bucket of every dimension exists.
    write_history(shop.id, 3, 0)
    small = {name: items_read(key, path) for name, path in {**paths, "whole summary": summary}.items()}
    write_history(shop.id, 27, 10_000)  # now 10x the raw rows
    large = {name: items_read(key, path) for name, path in {**paths, "whole summary": summary}.items()}
    for name, ((small_items, _), (large_items, body)) in ((n, (small[n], large[n])) for n in small):
        assert large_items == small_items, (name, small_items, large_items)
        assert large_items <= buckets_answered(body) + CONSTANT, (name, large_items)
    # A total reads the window's cover in whole months (3 here), not its days.
    assert large["whole summary"][0] <= 3 + CONSTANT
    # The 10x data is there: the reads answer it.
    totals = large["whole summary"][1]["totals"]
    assert totals["signups"] == 30 * DAYS and totals["notified"] == 30 * DAYS
