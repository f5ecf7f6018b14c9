"""Merchant alerts: the signups threshold emails once per crossing; scheduled reports once per shop and period."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from backinstock import deps
from backinstock.services import merchant_alerts
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import call


@pytest.fixture
def merchant(shop: Shop, catalog: dict[str, int]) -> Any:
    shops_repo = deps.shops()
    shops_repo.set_shopify_connection(shop.id, "2026-11-27T00:00:00Z", "owner@example.com", None)
    return shops_repo.require(shop.id)


def threshold_emails(outbox: Any) -> list[Any]:
    return [m for m in outbox.emails() if "customers are waiting" in m.subject]


def test_one_email_per_crossing(merchant: Any, outbox: Any) -> None:
    a = deps.merchant_alerts()
    counts = [(8, 9), (9, 10), (10, 11), (11, 12), (12, 9), (9, 10), (10, 10)]
    outcomes = [merchant_alerts.on_pending_count(a, merchant, 101, before, after) for before, after in counts]
    assert outcomes == [None, "alerted", None, None, "rearmed", "alerted", None]
    sent = threshold_emails(outbox)
    assert len(sent) == 2
    assert sent[0].destinations["ToAddresses"] == ["owner@example.com"]
    assert "Classic Tee (Small / Blue)" in sent[0].subject and "10 customers" in sent[0].subject


def test_a_replayed_crossing_alerts_once_and_notify_false_never(shop: Shop, merchant: Any, outbox: Any) -> None:
    a = deps.merchant_alerts()
    assert merchant_alerts.on_pending_count(a, merchant, 101, 9, 10) == "alerted"
    assert merchant_alerts.on_pending_count(a, merchant, 101, 9, 10) is None  # the same change delivered twice
    status, _ = call("PATCH", "/back_in_stock/settings/alerts", shop.key, {"signups_threshold": {"notify": False}})
    assert status == 200
    quiet = deps.shops().require(merchant.shop_id)
    assert merchant_alerts.on_pending_count(a, quiet, 102, 9, 10) is None
    assert len(threshold_emails(outbox)) == 1


@pytest.mark.parametrize(
    ("period", "today", "expected"),
    [
        ("daily", date(2026, 11, 27), (date(2026, 11, 26), date(2026, 11, 26))),
        ("weekly", date(2026, 11, 27), (date(2026, 11, 16), date(2026, 11, 22))),  # Friday -> last Mon..Sun
        ("weekly", date(2026, 11, 23), (date(2026, 11, 16), date(2026, 11, 22))),  # a Monday
        ("monthly", date(2026, 3, 1), (date(2026, 2, 1), date(2026, 2, 28))),
    ],
)
def test_last_complete_period(period: str, today: date, expected: tuple[date, date]) -> None:
    assert merchant_alerts.last_period(period, today) == expected


def test_scheduled_reports_go_once_to_shops_that_enabled_the_period(
    shop: Shop, merchant: Any, other_shop: Shop, outbox: Any
) -> None:
    call("PATCH", "/back_in_stock/settings/alerts", shop.key, {"scheduled_reports": {"weekly": True}})
    seen: list[tuple[str, date, date]] = []

    def summary(shop: Any, first: date, last: date) -> dict[str, Any]:
        seen.append((shop.shop_id, first, last))
        return {"signups": 12, "notified": 5, "conversions": 2, "conversion_rate": 0.4, "recovered_revenue": "80.00"}

    a = merchant_alerts.MerchantAlerts(
        records=deps.merchant_alerts().records, shops=deps.shops(), email=deps.merchant_alerts().email, summary=summary
    )
    now = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    assert merchant_alerts.send_scheduled_reports(a, "daily", now)["sent"] == 0
    assert merchant_alerts.send_scheduled_reports(a, "weekly", now) == {"shops": 2, "sent": 1, "skipped": 1}
    assert merchant_alerts.send_scheduled_reports(a, "weekly", now)["sent"] == 0  # a second run of the schedule
    [email] = [m for m in outbox.emails() if "weekly report" in m.subject]
    assert email.destinations["ToAddresses"] == ["owner@example.com"]
    assert "80.00 USD" in email.body and "40.0%" in email.body
    assert seen == [(merchant.shop_id, date(2026, 11, 16), date(2026, 11, 22))]
