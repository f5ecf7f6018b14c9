"""The back-in-stock reports (reference 000), computed from rollup items only (never a signup or notification row):
the window's cover of whole buckets (`backinstock.buckets`) read in a few Query ranges, summed.

Each report has a read (`summary`, ...), named by its declaration in `actions/reports.py`: it serves `GET
/back_in_stock/reports/<name>`, and its answer is its export's CSV file (the response model declares the table,
`models.reporting.Table`; `services.exports` writes it). A new report over existing counters is a declaration, a read
here, and its models; a new column is a field of its model.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from backinstock import buckets
from backinstock.models import reports as m
from backinstock.money import render
from backinstock.reporting import export_page, labelled, resolve_window
from backinstock.repositories.catalog import CatalogRepository
from backinstock.repositories.rollups import RollupRepository, bucket_day
from backinstock.repositories.shops import ShopRepository
from backinstock.services.rollups import TOTAL, demand_dimension_for, dimension_for


@dataclass(frozen=True)
class ReportSources:
    rollups: RollupRepository
    catalog: CatalogRepository
    shops: ShopRepository


def _window(start: date, end: date) -> m.Window:
    return m.Window(**{"from": start.isoformat(), "to": end.isoformat()})


def _variant_mismatch(sources: ReportSources, shop_id: str, query: m.ReportFilters) -> bool:
    """variant_id and product_id together: a variant of another product matches nothing (as in the lists)."""
    if query.variant_id is None or query.product_id is None:
        return False
    known = sources.catalog.variant(shop_id, query.variant_id)
    return known is not None and int(known["product_id"]) != query.product_id


# -------------------------------------------------------------------------------------------------- rollup reads
def _read(
    sources: ReportSources,
    shop_id: str,
    dimension: str,
    pieces: list[tuple[str, date]],
    attributes: list[str] | None = None,
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for _granularity, first, last in buckets.runs(pieces):
        items.extend(sources.rollups.range(shop_id, dimension, first, last, attributes))
    return items


def totals(
    sources: ReportSources, shop_id: str, query: m.ReportFilters, start: date, end: date, names: list[str]
) -> dict[str, Any]:
    """Sum of the counters `names` over the window (whole months, weeks, days: the fewest items)."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    if _variant_mismatch(sources, shop_id, query):
        return out
    dimension = dimension_for(query.variant_id, query.product_id, query.channel)
    for item in _read(sources, shop_id, dimension, buckets.cover(start, end, buckets.MONTH), names):
        for name in names:
            out[name] += Decimal(item.get(name, 0))
    return out


def series(
    sources: ReportSources, shop_id: str, query: m.SeriesQuery, start: date, end: date, names: list[str]
) -> list[tuple[date, dict[str, Decimal]]]:
    """Counters per bucket of `query.granularity`, every bucket present (zeros when empty). Edge buckets that the
    window cuts count only the window's days (their cover is finer)."""
    granularity = query.granularity
    points: dict[date, dict[str, Decimal]] = {b: defaultdict(Decimal) for b in buckets.buckets(start, end, granularity)}
    if _variant_mismatch(sources, shop_id, query):
        return labelled(points, start)
    pieces: list[tuple[str, date]] = []
    for bucket in points:
        last = buckets.next_start(bucket, granularity) - timedelta(days=1)
        pieces.extend(buckets.cover(max(bucket, start), min(last, end), granularity))
    dimension = dimension_for(query.variant_id, query.product_id, query.channel)
    for item in _read(sources, shop_id, dimension, pieces, names):
        point = points[buckets.start_of(bucket_day(item), granularity)]
        for name in names:
            point[name] += Decimal(item.get(name, 0))
    return labelled(points, start)


def _currency(sources: ReportSources, shop_id: str) -> str:
    shop = sources.shops.get(shop_id)
    return shop.currency if shop else "USD"


