"""The nine preorder reports (reference 001), computed from rollup items only (`services.preorder_rollups` keeps
them from the ledger), never from ledger rows: a read costs O(buckets) items per dimension it reads, plus the
offers, variants or customers it lists.

Shared definitions (docs/DATA_MODEL.md, "Preorder rollups"):
- orders, units and revenue count the preorder orders placed in the window, cancelled ones included;
  cancellations and refunds count on the day they happened; balance collections and failures on the day of the
  transaction; balances due on the day they fall due.
- Money is a 2-decimal string in the shop's currency, or with `currency` in that presentment currency: then only
  orders presented in it count, in their presentment amounts (no exchange rate is invented).
- `offer_id` / `offer_ids[]` scope every figure to those offers (summed). An id of another shop, or of no offer,
  scopes to nothing: zeros, exactly as an unknown id.
- `customers` is exact: the distinct customers of the window, from the per-customer rows. They are kept in every
  dimension the counters are (offer, product or variant, market, currency), so every filter narrows it as it
  narrows orders (issue 24: `market_id=99` used to answer orders 0, customers 4).
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from backinstock import buckets, ids, money
from backinstock.errors import Problem, ValidationFailed
from backinstock.models import preorder_reports as m
from backinstock.models.reports import Window
from backinstock.reporting import export_page, labelled, resolve_window
from backinstock.repositories.catalog import CatalogRepository
from backinstock.repositories.offers import OfferRepository
from backinstock.repositories.preorders import PreorderRepository
from backinstock.repositories.rollups import RollupRepository, bucket_day
from backinstock.repositories.shops import ShopRepository
from backinstock.services import preorder_rollups as rollup_rules

TOP_OFFERS = 5
PLACED = ("orders", "units", "revenue")
REASON_COUNTERS = [f"cancelled_reason_{r}" for r in m.CANCEL_REASONS]
BALANCE_COUNTERS = [
    "balances_due",
    "balances_due_outstanding",
    "balances_collected",
    "balances_failed",
    "collected_count",
    "failed_count",
]


@dataclass(frozen=True)
class PreorderReportSources:
    rollups: RollupRepository
    offers: OfferRepository
    catalog: CatalogRepository
    shops: ShopRepository
    ledger: PreorderRepository  # the customers' profiles (email, name, last order)


# ---------------------------------------------------------------------------------------------------- scoping
@dataclass(frozen=True)
class Scope:
    """What one read covers: its window, currency, and the dimensions whose counters it sums."""

    start: date
    end: date
    currency: str  # the reporting currency
    presentment: str | None  # always None: every order counts in every currency (the shop-money dimensions)
    offers: list[str] | None  # the offer scope, or None for every offer
    conversion: m.Conversion | None = None  # how shop amounts become `currency` amounts (None: the shop's own)

    def window(self) -> Window:
        return Window(**{"from": self.start.isoformat(), "to": self.end.isoformat()})

    def money(self, shop_amount: Decimal) -> str:
        """A shop-money amount in the reporting currency, in its minor units (JPY: none)."""
        rate = self.conversion.rate if self.conversion is not None else None
        return money.render(shop_amount * Decimal(rate) if rate else shop_amount, self.currency)

    def basis(self) -> m.Conversion:
        return self.conversion or m.Conversion(basis="shop_money", shop_currency=self.currency, rate=None, source=None)

    def dimensions(
        self,
        product_id: int | None = None,
        variant_id: int | None = None,
        market_id: int | None = None,
        offers: Iterable[str] | None = None,
    ) -> list[str]:
        """One dimension per offer in scope (summed by the caller), or the shop's."""
        wanted = list(offers) if offers is not None else self.offers
        return [
            rollup_rules.dimension_for(offer, product_id, variant_id, market_id, self.presentment)
            for offer in (wanted if wanted is not None else [None])
        ]


def _scope(sources: PreorderReportSources, shop_id: str, query: m.PreorderFilters, now: datetime | None) -> Scope:
    start, end = resolve_window(query, now)  # every report family's window rules
    shop = sources.shops.get(shop_id)
    shop_currency = (shop.currency if shop else None) or "USD"
    wanted = query.currency or shop_currency
    conversion = None if wanted == shop_currency else _conversion(sources, shop_id, shop_currency, wanted, start, end)
    return Scope(start, end, wanted, None, query.offers(), conversion)


