"""POST /webhooks/shopify: verified, deduplicated, queued; nothing queued on any verification failure."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backinstock import deps
from backinstock.services import shops
from tests.integration.conftest import WEBHOOK_SECRET, Shopify

LEVEL = {"inventory_item_id": 5101, "location_id": 1, "available": 3, "updated_at": "2026-11-27T10:00:00Z"}


def test_a_signed_webhook_is_queued_with_its_topic_and_payload(shopify: Shopify) -> None:
    status, body = shopify.post("inventory_levels/update", LEVEL, event_id="evt-a")
    assert (status, body["status"]) == (200, "queued")
    [message] = shopify.queued()
    queued = json.loads(message["Body"])
    assert queued["topic"] == "inventory_levels/update" and queued["event_id"] == "evt-a"
    assert queued["shop_id"] == shopify.shop["shop_id"] and queued["payload"] == LEVEL


@pytest.mark.parametrize(
    "change",
    [
        {"raw_body": json.dumps({**LEVEL, "available": 300})},  # tampered body, signature of the original
        {"secret": "another-secret-0123456789"},
        {"drop": ("X-Shopify-Hmac-Sha256",)},
        {"drop": ("X-Shopify-Shop-Domain",)},
        {"drop": ("X-Shopify-Topic",)},
        {"domain": "unknown-shop.myshopify.com"},
    ],
    ids=["tampered", "wrong-secret", "no-signature", "no-domain", "no-topic", "unknown-shop"],
)
def test_unverified_webhooks_are_401_and_queue_nothing(shopify: Shopify, change: dict[str, Any]) -> None:
    status, body = shopify.post("inventory_levels/update", LEVEL, **change)
    assert status == 401
    assert body["errors"] and "not verified" in body["errors"][0]
    assert shopify.queued() == []


def test_a_shop_without_secrets_cannot_receive_webhooks(shopify: Shopify, other_shop: dict[str, Any]) -> None:
    status, _ = shopify.post("inventory_levels/update", LEVEL, domain=other_shop["domain"])
    assert status == 401 and shopify.queued() == []


def test_the_same_event_three_times_is_queued_once(shopify: Shopify) -> None:
    answers = [shopify.post("inventory_levels/update", LEVEL, event_id="evt-same") for _ in range(3)]
    assert [a[1]["status"] for a in answers] == ["queued", "duplicate", "duplicate"]
    assert len(shopify.queued()) == 1


def test_webhook_id_is_the_fallback_dedupe_key(shopify: Shopify) -> None:
    from backinstock.services.webhooks import signature
    from tests.helpers import call

    body = json.dumps(LEVEL)
    headers = {
        "X-Shopify-Topic": "inventory_levels/update",
        "X-Shopify-Shop-Domain": shopify.domain,
        "X-Shopify-Hmac-Sha256": signature(WEBHOOK_SECRET, body.encode()),
        "X-Shopify-Webhook-Id": "legacy-1",
    }
    answers = [call("POST", "/webhooks/shopify", raw_body=body, headers=headers)[1]["status"] for _ in range(2)]
    assert answers == ["queued", "duplicate"] and len(shopify.queued()) == 1


def test_no_event_id_at_all_is_refused_and_queues_nothing(shopify: Shopify) -> None:
    status, body = shopify.post("inventory_levels/update", LEVEL, drop=("X-Shopify-Event-Id",))
    assert status == 422 and "X-Shopify-Event-Id" in body["errors"][0]
    assert shopify.queued() == []


def test_unknown_topics_are_acknowledged_and_ignored(shopify: Shopify) -> None:
    status, body = shopify.post("carts/update", {"id": 1})
    assert (status, body["status"]) == (200, "ignored") and shopify.queued() == []


def test_a_rotated_secret_is_picked_up_after_the_cache_refresh_window(
    shopify: Shopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert shopify.post("inventory_levels/update", LEVEL)[0] == 200  # caches the secret
    new_secret = "whsec-rotated-0123456789abcdef"
    shops.connect_shopify(
        deps.shops(), deps.shop_secrets(), shopify.shop["shop_id"], new_secret, "shpat_rotated_0123456789"
    )
    assert shopify.post("inventory_levels/update", LEVEL, secret=new_secret)[0] == 200
    assert shopify.post("inventory_levels/update", LEVEL, secret=WEBHOOK_SECRET)[0] == 401


def test_a_failed_enqueue_forgets_the_event_so_shopify_can_retry(shopify: Shopify) -> None:
    queue = deps.intake().queue

    def refuse(message: dict[str, Any], delay_seconds: int = 0) -> None:
        raise RuntimeError("SQS unavailable")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(queue, "send", refuse)
        status, _ = shopify.post("inventory_levels/update", LEVEL, event_id="evt-retry")
    assert status == 500 and shopify.queued() == []
    status, body = shopify.post("inventory_levels/update", LEVEL, event_id="evt-retry")
    assert (status, body["status"]) == (200, "queued")