# --------------------------------------------------------------------------------------------------- the reports
def summary(sources: ReportSources, shop_id: str, query: m.ReportQuery, now: datetime | None = None) -> m.SummaryReport:
    start, end = resolve_window(query, now)
    names = ["signups", "pending", "signups_blocked", "notified", "converted", "orders", "revenue"]
    t = totals(sources, shop_id, query, start, end, names)
    notified, converted = int(t["notified"]), int(t["converted"])
    currency = _currency(sources, shop_id)
    return m.SummaryReport(
        window=_window(start, end),
        currency=currency,
        totals=m.Totals(
            signups=int(t["signups"]),
            pending=int(t["pending"]),
            blocked=int(t["signups_blocked"]),
            notified=notified,
            conversions=int(t["orders"]),
            conversion_rate=round(converted / notified, 4) if notified else 0.0,
            recovered_revenue=render(t["revenue"], currency),
        ),
    )


def signups(sources: ReportSources, shop_id: str, query: m.SeriesQuery, now: datetime | None = None) -> m.SignupsReport:
    start, end = resolve_window(query, now)
    points = series(sources, shop_id, query, start, end, ["signups", "pending", "signups_blocked", "notified"])
    return m.SignupsReport(
        window=_window(start, end),
        granularity=query.granularity,
        series=[
            m.SignupsPoint(
                date=d.isoformat(),
                signups=int(c["signups"]),
                pending=int(c["pending"]),
                blocked=int(c["signups_blocked"]),
                notified=int(c["notified"]),
            )
            for d, c in points
        ],
    )


def notifications(
    sources: ReportSources, shop_id: str, query: m.SeriesQuery, now: datetime | None = None
) -> m.NotificationsReport:
    start, end = resolve_window(query, now)
    names = ["sent", "blocked", *(f"{kind}_{c}" for kind in ("sent", "blocked") for c in m.CHANNELS)]
    points = series(sources, shop_id, query, start, end, names)
    return m.NotificationsReport(
        window=_window(start, end),
        granularity=query.granularity,
        series=[
            m.NotificationsPoint(
                date=d.isoformat(),
                sent=int(c["sent"]),
                blocked=int(c["blocked"]),
                email=int(c["sent_email"]),
                sms=int(c["sent_sms"]),
                push=int(c["sent_push"]),
                blocked_email=int(c["blocked_email"]),
                blocked_sms=int(c["blocked_sms"]),
                blocked_push=int(c["blocked_push"]),
            )
            for d, c in points
        ],
    )


def conversions(
    sources: ReportSources, shop_id: str, query: m.SeriesQuery, now: datetime | None = None
) -> m.ConversionsReport:
    start, end = resolve_window(query, now)
    points = series(sources, shop_id, query, start, end, ["orders", "revenue"])
    currency = _currency(sources, shop_id)
    return m.ConversionsReport(
        window=_window(start, end),
        granularity=query.granularity,
        currency=currency,
        series=[
            m.ConversionsPoint(
                date=d.isoformat(), orders=int(c["orders"]), recovered_revenue=render(c["revenue"], currency)
            )
            for d, c in points
        ],
    )