RATE_PLACES = Decimal("0.000001")


def _conversion(
    sources: PreorderReportSources, shop_id: str, shop_currency: str, wanted: str, start: date, end: date
) -> m.Conversion:
    """How a report in `wanted` converts the shop's amounts. Shopify gives each order its amounts in the shop's
    money and in the currency the customer paid in (`*_set.shop_money` / `presentment_money`): their ratio is the
    rate Shopify applied. The rate is the revenue-weighted average of those of the orders presented in `wanted`
    placed in the window, or of all such orders when the window has none; a currency no order was ever presented in
    cannot be converted into: a 422 naming those that can."""
    window = rollup_rules.totals(
        sources.rollups,
        shop_id,
        rollup_rules.dimension_for(currency=wanted),
        start,
        end,
        ["revenue", "revenue_shop", "orders"],
    )
    if window["revenue_shop"] > 0:
        rate, count, where = window["revenue"] / window["revenue_shop"], int(window["orders"]), "placed in the window"
    else:
        ever = rollup_rules.exchange_totals(sources.rollups, shop_id)
        shop_side = ever.get(wanted, {}).get("s", Decimal(0))
        if shop_side <= 0:
            known = sorted({shop_currency, *(c for c, v in ever.items() if v.get("s", 0) > 0)})
            raise ValidationFailed(
                problems=[
                    Problem(
                        "currency_not_convertible",
                        f"no order of this shop was presented in {wanted}, so there is no rate to convert its "
                        f"{shop_currency} amounts with (rates come from the amounts Shopify gives each order in the "
                        f"shop's money and in the customer's currency); convertible: {', '.join(known)}",
                        "currency",
                    )
                ]
            )
        rate, count, where = ever[wanted]["p"] / shop_side, int(ever[wanted].get("n", 0)), "ever placed"
    rate = rate.quantize(RATE_PLACES)
    return m.Conversion(
        basis="converted",
        shop_currency=shop_currency,
        rate=str(rate),
        source=f"{wanted} per {shop_currency}: the revenue-weighted average of the rates Shopify applied to the "
        f"{count} order(s) presented in {wanted} {where}; every amount is the shop-money amount times this rate",
    )


def _catalog_dimensions(sources: PreorderReportSources, shop_id: str, scope: Scope, query: Any) -> list[str]:
    """The dimensions of a query's product / variant / market filters. A variant of another product (both given)
    matches nothing, as in the back-in-stock reports."""
    product_id, variant_id = getattr(query, "product_id", None), getattr(query, "variant_id", None)
    if product_id is not None and variant_id is not None:
        known = sources.catalog.variant(shop_id, variant_id)
        if known is not None and int(known["product_id"]) != product_id:
            return []
    return scope.dimensions(product_id, variant_id, getattr(query, "market_id", None))


def _totals(
    sources: PreorderReportSources, shop_id: str, scope: Scope, dims: list[str], names: list[str]
) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for dim in dims:
        for name, value in rollup_rules.totals(sources.rollups, shop_id, dim, scope.start, scope.end, names).items():
            out[name] += value
    return out


def _series(
    sources: PreorderReportSources, shop_id: str, scope: Scope, dims: list[str], granularity: str, names: list[str]
) -> list[tuple[date, dict[str, Decimal]]]:
    """Counters per bucket of `granularity`, every bucket present; a bucket the window cuts counts the window's
    days only (its cover is finer)."""
    points: dict[date, dict[str, Decimal]] = {
        b: defaultdict(Decimal) for b in buckets.buckets(scope.start, scope.end, granularity)
    }
    pieces: list[tuple[str, date]] = []
    for bucket in points:
        last = buckets.next_start(bucket, granularity) - timedelta(days=1)
        pieces.extend(buckets.cover(max(bucket, scope.start), min(last, scope.end), granularity))
    for dim in dims:
        for _g, first, last_key in buckets.runs(pieces):
            for item in sources.rollups.range(shop_id, dim, first, last_key, names):
                point = points[buckets.start_of(bucket_day(item), granularity)]
                for name in names:
                    point[name] += Decimal(item.get(name, 0))
    return labelled(points, scope.start)


