"""`backinstock simulate ...`: play Shopify against the local run. Each command posts a correctly signed webhook
(the shop's secret read from the local Secrets Manager, as the intake reads it) to the local server's
`/webhooks/shopify`, exactly as Shopify would; the webhook worker, the campaign workflow and the send worker do the
rest in the background (watch `backinstock outbox`)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

from backinstock import deps, ids
from backinstock.errors import NotFound, ValidationFailed
from backinstock.services.webhooks import signature


def post_webhook(base_url: str, shop_id: str, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    shop = deps.shops().require(shop_id)
    credentials = deps.shop_secrets().get(shop_id, max_age=0)
    if credentials is None:
        raise ValidationFailed(f"shop {shop_id} is not connected: run `backinstock shops connect-shopify` first")
    body = json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310 (the local server's own http URL)
        f"{base_url}/webhooks/shopify",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": shop.domain,
            "X-Shopify-Hmac-Sha256": signature(credentials.webhook_secret, body),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": ids.iso(ids.now()),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return {"status": response.status, "body": json.loads(response.read() or b"null"), "topic": topic}


def restock(base_url: str, shop_id: str, variant_id: int, available: int, location_id: int) -> dict[str, Any]:
    variant = deps.catalog().variant(shop_id, variant_id)
    if variant is None or variant.get("inventory_item_id") is None:
        raise NotFound(f"variant {variant_id} is not in the shop's catalog with an inventory item")
    payload = {
        "inventory_item_id": int(variant["inventory_item_id"]),
        "location_id": location_id,
        "available": available,
        "updated_at": ids.iso(ids.now()),
    }
    return post_webhook(base_url, shop_id, "inventory_levels/update", payload)


def order(
    base_url: str, shop_id: str, variant_id: int, email: str, quantity: int, price: str, via_alert_link: bool
) -> dict[str, Any]:
    variant = deps.catalog().variant(shop_id, variant_id)
    if variant is None:
        raise NotFound(f"variant {variant_id} is not in the shop's catalog")
    order_id = uuid.uuid4().int % 10**15
    payload: dict[str, Any] = {
        "id": order_id,
        "name": f"#{order_id % 10000}",
        "email": email,
        "created_at": ids.iso(ids.now()),
        "currency": deps.shops().require(shop_id).currency,
        "line_items": [
            {
                "id": order_id + 1,
                "variant_id": variant_id,
                "product_id": int(variant["product_id"]),
                "price": price,
                "quantity": quantity,
                "discount_allocations": [],
            }
        ],
    }
    if via_alert_link:
        payload["landing_site"] = f"/products/x?variant={variant_id}&utm_source=backinstock&utm_medium=email"
    return {**post_webhook(base_url, shop_id, "orders/create", payload), "order_id": order_id}
