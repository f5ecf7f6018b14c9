"""What every report's numbers mean, for every report of the registry (issue 24, part 6), on one seeded history
(signups, sends some blocked, attributed orders, preorders with balances, cancellations, refunds; the stream
drained):

- every filter a report documents (its query model's fields) narrows every figure: filtered <= unfiltered, and a
  filter that matches nothing gives zeros;
- the summary of each family equals the sums of its time series over the same window and filters (a property
  test: windows, granularities and filters drawn by Hypothesis).
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backinstock import deps, ids, registry
from backinstock.reporting import ReportFamily
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration

DAYS = 20
# Ratios and positions are not figures a filter narrows (a share can grow when the whole shrinks); ids name rows.
NOT_FIGURES = frozenset(
    {
        "conversion_rate",
        "collection_rate",
        "page",
        "per_page",
        "total_pages",
        "shopify_variant_id",
        "shopify_product_id",
        "rate",
    }
)
NOTHING = {"variant_id": 999_999_999, "product_id": 999_999_999, "market_id": 999_999_999}


@pytest.fixture
def seeded(shop: Shop, stream: Any) -> dict[str, Any]:
    from backinstock_tools.local.seed import seed

    seed(shop.id, signups=12, days=DAYS, preorders=6)
    stream.drain()
    offers = deps.preorder_reports().offers.list_ids(shop.id, ids.now())
    return {"api_key": shop.key, "offer_id": offers[0]}


def figures(answer: Any, path: str = "") -> dict[str, Decimal]:
    """Every number of an answer, summed per field path without list positions (`series.signups`): counts and
    money strings; dates, ids, names and ratios left out."""
    out: dict[str, Decimal] = {}
    if isinstance(answer, dict):
        for name, value in answer.items():
            if name in NOT_FIGURES or name in ("window", "conversion", "meta"):
                continue
            for key, number in figures(value, f"{path}.{name}" if path else name).items():
                out[key] = out.get(key, Decimal(0)) + number
    elif isinstance(answer, list):
        for value in answer:
            for key, number in figures(value, path).items():
                out[key] = out.get(key, Decimal(0)) + number
    elif isinstance(answer, bool):
        pass
    elif isinstance(answer, int | float):
        out[path] = Decimal(str(answer))
    elif isinstance(answer, str) and "-" not in answer and "." in answer:
        with contextlib.suppress(InvalidOperation):  # a title with a dot
            out[path] = Decimal(answer)
    return out


def families() -> list[ReportFamily]:
    from backinstock.reporting import family_of

    return [family_of(m.rsplit(".", 1)[1]) for m in registry.RESOURCE_MODULES if m.endswith("reports")]


def reads() -> list[tuple[ReportFamily, str]]:
    return [(family, report.name) for family in families() for report in family.reports]


def read(seeded: dict[str, Any], family: ReportFamily, report: str, **params: Any) -> dict[str, Any]:
    query = {"from": (ids.now().date() - timedelta(days=DAYS + 2)).isoformat(), **params}
    if family.resource == "preorder_reports" and report == "by_variant":
        query.setdefault("offer_id", seeded["offer_id"])
    status, body = call("GET", f"{family.prefix}/{report}?{urlencode(query)}", seeded["api_key"])
    assert status == 200, (report, query, body)
    return dict(body)


def test_every_documented_filter_narrows_every_figure_and_nothing_matched_is_zeros(seeded: dict[str, Any]) -> None:
    checked, shown = 0, 0
    for family, name in reads():
        fields = set(family.report(name).query.model_fields)
        whole = figures(read(seeded, family, name))
        shown += any(whole.values())  # a small random history may hold no cancellation, say
        matching = {"variant_id": 40001, "product_id": 9001, "market_id": 1, "channel": "email"}
        matching["offer_id"] = seeded["offer_id"]
        nothing = {**NOTHING, "offer_id": "00000000-0000-4000-8000-000000000000"}
        for field in sorted(fields & set(matching)):
            narrowed = figures(read(seeded, family, name, **{field: matching[field]}))
            for key, value in narrowed.items():
                assert value <= whole.get(key, Decimal(0)), f"{family.prefix}/{name}?{field}: {key} grew"
            if field in nothing and not (name == "by_variant" and field == "offer_id"):
                empty = figures(read(seeded, family, name, **{field: nothing[field]}))
                assert not any(empty.values()), f"{family.prefix}/{name}?{field} matching nothing: {empty}"
            checked += 1
    assert checked >= 20 and shown >= len(reads()) - 2  # every report, most of its filters, on figures not zeros


WINDOWS = st.tuples(st.integers(min_value=0, max_value=DAYS + 5), st.integers(min_value=0, max_value=40))
FILTERS = st.sampled_from([{}, {"variant_id": 40001}, {"product_id": 9001}, {"channel": "email"}, {"market_id": 1}])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(window=WINDOWS, granularity=st.sampled_from(["day", "week", "month"]), filters=FILTERS)
def test_a_summary_is_the_sum_of_its_time_series(
    seeded: dict[str, Any], window: tuple[int, int], granularity: str, filters: dict[str, Any]
) -> None:
    """For every family: each summary figure that a time series also reports equals that series' sum over the
    same window and filters (a series cut by the window counts only the window's days)."""
    back, length = window
    first = ids.now().date() - timedelta(days=back)
    span = {"from": first.isoformat(), "to": (first + timedelta(days=length)).isoformat()}
    bis = {k: v for k, v in filters.items() if k != "market_id"}
    summary = read(seeded, _family("reports"), "summary", **span, **bis)["totals"]
    signups = read(seeded, _family("reports"), "signups", **span, granularity=granularity, **bis)["series"]
    orders = read(seeded, _family("reports"), "conversions", **span, granularity=granularity, **bis)["series"]
    for name in ("signups", "pending", "blocked", "notified"):
        assert summary[name] == sum(p[name] for p in signups), name
    assert summary["conversions"] == sum(p["orders"] for p in orders)
    assert Decimal(summary["recovered_revenue"]) == sum(Decimal(p["recovered_revenue"]) for p in orders)

    po = {k: v for k, v in filters.items() if k != "channel"}
    totals = read(seeded, _family("preorder_reports"), "summary", **span, **po)["totals"]
    series = read(seeded, _family("preorder_reports"), "by_date", **span, granularity=granularity, **po)["series"]
    for name in ("orders", "units", "cancelled_orders"):
        assert totals[name] == sum(p[name] for p in series), name
    for name in ("revenue", "deposits_collected", "balances_collected", "refunds_issued"):
        assert Decimal(totals[name]) == sum(Decimal(p[name]) for p in series), name
    revenue = read(seeded, _family("preorder_reports"), "revenue", **span, granularity=granularity, **po)
    assert Decimal(revenue["totals"]["revenue"]) == Decimal(totals["revenue"])
    assert all(p["date"] >= span["from"] for p in [*signups, *series])  # never a bucket before `from`


def _family(resource: str) -> ReportFamily:
    return next(f for f in families() if f.resource == resource)