def _customers(
    sources: PreorderReportSources,
    shop_id: str,
    scope: Scope,
    start: date | None = None,
    end: date | None = None,
    query: Any = None,
) -> dict[str, dict[str, Decimal]]:
    """customer key -> figures in [start, end] (the window by default), over the offer scope, narrowed by the
    query's product / variant / market filters as every other figure is (a variant of another product: none)."""
    product_id, variant_id = getattr(query, "product_id", None), getattr(query, "variant_id", None)
    market_id = getattr(query, "market_id", None)
    if query is not None and not _catalog_dimensions(sources, shop_id, scope, query):
        return {}
    out: dict[str, dict[str, Decimal]] = {}
    for offer in scope.offers if scope.offers is not None else [None]:
        rows = rollup_rules.customers(
            sources.rollups,
            shop_id,
            start or scope.start,
            end or scope.end,
            offer,
            scope.presentment,
            product_id,
            variant_id,
            market_id,
        )
        for customer, figures in rows.items():
            mine = out.setdefault(customer, dict.fromkeys(rollup_rules.CUSTOMER_FIGURES, Decimal(0)))
            for name, value in figures.items():
                mine[name] += value
    return out


def _offers(sources: PreorderReportSources, shop_id: str, scope: Scope) -> dict[str, dict[str, Any]]:
    """offer id -> offer item, in listing order, for the offers a per-offer breakdown lists: those of the scope
    that exist in this shop (another shop's id is an unknown id: no row), or every offer of the shop. One key read
    of the offers (and, without a scope, one Query of their ids)."""
    wanted = scope.offers if scope.offers is not None else sources.offers.list_ids(shop_id, ids.now())
    known = _names(sources, shop_id, wanted)
    return {o: known[o] for o in wanted if o in known}


def _names(sources: PreorderReportSources, shop_id: str, offer_ids: list[str]) -> dict[str, dict[str, Any]]:
    """offer id -> the offer item, for the ids that are offers of this shop."""
    return sources.offers.offers(shop_id, offer_ids, consistent=False) if offer_ids else {}


def _int(value: Decimal) -> int:
    return int(value)


def _rate(part: Decimal, whole: Decimal) -> float:
    return round(float(part / whole), 4) if whole else 0.0


# ------------------------------------------------------------------------------------------------- the reports
def summary(
    sources: PreorderReportSources, shop_id: str, query: m.SummaryQuery, now: datetime | None = None
) -> m.PreorderSummaryReport:
    scope = _scope(sources, shop_id, query, now)
    names = [*PLACED, "deposits_collected", "balances_collected", "balances_outstanding"]
    names += ["cancelled_orders", "refunds_issued"]
    t = _totals(sources, shop_id, scope, _catalog_dimensions(sources, shop_id, scope, query), names)
    return m.PreorderSummaryReport(
        window=scope.window(),
        currency=scope.currency,
        conversion=scope.basis(),
        totals=m.SummaryTotals(
            orders=_int(t["orders"]),
            units=_int(t["units"]),
            revenue=scope.money(t["revenue"]),
            customers=len(_customers(sources, shop_id, scope, query=query)),
            deposits_collected=scope.money(t["deposits_collected"]),
            balances_collected=scope.money(t["balances_collected"]),
            balances_outstanding=scope.money(t["balances_outstanding"]),
            cancelled_orders=_int(t["cancelled_orders"]),
            refunds_issued=scope.money(t["refunds_issued"]),
        ),
        by_offer_top_5=[
            m.OfferFigures(**{k: v for k, v in row.items() if k != "customers"})
            for row in _offer_rows(sources, shop_id, scope, query, with_customers=False)[:TOP_OFFERS]
        ],
    )


def _offer_rows(
    sources: PreorderReportSources, shop_id: str, scope: Scope, query: Any, with_customers: bool
) -> list[dict[str, Any]]:
    """Per offer (with activity in the window, or in scope): orders, units, revenue (and distinct customers),
    highest revenue first."""
    known = _offers(sources, shop_id, scope)
    product_id, variant_id = getattr(query, "product_id", None), getattr(query, "variant_id", None)
    market_id = getattr(query, "market_id", None)
    rows = []
    for offer in known:
        dims = scope.dimensions(product_id, variant_id, market_id, offers=[offer])
        t = _totals(sources, shop_id, scope, dims, list(PLACED))
        if not t["orders"] and scope.offers is None:
            continue  # every offer of the shop: only those with preorders in the window
        row: dict[str, Any] = {
            "offer_id": offer,
            "offer_name": known[offer].get("name"),
            "orders": _int(t["orders"]),
            "units": _int(t["units"]),
            "revenue": t["revenue"],
        }
        if with_customers:
            one = dataclasses.replace(scope, offers=[offer])
            row["customers"] = len(_customers(sources, shop_id, one, query=query))
        rows.append(row)
    rows.sort(key=lambda row: (-row["revenue"], -row["orders"], row["offer_name"] or "", row["offer_id"]))
    for row in rows:
        row["revenue"] = scope.money(row["revenue"])
    return rows