def demand_rows(
    sources: ReportSources, shop_id: str, query: m.DemandQuery | m.DemandExport, start: date, end: date
) -> list[dict[str, Any]]:
    """Every variant with a waitlist now or signups in the window, ranked (titles not yet attached).

    `pending` is the variant's waitlist now (its signups whose status is pending, whenever they were created: the
    all-time item of the demand dimension), so a waitlist older than the window still ranks; `total` and
    `last_requested_at` count the signups created in the window (the day items), the latter falling back to the
    latest request ever for a variant with no signup in the window."""
    if _variant_mismatch(sources, shop_id, query):
        return []
    dimension = demand_dimension_for(query.product_id, query.channel)
    wanted = None
    if query.variant_id is not None:
        v = query.variant_id
        wanted = [f"t_{v}", f"p_{v}", f"l_{v}", f"r_{v}"]
    rows: dict[int, dict[str, Any]] = {}

    def row_of(variant: str) -> dict[str, Any]:
        return rows.setdefault(int(variant), {"total": 0, "pending": 0, "last": 0, "ever": 0, "product": None})

    pieces = [(buckets.DAY, d) for d in buckets.buckets(start, end, buckets.DAY)]
    for item in _read(sources, shop_id, dimension, pieces, wanted):
        for name, value in item.items():
            kind, _, variant = name.partition("_")
            if kind not in ("t", "l", "r") or not variant.isdigit():
                continue  # `p_` of a day counts signups of that day: the waitlist now is the all-time item's
            row = row_of(variant)
            if kind == "t":
                row["total"] += int(value)
            elif kind == "l":
                row["last"] = max(row["last"], int(value))
            else:
                row["product"] = int(value)
    ever: dict[str, Any] = {}
    for item in sources.rollups.range(shop_id, dimension, TOTAL, TOTAL, wanted):  # one item: the all-time counters
        ever.update(item)
    for name, value in ever.items():
        kind, _, variant = name.partition("_")
        if kind == "p" and variant.isdigit() and int(value) > 0:
            row_of(variant)["pending"] = int(value)
    for number, row in rows.items():
        row["ever"] = int(ever.get(f"l_{number}", 0))
        if row["product"] is None and ever.get(f"r_{number}") is not None:
            row["product"] = int(ever[f"r_{number}"])
    out = [
        {"variant_id": v, **row, "last": row["last"] or row["ever"]}
        for v, row in rows.items()
        if row["total"] > 0 or row["pending"] > 0
    ]
    field = {"pending": "pending", "total": "total", "last_requested_at": "last"}[query.sort_by]
    out.sort(key=lambda row: row["variant_id"])
    out.sort(key=lambda row: row[field], reverse=query.direction == "desc")
    return out


def attach_titles(sources: ReportSources, shop_id: str, rows: list[dict[str, Any]]) -> list[m.DemandRow]:
    known = sources.catalog.variants(shop_id, [row["variant_id"] for row in rows]) if rows else {}
    out = []
    for row in rows:
        variant = known.get(row["variant_id"], {})
        product = variant.get("product_id", row["product"])
        out.append(
            m.DemandRow(
                shopify_variant_id=row["variant_id"],
                shopify_product_id=int(product) if product is not None else None,
                variant_title=variant.get("title"),
                product_title=variant.get("product_title"),
                pending=row["pending"],
                total=row["total"],
                last_requested_at=(
                    datetime.fromtimestamp(row["last"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if row["last"] else None
                ),
            )
        )
    return out


def products_in_demand(
    sources: ReportSources, shop_id: str, query: m.DemandQuery, now: datetime | None = None
) -> m.DemandReport:
    return _demand_page(sources, shop_id, query, now, lambda total: (query.page, query.per_page))


def products_in_demand_export(
    sources: ReportSources, shop_id: str, query: m.DemandExport, now: datetime | None = None
) -> m.DemandReport:
    """The export's answer: every row, unless `page` or `per_page` is given."""
    return _demand_page(
        sources, shop_id, query, now, lambda total: export_page(query.page, query.per_page, m.DEFAULT_PER_PAGE, total)
    )


def _demand_page(
    sources: ReportSources,
    shop_id: str,
    query: m.DemandQuery | m.DemandExport,
    now: datetime | None,
    paging: Callable[[int], tuple[int, int]],
) -> m.DemandReport:
    start, end = resolve_window(query, now)
    ranked = demand_rows(sources, shop_id, query, start, end)
    page, per_page = paging(len(ranked))
    first = (page - 1) * per_page
    return m.DemandReport(
        window=_window(start, end),
        sort_by=query.sort_by,
        direction=query.direction,
        rows=attach_titles(sources, shop_id, ranked[first : first + per_page]),
        meta=m.DemandMeta(
            total_count=len(ranked),
            page=page,
            per_page=per_page,
            total_pages=math.ceil(len(ranked) / per_page),
        ),
    )
