"""The nine preorder report reads on the rollups that real webhooks feed: one offer with two variants of two
products, a second offer, orders in two currencies, a balance collected and one failed, a cancellation with its
reason, a refund. Every figure is asserted against what the events say."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from backinstock import deps
from backinstock.api.validation import parse_query
from backinstock.errors import ValidationFailed
from backinstock.models import preorder_reports as m
from backinstock.services import preorder_reports as reports
from backinstock_tools.testkit import Shop

pytestmark = pytest.mark.integration
NOW = datetime.fromisoformat("2026-09-01T00:00:00+00:00")
WINDOW = {"from": "2026-06-01", "to": "2026-08-31"}


def q(model: type[Any], **params: Any) -> Any:
    return parse_query(
        model,
        {**WINDOW, **{k: str(v) for k, v in params.items() if not isinstance(v, list)}},
        {k: [str(x) for x in v] for k, v in params.items() if isinstance(v, list)},
    )


def test_summary_and_the_top_offers(history: dict[str, Any]) -> None:
    r, shop_id = deps.preorder_reports(), history["shop_id"]
    s = reports.summary(r, shop_id, q(m.SummaryQuery), NOW)
    assert s.window.from_ == "2026-06-01" and s.currency == "USD"
    t = s.totals
    assert (t.orders, t.units, t.revenue, t.customers) == (2, 3, "120.00", 2)
    assert (t.cancelled_orders, t.refunds_issued) == (1, "20.00")
    assert t.balances_collected == "11.00" and t.balances_outstanding == "33.00"  # 9002's balance died with it
    assert [(o.offer_name, o.orders, o.revenue) for o in s.by_offer_top_5] == [
        ("Spring drop", 1, "80.00"),
        ("Autumn drop", 1, "40.00"),
    ]
    only_b = reports.summary(r, shop_id, q(m.SummaryQuery, offer_id=history["b"]), NOW).totals
    assert (only_b.orders, only_b.revenue, only_b.customers) == (1, "40.00", 1)
    both = reports.summary(r, shop_id, q(m.SummaryQuery, **{"offer_ids[]": [history["a"], history["b"]]}), NOW)
    assert both.totals.revenue == "120.00"


def test_currency_is_the_reporting_currency_every_order_converted(history: dict[str, Any]) -> None:
    """Issue 24 (reference 001: `currency` is the "Reporting currency"): every order counts in every currency, its
    shop-money amounts converted at the rate Shopify applied to the orders presented in that currency."""
    r, shop_id = deps.preorder_reports(), history["shop_id"]
    usd = reports.summary(r, shop_id, q(m.SummaryQuery), NOW)
    assert usd.conversion.model_dump() == {"basis": "shop_money", "shop_currency": "USD", "rate": None, "source": None}
    eur = reports.summary(r, shop_id, q(m.SummaryQuery, currency="eur"), NOW)
    assert eur.currency == "EUR" and eur.totals.orders == usd.totals.orders == 2  # 9002 (USD) counts too
    # 9001's preorder line: 80.00 USD presented as 72.72 EUR, the only order presented in EUR: 0.909 EUR per USD
    assert eur.conversion.basis == "converted" and eur.conversion.rate == "0.909000"
    assert "1 order(s) presented in EUR placed in the window" in (eur.conversion.source or "")
    assert eur.totals.revenue == "109.08"  # 120.00 USD x 0.909
    # a window without EUR orders converts at the all-time rate; a currency never presented is a 422 naming the others
    later = reports.summary(r, shop_id, q(m.SummaryQuery, currency="EUR", **{"from": "2026-08-01"}), NOW)
    assert later.conversion.rate == "0.909000" and "ever placed" in (later.conversion.source or "")
    with pytest.raises(ValidationFailed, match="convertible: EUR, USD") as refused:
        reports.summary(r, shop_id, q(m.SummaryQuery, currency="JPY"), NOW)
    assert refused.value.problems[0].field == "currency"


def test_catalog_filters_narrow_customers_as_every_other_figure(history: dict[str, Any]) -> None:
    """Issue 24: `market_id=99` answered orders 0, customers 4. Customers follow product, variant and market."""
    r, shop_id = deps.preorder_reports(), history["shop_id"]
    for filters, orders, customers in (
        ({"variant_id": 102}, 1, 1),
        ({"product_id": 10}, 2, 2),
        ({"market_id": 99}, 0, 0),
        ({"product_id": 20}, 0, 0),
        ({"variant_id": 102, "product_id": 20}, 0, 0),  # a variant of another product: nothing
    ):
        t = reports.summary(r, shop_id, q(m.SummaryQuery, **filters), NOW).totals
        assert (t.orders, t.customers) == (orders, customers), filters
        by_date = reports.by_date(r, shop_id, q(m.ByDateQuery, granularity="month", **filters), NOW)
        assert sum(p.model_dump()["customers"] for p in by_date.series) == customers, filters


def test_revenue_series_by_portion(history: dict[str, Any]) -> None:
    r, shop_id = deps.preorder_reports(), history["shop_id"]
    both = reports.revenue(r, shop_id, q(m.RevenueQuery, granularity="month"), NOW)
    assert [(p.date, p.revenue) for p in both.series] == [
        ("2026-06-01", "120.00"),
        ("2026-07-01", "0.00"),
        ("2026-08-01", "0.00"),
    ]
    deposits = reports.revenue(r, shop_id, q(m.RevenueQuery, granularity="month", include_balances="false"), NOW)
    balances = reports.revenue(r, shop_id, q(m.RevenueQuery, granularity="month", include_deposits="false"), NOW)
    assert not deposits.include_balances and deposits.include_deposits
    assert money(deposits.totals.revenue) + money(balances.totals.revenue) == money(both.totals.revenue)
    with pytest.raises(ValidationFailed, match="cannot both be false"):
        q(m.RevenueQuery, include_deposits="false", include_balances="false")


def money(text: str) -> Any:
    from decimal import Decimal

    return Decimal(text)


def test_by_offer_by_variant_and_by_product(history: dict[str, Any]) -> None:
    r, shop_id = deps.preorder_reports(), history["shop_id"]
    rows = reports.by_offer(r, shop_id, q(m.ByOfferQuery), NOW).rows
    assert [(row.offer_id, row.orders, row.units, row.revenue, row.customers) for row in rows] == [
        (history["a"], 1, 2, "80.00", 1),
        (history["b"], 1, 1, "40.00", 1),
    ]
    variants = reports.by_variant(r, shop_id, q(m.ByVariantQuery, offer_id=history["a"]), NOW).rows
    assert [(v.shopify_variant_id, v.orders, v.units, v.revenue) for v in variants] == [
        (101, 1, 2, "80.00"),
        (201, 0, 0, "0.00"),  # attached, no activity: still a row
    ]
    with pytest.raises(ValidationFailed, match="requires offer_id"):
        q(m.ByVariantQuery)
    products = reports.by_product(r, shop_id, q(m.ByProductQuery), NOW).rows
    assert [(p.shopify_product_id, p.variants, p.orders, p.units, p.revenue) for p in products] == [
        (10, 2, 2, 3, "120.00")
    ]


def test_by_date_metrics(history: dict[str, Any]) -> None:
    r, shop_id = deps.preorder_reports(), history["shop_id"]
    report = reports.by_date(r, shop_id, q(m.ByDateQuery, granularity="month", metrics="orders,customers"), NOW)
    assert report.metrics == ["orders", "customers"]
    dumped = [p.model_dump() for p in report.series]
    assert dumped[0] == {"date": "2026-06-01", "orders": 2, "customers": 2}
    full = reports.by_date(r, shop_id, q(m.ByDateQuery, granularity="month"), NOW)
    june = full.series[0].model_dump()
    assert set(june) == {"date", *m.BY_DATE_METRICS}
    assert (june["cancelled_orders"], june["refunds_issued"], june["balances_collected"]) == (1, "20.00", "0.00")
    with pytest.raises(ValidationFailed, match="unknown metric"):
        q(m.ByDateQuery, metrics="orders,profit")


def test_cancellations_and_balance_collection(history: dict[str, Any]) -> None:
    r, shop_id = deps.preorder_reports(), history["shop_id"]
    c = reports.cancellations(r, shop_id, q(m.CancellationsQuery), NOW)
    assert (c.totals.cancelled_orders, c.totals.cancelled_units, c.totals.cancelled_revenue) == (1, 1, "40.00")
    assert {row.reason: row.orders for row in c.by_reason} == {
        "customer": 0,
        "declined": 0,
        "fraud": 0,
        "inventory": 1,
        "other": 0,
        "staff": 0,
        "unknown": 0,
    }
    assert [(o.offer_id, o.cancelled_orders, o.refunds_issued) for o in c.by_offer] == [(history["b"], 1, "20.00")]
    b = reports.balance_collection(r, shop_id, q(m.BalanceCollectionQuery), NOW)
    assert (b.totals.balances_collected, b.totals.collected_count) == ("11.00", 1)
    assert (b.totals.balances_failed, b.totals.failed_count) == ("44.00", 1)
    assert b.totals.balances_due == "44.00" and b.totals.collection_rate == 0.25
    assert [o.offer_id for o in b.by_offer] == [history["a"]]


def test_customers_page_with_profiles(history: dict[str, Any]) -> None:
    r, shop_id = deps.preorder_reports(), history["shop_id"]
    page = reports.customers(r, shop_id, q(m.CustomersQuery, per_page=1), NOW)
    assert page.meta.model_dump() == {"total_count": 2, "page": 1, "per_page": 1, "total_pages": 2}
    (jo,) = page.customers
    assert (jo.email, jo.orders, jo.units, jo.revenue, jo.balances_outstanding) == (
        "jo@example.com",
        1,
        2,
        "80.00",
        "33.00",
    )
    second = reports.customers(r, shop_id, q(m.CustomersQuery, per_page=1, page=2), NOW).customers
    assert [c.email for c in second] == ["al@example.com"]


def test_another_shops_offer_ids_scope_to_nothing(history: dict[str, Any], other_shop: Shop) -> None:
    r = deps.preorder_reports()
    other = reports.summary(r, other_shop.id, q(m.SummaryQuery, offer_id=history["a"]), NOW)
    assert (other.totals.orders, other.totals.revenue, other.by_offer_top_5) == (0, "0.00", [])
