"""Webhook redelivery markers: `SHOP#<id> / WEBHOOK#<event key>`. An event id's marker expires after
`MARKER_RETENTION` (Shopify retries a failed delivery for 48 hours at most); a privacy topic's marker (keyed by the
body's hash, `services.webhooks`) never expires, so the same signed body acts once however late it is replayed."""

from __future__ import annotations

from datetime import datetime, timedelta

from backinstock.keys import TTL_ATTRIBUTE
from backinstock.repositories.base import Repository, key, to_item

MARKER_RETENTION = timedelta(days=7)


class WebhookRepository(Repository):
    def mark_received(self, shop_id: str, event_key: str, topic: str, now: datetime, expires: bool = True) -> bool:
        """Record the event; False when it was recorded before (a redelivery or a replay). `expires=False`: keep the
        marker for as long as the shop exists (`shop/redact` purges it with the partition)."""
        values: dict[str, object] = {"entity": "webhook", "topic": topic, "received_at": now.isoformat()}
        if expires:
            values[TTL_ATTRIBUTE] = int((now + MARKER_RETENTION).timestamp())
        return self.put_if({**key(f"SHOP#{shop_id}", f"WEBHOOK#{event_key}"), **to_item(values)})

    def forget(self, shop_id: str, event_key: str) -> None:
        """Undo `mark_received` when the event could not be queued: Shopify's retry must get through."""
        self.client.delete_item(TableName=self.table_name, Key=key(f"SHOP#{shop_id}", f"WEBHOOK#{event_key}"))
