"""Shopify webhooks: the public intake. Verified by HMAC, deduplicated, queued; the webhook worker does the work."""

from __future__ import annotations

from backinstock.registry import Access, Action, Auth, Sample

RESOURCE = "webhooks"

SHOPIFY_WEBHOOK = Action(
    name="receive_shopify_webhook",
    method="POST",
    path="/webhooks/shopify",
    resource=RESOURCE,
    description="Receive a Shopify webhook: verify its HMAC, drop redeliveries, queue it for the webhook worker",
    handler="webhooks.shopify",
    access=frozenset({Access.TABLE_WRITE, Access.SHOP_SECRETS, Access.WEBHOOK_QUEUE}),
    aliases=("shopify webhook",),
    auth=Auth.PUBLIC,
    mcp_tool=False,
    statuses=((413, "Body over 256 KB: nothing was queued"),),
    # An inventory update of an item no shop has (queued, then ignored by the worker), signed as Shopify signs it.
    sample=Sample(
        "/webhooks/shopify",
        {"inventory_item_id": 1, "location_id": 1, "available": 1, "updated_at": "2026-11-27T00:00:00Z"},
        {
            "X-Shopify-Topic": "inventory_levels/update",
            "X-Shopify-Shop-Domain": "{shop_domain}",
            "X-Shopify-Hmac-Sha256": "{shopify_hmac}",
            "X-Shopify-Event-Id": "sample-1",
        },
    ),
    notes=(
        "Public, outside the API-key surface: authenticated by X-Shopify-Hmac-Sha256 (base64 HMAC-SHA256 of the raw "
        "body with the shop's webhook secret, set by `backinstock shops connect-shopify`), compared in constant time.",
        "401 and nothing queued on a missing header, an unknown shop domain or a signature mismatch.",
        "A redelivery (same X-Shopify-Event-Id, else X-Shopify-Webhook-Id; an id over 128 characters is keyed by its "
        "SHA-256) answers 200 `duplicate` and queues nothing. The privacy topics act once per body: the same signed "
        "body under a new event id answers 200 `duplicate`.",
        "Shopify signs the body, not the topic: each topic accepts only its own payload's shape (the fields that "
        "identify it, with their types; other fields are allowed), and a payload naming its shop (`shop_domain`, "
        "`shop_id`) must name the shop of X-Shopify-Shop-Domain and of the secret that verified it; else 422 and "
        "nothing queued.",
        "A body over 256 KB is a 413 and nothing is queued.",
        "Topics: inventory_levels/update, products/create|update|delete, orders/create, orders/cancelled, "
        "order_transactions/create, refunds/create, customers/data_request, customers/redact, shop/redact; others "
        "answer 200 `ignored`.",
    ),
)

ACTIONS = (SHOPIFY_WEBHOOK,)