def revenue(
    sources: PreorderReportSources, shop_id: str, query: m.RevenueQuery, now: datetime | None = None
) -> m.RevenueReport:
    scope = _scope(sources, shop_id, query, now)
    dims = _catalog_dimensions(sources, shop_id, scope, query)
    points = _series(sources, shop_id, scope, dims, query.granularity, ["revenue_deposit", "revenue_balance"])

    def included(c: dict[str, Decimal]) -> Decimal:
        return (c["revenue_deposit"] if query.include_deposits else Decimal(0)) + (
            c["revenue_balance"] if query.include_balances else Decimal(0)
        )

    series = [(d, included(c)) for d, c in points]
    return m.RevenueReport(
        window=scope.window(),
        currency=scope.currency,
        conversion=scope.basis(),
        granularity=query.granularity,
        include_deposits=query.include_deposits,
        include_balances=query.include_balances,
        series=[m.RevenuePoint(date=d.isoformat(), revenue=scope.money(v)) for d, v in series],
        totals=m.RevenueTotals(revenue=scope.money(sum((v for _, v in series), Decimal(0)))),
    )


def by_offer(
    sources: PreorderReportSources, shop_id: str, query: m.ByOfferQuery, now: datetime | None = None
) -> m.ByOfferReport:
    scope = _scope(sources, shop_id, query, now)
    rows = _offer_rows(sources, shop_id, scope, query, with_customers=True)
    return m.ByOfferReport(
        window=scope.window(),
        currency=scope.currency,
        conversion=scope.basis(),
        rows=[m.OfferRow(**row) for row in rows],
    )


def by_variant(
    sources: PreorderReportSources, shop_id: str, query: m.ByVariantQuery, now: datetime | None = None
) -> m.ByVariantReport:
    """One row per variant attached to each offer in scope, activity or not."""
    scope = _scope(sources, shop_id, query, now)
    offers = _names(sources, shop_id, scope.offers or [])
    attached = [
        (offer_id, int(v["variant_id"]), v.get("product_id"))
        for offer_id in scope.offers or []
        for v in (offers.get(offer_id) or {}).get("variants") or []
    ]
    attached = [
        a
        for a in attached
        if (query.variant_id is None or a[1] == query.variant_id)
        and (query.product_id is None or a[2] is None or int(a[2]) == query.product_id)
    ]
    known = sources.catalog.variants(shop_id, [a[1] for a in attached]) if attached else {}
    rows = []
    for offer_id, variant_id, product_id in attached:
        dims = scope.dimensions(variant_id=variant_id, market_id=query.market_id, offers=[offer_id])
        t = _totals(sources, shop_id, scope, dims, list(PLACED))
        found = known.get(variant_id) or {}
        product = product_id or found.get("product_id")
        rows.append(
            m.VariantRow(
                offer_id=offer_id,
                shopify_variant_id=variant_id,
                shopify_product_id=int(product) if product else None,
                variant_title=found.get("title"),
                product_title=found.get("product_title"),
                orders=_int(t["orders"]),
                units=_int(t["units"]),
                revenue=scope.money(t["revenue"]),
            )
        )
    return m.ByVariantReport(window=scope.window(), currency=scope.currency, conversion=scope.basis(), rows=rows)


