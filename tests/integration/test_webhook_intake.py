"""POST /webhooks/shopify: verified, deduplicated, queued; nothing queued on any verification failure."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backinstock import deps
from backinstock.services import shops
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.drivers import WEBHOOK_SECRET, Shopify

LEVEL = {"inventory_item_id": 5101, "location_id": 1, "available": 3, "updated_at": "2026-11-27T10:00:00Z"}


def test_a_signed_webhook_is_queued_with_its_topic_and_payload(shopify: Shopify) -> None:
    status, body = shopify.post("inventory_levels/update", LEVEL, event_id="evt-a")
    assert (status, body["status"]) == (200, "queued")
    [message] = shopify.queued()
    queued = json.loads(message["Body"])
    assert queued["topic"] == "inventory_levels/update" and queued["event_id"] == "evt-a"
    assert queued["shop_id"] == shopify.shop.id and queued["payload"] == LEVEL


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


def test_a_shop_without_secrets_cannot_receive_webhooks(shopify: Shopify, other_shop: Shop) -> None:
    status, _ = shopify.post("inventory_levels/update", LEVEL, domain=other_shop.domain)
    assert status == 401 and shopify.queued() == []


def test_the_same_event_three_times_is_queued_once(shopify: Shopify) -> None:
    answers = [shopify.post("inventory_levels/update", LEVEL, event_id="evt-same") for _ in range(3)]
    assert [a[1]["status"] for a in answers] == ["queued", "duplicate", "duplicate"]
    assert len(shopify.queued()) == 1


def test_webhook_id_is_the_fallback_dedupe_key(shopify: Shopify) -> None:
    from backinstock.services.webhooks import signature
    from backinstock_tools.testkit.gateway import call

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
    shops.connect_shopify(deps.shops(), deps.shop_secrets(), shopify.shop.id, new_secret, "shpat_rotated_0123456789")
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


# ----------------------------------------------------------------- a signature covers the body, not the topic


def test_a_signed_body_replayed_under_another_topic_is_refused(shopify: Shopify) -> None:
    # Given a signed inventory update (and a signed order), when either is sent as a privacy topic, then nothing
    # is queued: each topic takes only its own payload's shape.
    order = {
        "id": 9001,
        "email": "jane@example.com",
        "customer": {"id": 1, "email": "jane@example.com"},
        "line_items": [],
    }
    for body, topic in (
        (LEVEL, "shop/redact"),
        (order, "customers/redact"),
        (LEVEL, "orders/create"),
        (order, "products/delete"),
        ({"id": 5, "variants": []}, "products/delete"),
    ):
        status, answer = shopify.post(topic, body)
        assert status == 422, (topic, answer)
        assert f"in a {topic} payload" in answer["errors"][0]
    assert shopify.queued() == []


def test_shopify_documented_samples_with_ids_above_2_53_are_queued(shopify: Shopify) -> None:
    big = 2**60 + 7
    samples = {
        "inventory_levels/update": {
            "inventory_item_id": big,
            "location_id": big,
            "available": 6,
            "updated_at": "2026-11-27T10:00:00-05:00",
            "admin_graphql_api_id": "gid://x",
        },
        "products/update": {"id": big, "title": "Example T-Shirt", "variants": [{"id": big + 1}], "new_field": 1},
        "products/delete": {"id": big},
        "orders/create": {"id": big, "line_items": [{"id": big, "variant_id": big}], "email": "jon@example.com"},
        "orders/cancelled": {"id": big, "cancelled_at": "2026-11-27T10:00:00-05:00", "line_items": []},
        "order_transactions/create": {"id": big, "order_id": big, "kind": "capture", "amount": "1.00"},
        "refunds/create": {"id": big, "order_id": big, "transactions": [], "refund_line_items": []},
        "customers/data_request": {
            "shop_id": 954889,
            "shop_domain": shopify.domain,
            "orders_requested": [big],
            "customer": {"id": big, "email": "john@example.com", "phone": "555-625-1199"},
            "data_request": {"id": 9999},
        },
        "customers/redact": {
            "shop_id": 954889,
            "shop_domain": shopify.domain,
            "orders_to_redact": [big, 280263],
            "customer": {"id": big, "email": "john@example.com", "phone": "555-625-1199"},
        },
    }
    for topic, body in samples.items():
        status, answer = shopify.post(topic, body)
        assert (status, answer["status"]) == (200, "queued"), (topic, answer)
    assert len(shopify.queued()) == len(samples)


@pytest.mark.parametrize(
    "named", [{"shop_domain": "other-shop.myshopify.com"}, {"shop_id": 111}], ids=["domain", "shopify-id"]
)
def test_a_privacy_payload_naming_another_shop_is_refused(shopify: Shopify, named: dict[str, Any]) -> None:
    # Given the shop is known to Shopify as 954889 (its first privacy webhook said so)
    first = {"shop_id": 954889, "shop_domain": shopify.domain.upper(), "customer": {"id": 1}, "orders_to_redact": []}
    assert shopify.post("customers/redact", first)[1]["status"] == "queued"
    # When a payload names another shop, then it is refused and nothing more is queued
    status, answer = shopify.post("shop/redact", {"shop_id": 954889, "shop_domain": shopify.domain, **named})
    assert status == 422 and "another shop" in answer["errors"][0], answer
    assert len(shopify.queued()) == 1


def test_a_privacy_body_acts_once_whatever_its_event_id(shopify: Shopify) -> None:
    body = {
        "shop_id": 954889,
        "shop_domain": shopify.domain,
        "customer": {"id": 1, "email": "jane@example.com"},
        "orders_to_redact": [],
    }
    answers = [shopify.post("customers/redact", body, event_id=f"evt-new-{n}")[1]["status"] for n in range(3)]
    assert answers == ["queued", "duplicate", "duplicate"] and len(shopify.queued()) == 1


@pytest.mark.parametrize("size", [129, 1_100, 100_000])
def test_an_event_id_of_any_size_is_keyed_by_its_hash_and_never_a_500(shopify: Shopify, size: int) -> None:
    event_id = "e" * size
    answers = [shopify.post("inventory_levels/update", LEVEL, event_id=event_id) for _ in range(2)]
    assert [(s, b["status"]) for s, b in answers] == [(200, "queued"), (200, "duplicate")]
    assert answers[0][1]["event_id"].startswith("sha256:") and len(shopify.queued()) == 1


def test_a_huge_shop_domain_header_is_a_401_not_a_500(shopify: Shopify) -> None:
    status, _ = shopify.post("inventory_levels/update", LEVEL, domain="x" * 3_000 + ".myshopify.com")
    assert status == 401 and shopify.queued() == []


def test_a_body_over_256_kb_is_refused_as_on_the_api(shopify: Shopify) -> None:
    from backinstock.api.validation import MAX_BODY_BYTES

    status, answer = shopify.post("products/update", {"id": 1, "variants": [], "body_html": "x" * MAX_BODY_BYTES})
    assert status == 413 and "256 KB" in answer["errors"][0]
    assert shopify.queued() == []
