"""The local run plays a restock end to end: `backinstock simulate restock` posts a signed inventory webhook to the
local server; the webhook worker detects the restock, moto runs the campaign workflow, the send worker emails the
waiting customer; `simulate order` then attributes the customer's order (and tags it in the local Shopify)."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.conftest import cli, email_to, eventually, http

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


def test_simulate_restock_says_what_the_restock_does(server: dict[str, Any]) -> None:
    """Each `simulate restock` says what the engine made of it: out of stock, a campaign and when it sends (the
    cooldown on the local run's clock, never a real hour), no campaign for a variant in stock already."""
    variant = 40777  # a variant of this test's own, added to the demo shop's catalog
    add = ["catalog", "add", "--shop-id", server["shop_id"], "--variant-id", str(variant), "--product-id", "9077"]
    assert cli(server, *add, "--inventory-item-id", "97077", "--title", "One", "--product-title", "Mug").returncode == 0

    def outcome(available: int) -> dict[str, Any]:
        result = cli(server, "simulate", "restock", "--variant-id", str(variant), "--available", str(available))
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout)["outcome"])

    assert outcome(0) == {"campaign": None, "why": outcome(0)["why"]} and "out of stock" in outcome(0)["why"]
    first = outcome(5)
    assert first["campaign"] and first["sends"] == "sends now" and first["batching"] == "one batch: everyone waiting"
    assert "not a restock: the variant was in stock already" in outcome(6)["why"]
    outcome(0)
    second = outcome(4)
    assert second["campaign"] not in (None, first["campaign"])
    # The cooldown (1 h) on the local run's clock (an hour lasts 10 s): a few seconds, not 3,5xx.
    assert second["sends"] == "sends now" or second["sends"].startswith("sends in "), second
    if second["sends"] != "sends now":
        assert int(second["sends"].split()[2]) <= 10


def test_simulate_restock_of_an_unknown_variant_says_how_to_add_it(server: dict[str, Any]) -> None:
    result = cli(server, "simulate", "restock", "--variant-id", "99999", "--available", "3")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "variant 99999 is not in the shop's catalog: add it with `backinstock --local catalog add" in result.stderr
