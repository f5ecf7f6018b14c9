"""Webhook redelivery markers: `SHOP#<id> / WEBHOOK#<event id>`, expiring after `MARKER_RETENTION` (Shopify retries
a failed delivery for 48 hours at most)."""

from __future__ import annotations

from datetime import datetime, timedelta

from backinstock.keys import TTL_ATTRIBUTE
from backinstock.repositories.base import Repository, key, to_item

MARKER_RETENTION = timedelta(days=7)


class WebhookRepository(Repository):
    def mark_received(self, shop_id: str, event_id: str, topic: str, now: datetime) -> bool:
        """Record the event; False when it was recorded before (a redelivery)."""
        values = {
            "entity": "webhook",
            "topic": topic,
            "received_at": now.isoformat(),
            TTL_ATTRIBUTE: int((now + MARKER_RETENTION).timestamp()),
        }
        return self.put_if({**key(f"SHOP#{shop_id}", f"WEBHOOK#{event_id}"), **to_item(values)})

    def forget(self, shop_id: str, event_id: str) -> None:
        """Undo `mark_received` when the event could not be queued: Shopify's retry must get through."""
        self.client.delete_item(TableName=self.table_name, Key=key(f"SHOP#{shop_id}", f"WEBHOOK#{event_id}"))
