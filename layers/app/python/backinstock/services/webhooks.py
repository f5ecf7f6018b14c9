"""Shopify webhook intake: verify, deduplicate, queue. Nothing else happens on the request path, so Shopify gets its
answer in milliseconds; the webhook worker (`backinstock.workers.webhooks`) does the work.

- Verification: `X-Shopify-Hmac-Sha256` is base64(HMAC-SHA256(webhook secret, raw body)), compared in constant
  time. A missing header, an unknown shop domain, a shop with no secret and a mismatch all answer the same 401, so
  the endpoint tells a caller nothing about which shops exist.
- Redeliveries: Shopify delivers at least once. The event id (`X-Shopify-Event-Id`, else `X-Shopify-Webhook-Id`)
  is recorded with a conditional put before the event is queued; a second delivery finds it and queues nothing.
  If queueing fails the record is removed again and the answer is a 500, so Shopify's retry is not lost.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backinstock import ids
from backinstock.errors import Unauthorized, ValidationFailed
from backinstock.queue import WebhookQueue
from backinstock.repositories.shop_secrets import REFRESH_AFTER_SECONDS, ShopSecrets
from backinstock.repositories.shops import ShopRepository
from backinstock.repositories.webhooks import WebhookRepository

TOPICS = (
    "inventory_levels/update",
    "products/create",
    "products/update",
    "products/delete",
    "orders/create",
    "orders/cancelled",
    "order_transactions/create",
    "refunds/create",
    "customers/data_request",
    "customers/redact",
    "shop/redact",
)
UNVERIFIED = (
    "Webhook not verified: X-Shopify-Topic, X-Shopify-Shop-Domain and X-Shopify-Hmac-Sha256 must be present, the "
    "domain must belong to a connected shop and the signature must match the raw body"
)


@dataclass(frozen=True)
class Intake:
    shops: ShopRepository
    secrets: ShopSecrets
    markers: WebhookRepository
    queue: WebhookQueue  # the webhook queue


def signature(secret: str, raw_body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()).decode()


def _matches(secret: str, raw_body: bytes, given: str) -> bool:
    return hmac.compare_digest(signature(secret, raw_body).encode(), given.strip().encode())


def verify(intake: Intake, headers: dict[str, str], raw_body: bytes) -> str:
    """The shop id of a correctly signed webhook; `Unauthorized` otherwise."""
    given, domain, topic = (
        headers.get(h) for h in ("x-shopify-hmac-sha256", "x-shopify-shop-domain", "x-shopify-topic")
    )
    if not given or not domain or not topic:
        raise Unauthorized(UNVERIFIED)
    shop_id = intake.shops.shop_id_for_domain(domain)
    if shop_id is None:
        raise Unauthorized(UNVERIFIED)
    credentials = intake.secrets.get(shop_id)
    if credentials is not None and _matches(credentials.webhook_secret, raw_body, given):
        return shop_id
    # A secret rotated since it was cached: check once against a fresh read (not more often than every 30 s, so
    # forged requests cannot turn into a Secrets Manager call each).
    age = intake.secrets.age(shop_id)
    if age is not None and age >= REFRESH_AFTER_SECONDS:
        credentials = intake.secrets.get(shop_id, max_age=0)
        if credentials is not None and _matches(credentials.webhook_secret, raw_body, given):
            return shop_id
    raise Unauthorized(UNVERIFIED)


def receive(
    intake: Intake, headers: dict[str, str], raw_body: str | None, now: datetime | None = None
) -> dict[str, Any]:
    lowered = {k.lower(): v for k, v in (headers or {}).items() if isinstance(v, str)}
    body = (raw_body or "").encode()
    shop_id = verify(intake, lowered, body)
    topic = lowered["x-shopify-topic"].strip()
    event_id = (lowered.get("x-shopify-event-id") or lowered.get("x-shopify-webhook-id") or "").strip()
    if not event_id:
        raise ValidationFailed("X-Shopify-Event-Id (or X-Shopify-Webhook-Id) header is required to drop redeliveries")
    if topic not in TOPICS:
        return {"status": "ignored", "topic": topic, "event_id": event_id}
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise ValidationFailed("the body is not JSON: Shopify webhooks are sent as JSON") from None
    moment = now or ids.now()
    if not intake.markers.mark_received(shop_id, event_id, topic, moment):
        return {"status": "duplicate", "topic": topic, "event_id": event_id}
    message = {
        "kind": "webhook",
        "topic": topic,
        "shop_id": shop_id,
        "event_id": event_id,
        "triggered_at": lowered.get("x-shopify-triggered-at"),
        "received_at": ids.iso(moment),
        "payload": payload,
    }
    try:
        intake.queue.send(message)
    except Exception:
        intake.markers.forget(shop_id, event_id)
        raise
    return {"status": "queued", "topic": topic, "event_id": event_id}
