"""The send log (reference 004): read-only list and read by id. Rows are written by the send worker only."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from backinstock import ids
from backinstock.errors import NotFound
from backinstock.models import signups as m
from backinstock.repositories.notifications import NotificationRepository
from backinstock.repositories.rollups import RollupRepository
from backinstock.repositories.signups import ListFilter
from backinstock.services.signups import counter_total, page


def view(item: dict[str, Any]) -> m.Notification:
    return m.Notification(
        id=item["notification_id"],
        status=item["status"],
        blocked_reason=item.get("blocked_reason"),
        channel=item["channel"],
        contact=item["contact"],
        shopify_variant_id=item["variant_id"],
        shopify_product_id=item["product_id"],
        signup_id=item["signup_id"],
        sent_at=item["sent_at"],
    )


def list_notifications(
    repo: NotificationRepository,
    shop_id: str,
    query: m.NotificationListQuery,
    now: datetime | None = None,
    rollups: RollupRepository | None = None,
) -> m.NotificationList:
    """The send log, newest first; its count from the rollup counters where the filters have one (None: counted
    from the matching ids)."""
    where = ListFilter()
    if query.status:
        where.equals("status", query.status)

    def fetch(page_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i["notification_id"]: i for i in repo.notifications(shop_id, page_ids)}

    list_ids = partial(repo.list_ids, shop_id)
    counted = None
    if rollups is not None:
        counted = counter_total(rollups, shop_id, query, "notifications", query.status, list_ids, where)
    items, meta = page(query, where, list_ids, fetch, now, counted, partial(repo.first_ids, shop_id))
    return m.NotificationList(notifications=[view(i) for i in items], meta=meta)


def get_notification(repo: NotificationRepository, shop_id: str, notification_id: str) -> m.Notification:
    item = repo.notification(shop_id, notification_id) if ids.is_uuid(notification_id) else None
    if item is None:
        raise NotFound(f"Notification not found: no notification {notification_id} in this shop")
    return view(item)