def by_product(
    sources: PreorderReportSources, shop_id: str, query: m.ByProductQuery, now: datetime | None = None
) -> m.ByProductReport:
    """Per product of the offers in scope (every offer by default), rolled up across its variants: a row per
    product with preorders in the window, highest revenue first."""
    scope = _scope(sources, shop_id, query, now)
    offers = _offers(sources, shop_id, scope)
    variants_of: dict[int, set[int]] = defaultdict(set)
    for offer in offers.values():
        for v in offer.get("variants") or []:
            if v.get("product_id") is not None:
                variants_of[int(v["product_id"])].add(int(v["variant_id"]))
    if query.product_id is not None:
        variants_of = {p: vs for p, vs in variants_of.items() if p == query.product_id}
    if query.variant_id is not None:
        variants_of = {p: {query.variant_id} & vs for p, vs in variants_of.items() if query.variant_id in vs}
    titles = sources.catalog.variants(shop_id, [v for vs in variants_of.values() for v in vs]) if variants_of else {}
    rows = []
    for product_id, variant_ids in variants_of.items():
        dims = (
            scope.dimensions(variant_id=query.variant_id, market_id=query.market_id)
            if query.variant_id is not None
            else scope.dimensions(product_id, market_id=query.market_id)
        )
        t = _totals(sources, shop_id, scope, dims, list(PLACED))
        if not t["orders"]:
            continue
        active = sum(
            1
            for v in sorted(variant_ids)
            if _totals(sources, shop_id, scope, scope.dimensions(variant_id=v, market_id=query.market_id), ["orders"])[
                "orders"
            ]
        )
        title = next((titles[v].get("product_title") for v in variant_ids if v in titles), None)
        rows.append((t["revenue"], product_id, title, active, t))
    rows.sort(key=lambda row: (-row[0], row[1]))
    return m.ByProductReport(
        window=scope.window(),
        currency=scope.currency,
        conversion=scope.basis(),
        rows=[
            m.ProductRow(
                shopify_product_id=product_id,
                product_title=title,
                variants=active,
                orders=_int(t["orders"]),
                units=_int(t["units"]),
                revenue=scope.money(t["revenue"]),
            )
            for _, product_id, title, active, t in rows
        ],
    )


def by_date(
    sources: PreorderReportSources, shop_id: str, query: m.ByDateQuery, now: datetime | None = None
) -> m.ByDateReport:
    scope = _scope(sources, shop_id, query, now)
    metrics = query.metric_names()
    counters = [n for n in metrics if n != "customers"]
    points = _series(
        sources, shop_id, scope, _catalog_dimensions(sources, shop_id, scope, query), query.granularity, counters
    )
    series = []
    for day, c in points:
        values: dict[str, Any] = {}
        for name in counters:
            values[name] = scope.money(c[name]) if name in m.MONEY_METRICS else _int(c[name])
        if "customers" in metrics:
            last = buckets.next_start(buckets.start_of(day, query.granularity), query.granularity) - timedelta(days=1)
            values["customers"] = len(
                _customers(sources, shop_id, scope, max(day, scope.start), min(last, scope.end), query=query)
            )
        series.append(m.DatePoint(date=day.isoformat(), **values))
    return m.ByDateReport(
        window=scope.window(),
        currency=scope.currency,
        conversion=scope.basis(),
        granularity=query.granularity,
        metrics=metrics,
        series=series,
    )


def cancellations(
    sources: PreorderReportSources, shop_id: str, query: m.CancellationsQuery, now: datetime | None = None
) -> m.CancellationsReport:
    scope = _scope(sources, shop_id, query, now)
    names = ["cancelled_orders", "cancelled_units", "cancelled_revenue", "refunds_issued", *REASON_COUNTERS]
    t = _totals(sources, shop_id, scope, scope.dimensions(), names)
    known = _offers(sources, shop_id, scope)
    by_offer_rows = []
    for offer in known:
        o = _totals(sources, shop_id, scope, scope.dimensions(offers=[offer]), ["cancelled_orders", "refunds_issued"])
        if scope.offers is None and not (o["cancelled_orders"] or o["refunds_issued"]):
            continue
        by_offer_rows.append(
            m.OfferCancellations(
                offer_id=offer,
                offer_name=known[offer].get("name"),
                cancelled_orders=_int(o["cancelled_orders"]),
                refunds_issued=scope.money(o["refunds_issued"]),
            )
        )
    return m.CancellationsReport(
        window=scope.window(),
        currency=scope.currency,
        conversion=scope.basis(),
        totals=m.CancellationTotals(
            cancelled_orders=_int(t["cancelled_orders"]),
            cancelled_units=_int(t["cancelled_units"]),
            cancelled_revenue=scope.money(t["cancelled_revenue"]),
            refunds_issued=scope.money(t["refunds_issued"]),
        ),
        by_reason=[
            m.ReasonRow(reason=reason, orders=_int(t[f"cancelled_reason_{reason}"])) for reason in m.CANCEL_REASONS
        ],
        by_offer=by_offer_rows,
    )


