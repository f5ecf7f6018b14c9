"""Shopify webhook intake: verify, deduplicate, queue. Nothing else happens on the request path, so Shopify gets its
answer in milliseconds; the webhook worker (`backinstock.workers.webhooks`) does the work.

- Verification: `X-Shopify-Hmac-Sha256` is base64(HMAC-SHA256(webhook secret, raw body)), compared in constant
  time. A missing header, an unknown shop domain, a shop with no secret and a mismatch all answer the same 401, so
  the endpoint tells a caller nothing about which shops exist.
- The topic: Shopify signs the body, not the `X-Shopify-Topic` header, so each topic accepts only its own payload's
  shape (`models.webhooks.TOPIC_PAYLOADS`: the fields that identify it, with their types; unknown fields allowed),
  and a payload that names its shop (`shop_domain`, `shop_id`) must name the shop of the header and of the secret
  that verified it (`shop_id`, Shopify's numeric id, is pinned on the shop the first time a payload names it). A
  signed body replayed under another topic is a 422 and queues nothing.
- Redeliveries: Shopify delivers at least once. The event id (`X-Shopify-Event-Id`, else `X-Shopify-Webhook-Id`;
  hashed when longer than `MAX_EVENT_ID` so any size fits a key) is recorded with a conditional put before the event
  is queued; a second delivery finds it and queues nothing. The privacy topics act once per body: their marker is
  the SHA-256 of the body, kept for as long as the shop exists, so the same signed body under a new event id does
  nothing. If queueing fails the marker is removed again and the answer is a 500, so Shopify's retry is not lost.
- Size: a body over `max_bytes` (the API's 256 KB) is a 413, checked before anything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from backinstock import ids
from backinstock.errors import PayloadTooLarge, Problem, Unauthorized, ValidationFailed
from backinstock.models.webhooks import PRIVACY_TOPICS, TOPIC_PAYLOADS
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
MAX_EVENT_ID = 128  # characters of an event id kept as sent; a longer one is keyed by its SHA-256
MAX_DOMAIN = 255  # a DNS name's limit: a longer X-Shopify-Shop-Domain names no shop (and fits no key)
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
    if not given or not domain or not topic or len(domain) > MAX_DOMAIN:
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


def event_key(event_id: str) -> str:
    """The marker key of an event id: as sent when short and printable, else its SHA-256 (a DynamoDB key holds at
    most 1,024 bytes of sort key, and a header can be any size)."""
    if len(event_id) <= MAX_EVENT_ID and event_id.isascii() and event_id.isprintable():
        return event_id
    return "sha256:" + hashlib.sha256(event_id.encode()).hexdigest()


def _payload_problems(topic: str, error: ValidationError) -> list[Problem]:
    problems = []
    for err in error.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or None
        ctx = err.get("ctx") or {}
        message = {
            "missing": "is required",
            "int_type": "must be an integer",
            "string_type": "must be a string",
            "list_type": "must be an array",
            "model_type": "must be an object",
            "dict_type": "must be an object",
            "less_than_equal": f"must be at most {ctx.get('le')}",
            "greater_than_equal": f"must be at least {ctx.get('ge')}",
        }.get(err["type"]) or str(err["msg"]).removeprefix("Value error, ")
        problems.append(Problem("webhook_payload", f"{message} in a {topic} payload", field))
    return problems


def check_payload(intake: Intake, shop_id: str, domain: str, topic: str, payload: Any) -> None:
    """The payload has its topic's shape and names no other shop (`ValidationFailed` otherwise)."""
    try:
        TOPIC_PAYLOADS[topic].model_validate(payload)
    except ValidationError as exc:
        raise ValidationFailed(problems=_payload_problems(topic, exc)) from None
    named = payload.get("shop_domain")
    if named is not None and str(named).strip().lower() != domain.strip().lower():
        raise ValidationFailed(
            problems=[Problem("webhook_shop", "names another shop than X-Shopify-Shop-Domain", "shop_domain")]
        )
    if "shop_id" in payload and not intake.shops.pin_shopify_shop_id(shop_id, payload["shop_id"]):
        raise ValidationFailed(
            problems=[
                Problem("webhook_shop", "names another shop than the one the signing secret belongs to", "shop_id")
            ]
        )


def receive(
    intake: Intake,
    headers: dict[str, str],
    raw_body: str | None,
    now: datetime | None = None,
    max_bytes: int | None = None,
) -> dict[str, Any]:
    lowered = {k.lower(): v for k, v in (headers or {}).items() if isinstance(v, str)}
    body = (raw_body or "").encode()
    if max_bytes is not None and len(body) > max_bytes:
        raise PayloadTooLarge(
            problems=[Problem("payload_too_large", f"request body exceeds {max_bytes} bytes ({max_bytes // 1024} KB)")]
        )
    shop_id = verify(intake, lowered, body)
    topic = lowered["x-shopify-topic"].strip()
    sent_id = (lowered.get("x-shopify-event-id") or lowered.get("x-shopify-webhook-id") or "").strip()
    if not sent_id:
        raise ValidationFailed("X-Shopify-Event-Id (or X-Shopify-Webhook-Id) header is required to drop redeliveries")
    event_id = event_key(sent_id)
    if topic not in TOPICS:
        return {"status": "ignored", "topic": topic[:100], "event_id": event_id}
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise ValidationFailed("the body is not JSON: Shopify webhooks are sent as JSON") from None
    check_payload(intake, shop_id, lowered["x-shopify-shop-domain"], topic, payload)
    moment = now or ids.now()
    privacy = topic in PRIVACY_TOPICS
    marker = f"BODY#{hashlib.sha256(body).hexdigest()}" if privacy else event_id
    if not intake.markers.mark_received(shop_id, marker, topic, moment, expires=not privacy):
        return {"status": "duplicate", "topic": topic, "event_id": event_id}
    message = {
        "kind": "webhook",
        "topic": topic,
        "shop_id": shop_id,
        "event_id": event_id,
        "triggered_at": (lowered.get("x-shopify-triggered-at") or "")[:64] or None,
        "received_at": ids.iso(moment),
        "payload": payload,
    }
    try:
        intake.queue.send(message)
    except Exception:
        intake.markers.forget(shop_id, marker)
        raise
    return {"status": "queued", "topic": topic, "event_id": event_id}
