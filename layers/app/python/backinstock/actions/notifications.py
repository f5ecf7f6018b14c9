"""Notifications, the read-only send log (reference 004): one entry per delivery attempt."""

from __future__ import annotations

from backinstock.models import signups as m
from backinstock.registry import Access, Action, Sample

RESOURCE = "notifications"
_PREFIX = "/back_in_stock/notifications"
_READ = frozenset({Access.TABLE_READ})

LIST = Action(
    name="list_notifications",
    method="GET",
    path=_PREFIX,
    resource=RESOURCE,
    description="List the send log: every delivery attempt, sent or blocked (with the reason)",
    handler="notifications.list_notifications",
    access=_READ,
    aliases=("back in stock send log", "who got notified", "notification history"),
    query_model=m.NotificationListQuery,
    response_model=m.NotificationList,
    sample=Sample(f"{_PREFIX}?status=sent&product_id=10"),
    notes=(
        "status=blocked surfaces sends that were stopped, with blocked_reason.",
        "Newest first; pass meta.as_of back as `as_of` for stable pages. per_page defaults to 50, at most 200.",
    ),
)

GET = Action(
    name="get_notification",
    method="GET",
    path=f"{_PREFIX}/:id",
    resource=RESOURCE,
    description="Read one delivery attempt; signup_id links back to the signup",
    handler="notifications.get_notification",
    access=_READ,
    aliases=("show notification", "read a send"),
    response_model=m.Notification,
    sample=Sample(f"{_PREFIX}/{{notification_id}}"),
)

ACTIONS = (LIST, GET)