def _balances(scope: Scope, t: dict[str, Decimal]) -> dict[str, Any]:
    return {
        "balances_due": scope.money(t["balances_due"]),
        "balances_collected": scope.money(t["balances_collected"]),
        "balances_failed": scope.money(t["balances_failed"]),
        "balances_outstanding": scope.money(t["balances_due_outstanding"]),
        "collected_count": _int(t["collected_count"]),
        "failed_count": _int(t["failed_count"]),
        "collection_rate": _rate(t["balances_collected"], t["balances_due"]),
    }


def balance_collection(
    sources: PreorderReportSources, shop_id: str, query: m.BalanceCollectionQuery, now: datetime | None = None
) -> m.BalanceCollectionReport:
    """Balances falling due in the window (and what of them is still outstanding), against the balance payments
    collected and failed in the window."""
    scope = _scope(sources, shop_id, query, now)
    t = _totals(sources, shop_id, scope, scope.dimensions(), BALANCE_COUNTERS)
    known = _offers(sources, shop_id, scope)
    rows = []
    for offer in known:
        o = _totals(sources, shop_id, scope, scope.dimensions(offers=[offer]), BALANCE_COUNTERS)
        if scope.offers is None and not any(o.values()):
            continue
        rows.append(m.OfferBalances(offer_id=offer, offer_name=known[offer].get("name"), **_balances(scope, o)))
    return m.BalanceCollectionReport(
        window=scope.window(),
        currency=scope.currency,
        conversion=scope.basis(),
        totals=m.BalanceFigures(**_balances(scope, t)),
        by_offer=rows,
    )


def customer_rows(
    sources: PreorderReportSources,
    shop_id: str,
    query: m.CustomersQuery | m.CustomersExport,
    now: datetime | None = None,
) -> tuple[Scope, list[tuple[str, dict[str, Decimal]]]]:
    """Every customer with preorders in the window, highest revenue first (profiles not yet attached)."""
    scope = _scope(sources, shop_id, query, now)
    ranked = sorted(_customers(sources, shop_id, scope).items(), key=lambda kv: (-kv[1]["revenue"], kv[0]))
    return scope, ranked


def attach_profiles(
    sources: PreorderReportSources, shop_id: str, scope: Scope, page: list[tuple[str, dict[str, Decimal]]]
) -> list[m.CustomerRow]:
    profiles = sources.ledger.customers(shop_id, [k for k, _ in page])
    out = []
    for customer_key, figures in page:
        profile = profiles.get(customer_key) or {}
        out.append(
            m.CustomerRow(
                email=profile.get("email"),
                name=profile.get("name"),
                orders=_int(figures["orders"]),
                units=_int(figures["units"]),
                revenue=scope.money(figures["revenue"]),
                balances_outstanding=scope.money(figures["balances_outstanding"]),
                last_order_at=profile.get("last_order_at"),  # None once erased (customers/redact), never ""
            )
        )
    return out


def customers(
    sources: PreorderReportSources, shop_id: str, query: m.CustomersQuery, now: datetime | None = None
) -> m.CustomersReport:
    scope, ranked = customer_rows(sources, shop_id, query, now)
    return _customers_page(sources, shop_id, scope, ranked, query.page, query.per_page)


def customers_export(
    sources: PreorderReportSources, shop_id: str, query: m.CustomersExport, now: datetime | None = None
) -> m.CustomersReport:
    """The export's answer: every customer, unless `page` or `per_page` is given."""
    scope, ranked = customer_rows(sources, shop_id, query, now)
    page, per_page = export_page(query.page, query.per_page, m.DEFAULT_PER_PAGE, len(ranked))
    return _customers_page(sources, shop_id, scope, ranked, page, per_page)


def _customers_page(
    sources: PreorderReportSources,
    shop_id: str,
    scope: Scope,
    ranked: list[tuple[str, dict[str, Decimal]]],
    page: int,
    per_page: int,
) -> m.CustomersReport:
    first = (page - 1) * per_page
    return m.CustomersReport(
        window=scope.window(),
        currency=scope.currency,
        conversion=scope.basis(),
        customers=attach_profiles(sources, shop_id, scope, ranked[first : first + per_page]),
        meta=m.CustomersMeta(
            total_count=len(ranked),
            page=page,
            per_page=per_page,
            total_pages=math.ceil(len(ranked) / per_page),
        ),
    )
