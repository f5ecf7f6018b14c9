"""The local run plays a restock end to end: `backinstock simulate restock` posts a signed inventory webhook to the
local server; the webhook worker detects the restock, moto runs the campaign workflow, the send worker emails the
waiting customer; `simulate order` then attributes the customer's order (and tags it in the local Shopify)."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.conftest import cli, eventually, http
from tests.e2e.test_signups import email_to

TOTE = 40021  # the demo Canvas Tote: sam@example.com waits for it (no other e2e test uses it)


def test_simulated_restock_emails_the_waitlist_and_an_order_converts(server: dict[str, Any]) -> None:
    result = cli(server, "simulate", "restock", "--variant-id", str(TOTE), "--available", "0")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["body"]["status"] == "queued"
    result = cli(server, "simulate", "restock", "--variant-id", str(TOTE), "--available", "7")
    assert result.returncode == 0, result.stderr
    email = eventually(lambda: email_to(server, "sam@example.com", "back in stock"), "the restock email", 40)
    assert "Canvas Tote" in email["subject"]
    status, body, _ = http(server, "GET", f"/back_in_stock/notifications?variant_id={TOTE}")
    assert status == 200 and body["meta"]["total_count"] == 1

    result = cli(server, "simulate", "order", "--variant-id", str(TOTE), "--email", "sam@example.com", "--price", "30")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["body"]["status"] == "queued"


def test_a_forged_webhook_is_refused_over_http(server: dict[str, Any]) -> None:
    status, body, _ = http(
        server,
        "POST",
        "/webhooks/shopify",
        {"inventory_item_id": TOTE * 10, "location_id": 1, "available": 5},
        api_key=None,
        headers={
            "X-Shopify-Topic": "inventory_levels/update",
            "X-Shopify-Shop-Domain": "demo-shop.myshopify.com",
            "X-Shopify-Hmac-Sha256": "Zm9yZ2Vk",
            "X-Shopify-Event-Id": "forged-1",
        },
    )
    assert status == 401 and body["errors"]
