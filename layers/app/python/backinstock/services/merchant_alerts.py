"""Merchant alerts (reference 003, alerts):

- `signups_threshold`: when a variant's pending signups reach `count` (and `notify` is on), the merchant gets one
  email per crossing, not one per signup. The pending count comes from the report rollups' per-variant counter
  (maintained from the table's stream), which hands over the count before and after each change: a change that
  crosses the threshold upward claims the crossing (`MerchantAlertRepository.claim_crossing`, conditional), one
  that drops below it re-arms the alert.
- `scheduled_reports`: daily / weekly / monthly summary emails, sent by a scheduled function (EventBridge rules in
  AWS; `backinstock reports send-scheduled --period P` locally) to every shop that enabled the period, for the last
  complete period (yesterday; last ISO week, Monday to Sunday; last month), once per shop and period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from backinstock import ids
from backinstock.providers import Email, EmailProvider
from backinstock.repositories.merchant_alerts import MerchantAlertRepository
from backinstock.repositories.shops import Shop, ShopRepository
from backinstock.services.settings import settings_of

if TYPE_CHECKING:
    from backinstock.services.reports import ReportSources

logger = Logger(child=True)

PERIODS = ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class MerchantAlerts:
    records: MerchantAlertRepository
    shops: ShopRepository
    email: EmailProvider
    # (shop, first day, last day) -> the summary's totals (the `summary` report's `totals`)
    summary: Callable[[Shop, date, date], dict[str, Any]] | None = None
    catalog: Any = None  # CatalogRepository: titles for the threshold email


def on_pending_count(
    merchant_alerts: MerchantAlerts, shop: Shop, variant_id: int, before: int, after: int
) -> str | None:
    """React to a variant's pending count changing from `before` to `after`. Returns what happened."""
    rule = settings_of(shop).alerts.signups_threshold
    if after < rule.count:
        if before >= rule.count:
            merchant_alerts.records.release_crossing(shop.shop_id, variant_id)
            return "rearmed"
        return None
    if before >= rule.count or not rule.notify:
        return None
    if not shop.email:
        logger.warning("signups threshold reached but the shop has no merchant email", extra={"variant": variant_id})
        return None
    if not merchant_alerts.records.claim_crossing(shop.shop_id, variant_id, after, ids.iso(ids.now())):
        return None
    variant = merchant_alerts.catalog.variant(shop.shop_id, variant_id) if merchant_alerts.catalog is not None else None
    name = _variant_name(variant, variant_id)
    subject = f"{after} customers are waiting for {name}"
    text = (
        f"{name} has {after} customers on its back-in-stock waitlist (your alert threshold is {rule.count}).\n"
        "Restocking it will alert them. You get this email once each time the waitlist crosses the threshold.\n"
    )
    html = (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f"<p><b>{escape(name)}</b> has <b>{after}</b> customers on its back-in-stock waitlist "
        f"(your alert threshold is {rule.count}).</p><p>Restocking it will alert them.</p></body></html>"
    )
    try:
        merchant_alerts.email.send(Email(to=shop.email, subject=subject, html=html, text=text))
    except Exception:
        merchant_alerts.records.release_crossing(shop.shop_id, variant_id)  # the retry of the change alerts again
        raise
    logger.info("signups threshold alert sent", extra={"variant_id": variant_id, "pending": after})
    return "alerted"


def _variant_name(variant: dict[str, Any] | None, variant_id: int) -> str:
    if not variant:
        return f"variant {variant_id}"
    product, title = variant.get("product_title") or f"product {variant.get('product_id')}", variant.get("title")
    return f"{product} ({title})" if title and title != "Default Title" else str(product)


def summary_totals(reports: Callable[[], ReportSources]) -> Callable[[Shop, date, date], dict[str, Any]]:
    """`MerchantAlerts.summary` from the `summary` report: the totals a scheduled report email shows. `reports`
    builds the report dependencies on first use, so the functions that never email a report (the rollup aggregator)
    never import the report code."""

    def totals(shop: Shop, first: date, last: date) -> dict[str, Any]:
        from backinstock.models.reports import ReportQuery
        from backinstock.services import reports as report_service

        query = ReportQuery.model_validate({"from": first, "to": last})
        return report_service.summary(reports(), shop.shop_id, query).totals.model_dump()

    return totals


def last_period(period: str, today: date) -> tuple[date, date]:
    """The last complete period before `today`: yesterday, last ISO week (Monday-Sunday), last month."""
    if period == "daily":
        day = today - timedelta(days=1)
        return day, day
    if period == "weekly":
        monday = today - timedelta(days=today.weekday() + 7)
        return monday, monday + timedelta(days=6)
    if period == "monthly":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    raise ValueError(f"period must be one of {', '.join(PERIODS)} (got {period!r})")


def send_scheduled_reports(merchant_alerts: MerchantAlerts, period: str, now: datetime | None = None) -> dict[str, int]:
    """Email the period's summary to every shop that enabled it. Safe to run twice: once per shop and period."""
    moment = now or ids.now()
    first, last = last_period(period, moment.date())
    counts = {"shops": 0, "sent": 0, "skipped": 0}
    for shop in merchant_alerts.shops.all_shops():
        counts["shops"] += 1
        if not getattr(settings_of(shop).alerts.scheduled_reports, period) or not shop.email:
            counts["skipped"] += 1
            continue
        if not merchant_alerts.records.claim_report(shop.shop_id, period, first.isoformat(), ids.iso(moment)):
            counts["skipped"] += 1
            continue
        try:
            totals = merchant_alerts.summary(shop, first, last) if merchant_alerts.summary is not None else {}
            merchant_alerts.email.send(report_email(shop, period, first, last, totals))
        except Exception:
            merchant_alerts.records.release_report(shop.shop_id, period, first.isoformat())
            raise
        counts["sent"] += 1
    logger.info("scheduled reports", extra={"period": period, **counts})
    return counts


LABELS = {
    "signups": "New signups",
    "pending": "Waiting now",
    "notified": "Customers alerted",
    "conversions": "Orders from alerts",
    "conversion_rate": "Conversion rate",
    "recovered_revenue": "Recovered revenue",
}


def report_email(shop: Shop, period: str, first: date, last: date, totals: dict[str, Any]) -> Email:
    span = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
    rows = []
    for name, label in LABELS.items():
        if name not in totals:
            continue
        value = totals[name]
        if name == "conversion_rate":
            value = f"{float(value) * 100:.1f}%"
        elif name == "recovered_revenue":
            value = f"{value} {shop.currency}"
        rows.append((label, str(value)))
    text = f"Back-in-stock {period} report for {shop.domain}, {span}\n\n" + "".join(f"{k}: {v}\n" for k, v in rows)
    html = (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f"<h2>Back-in-stock {escape(period)} report</h2><p>{escape(shop.domain)}, {escape(span)}</p><table>"
        + "".join(f"<tr><td>{escape(k)}</td><td><b>{escape(v)}</b></td></tr>" for k, v in rows)
        + "</table></body></html>"
    )
    return Email(to=shop.email or "", subject=f"Your back-in-stock {period} report ({span})", html=html, text=text)
