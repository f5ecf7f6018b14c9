"""orders/create -> attributions (confidence, exact revenue, 7-day window) and order tags through a real HTTP
Shopify Admin API (the local FakeShopify server), never a mocked function."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from backinstock import deps, ids
from backinstock.services import shops
from backinstock_tools.local.shopify_fake import FakeShopify
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.drivers import ACCESS_TOKEN, WEBHOOK_SECRET, Shopify, Worker
from backinstock_tools.testkit.gateway import call

SIGNUPS = "/back_in_stock/signups"


@pytest.fixture
def fake(shopify: Shopify) -> Iterator[FakeShopify]:
    with FakeShopify({ACCESS_TOKEN: shopify.domain}) as server:
        shops.connect_shopify(
            deps.shops(),
            deps.shop_secrets(),
            shopify.shop.id,
            WEBHOOK_SECRET,
            ACCESS_TOKEN,
            admin_api_url=server.base_url,
        )
        yield server


def notified(shop: Shop, worker: Worker, variant: int, email: str) -> dict[str, Any]:
    status, created = call(
        "POST", SIGNUPS, shop.key, {"channel": "email", "shopify_variant_id": variant, "email": email}
    )
    assert status == 201, created
    assert call("POST", f"{SIGNUPS}/{created['id']}/notify", shop.key, {})[0] == 202
    worker.drain()
    return dict(created)


def order(email: str, lines: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": 820982911946154508,
        "name": "#1001",
        "email": email.upper(),
        "created_at": ids.iso(ids.now()),
        "currency": "USD",
        "line_items": lines,
        **extra,
    }


def line(line_id: int, variant: int, price: str, quantity: int, discounts: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "id": line_id,
        "variant_id": variant,
        "product_id": 10 if variant in (101, 102) else 20,
        "price": price,
        "quantity": quantity,
        "discount_allocations": [{"amount": d} for d in discounts],
    }


def attributions(shopify: Shopify) -> dict[str, dict[str, Any]]:
    items = deps.attribution().attributions.of_order(shopify.shop.id, "820982911946154508")
    return {i["line_item_id"]: i for i in items}


def test_confidence_per_line_and_exact_revenue(
    shopify: Shopify, catalog: dict[str, int], worker: Worker, fake: FakeShopify
) -> None:
    shop = shopify.shop
    notified(shop, worker, 101, "jane@example.com")
    lines = [
        line(1, 101, "19.99", 3, ("5.00", "0.97")),  # notified for this variant: medium
        line(2, 102, "10.10", 1),  # another variant of the same product: low
        line(3, 201, "12.00", 1),  # never notified for the mug: not attributed
    ]
    shopify.post("orders/create", order("jane@example.com", lines))
    assert not shopify.process()
    found = attributions(shopify)
    assert set(found) == {"1", "2"}
    assert (found["1"]["confidence"], found["1"]["revenue"], found["1"]["currency"]) == ("medium", "54.00", "USD")
    assert (found["2"]["confidence"], found["2"]["revenue"]) == ("low", "10.10")
    assert found["1"]["signup_id"] and found["1"]["notification_id"]


def test_our_utm_marker_makes_it_high(shopify: Shopify, catalog: dict[str, int], worker: Worker) -> None:
    notified(shopify.shop, worker, 101, "jane@example.com")
    landing = "/products/classic-tee?variant=101&utm_source=backinstock&utm_medium=email&utm_campaign=restock"
    shopify.post("orders/create", order("jane@example.com", [line(1, 101, "5.00", 1)], landing_site=landing))
    shopify.process()
    assert attributions(shopify)["1"]["confidence"] == "high"


def test_outside_the_window_or_another_customer_is_not_attributed(
    shopify: Shopify, catalog: dict[str, int], worker: Worker
) -> None:
    notified(shopify.shop, worker, 101, "jane@example.com")
    later = ids.iso(ids.now() + timedelta(days=7, minutes=1))
    shopify.post("orders/create", order("jane@example.com", [line(1, 101, "5.00", 1)], created_at=later))
    shopify.post("orders/create", {**order("someone@example.com", [line(2, 101, "5.00", 1)]), "id": 2})
    assert not shopify.process()
    assert attributions(shopify) == {}


def test_a_replayed_order_is_attributed_once(shopify: Shopify, catalog: dict[str, int], worker: Worker) -> None:
    notified(shopify.shop, worker, 101, "jane@example.com")
    for event in ("o1", "o2"):  # Shopify sent it twice with distinct event ids
        shopify.post("orders/create", order("jane@example.com", [line(1, 101, "5.00", 2)]), event_id=event)
    shopify.process()
    assert len(attributions(shopify)) == 1


def test_attributed_orders_are_tagged_in_shopify(
    shopify: Shopify, catalog: dict[str, int], worker: Worker, fake: FakeShopify
) -> None:
    shop = shopify.shop
    call("PATCH", "/back_in_stock/settings/tagging", shop.key, {"order_tags": {"enabled": True, "tag": "bis"}})
    notified(shop, worker, 101, "jane@example.com")
    shopify.post("orders/create", order("jane@example.com", [line(1, 101, "5.00", 1)]))
    fake.fail_next("throttled")  # retried by the client
    assert not shopify.process()
    assert fake.tags(820982911946154508) == {"bis"}
    assert [r["headers"]["x-shopify-access-token"] for r in fake.requests] == [ACCESS_TOKEN, ACCESS_TOKEN]


def test_low_confidence_or_disabled_tagging_sends_nothing_to_shopify(
    shopify: Shopify, catalog: dict[str, int], worker: Worker, fake: FakeShopify
) -> None:
    shop = shopify.shop
    notified(shop, worker, 101, "jane@example.com")
    shopify.post("orders/create", order("jane@example.com", [line(1, 101, "5.00", 1)]))  # tagging is off
    assert not shopify.process()
    call("PATCH", "/back_in_stock/settings/tagging", shop.key, {"order_tags": {"enabled": True}})
    shopify.post("orders/create", {**order("jane@example.com", [line(2, 102, "5.00", 1)]), "id": 3})  # low only
    assert not shopify.process()
    assert fake.requests == []


def test_a_rejected_token_is_logged_not_retried(
    shopify: Shopify, catalog: dict[str, int], worker: Worker, fake: FakeShopify, caplog: pytest.LogCaptureFixture
) -> None:
    shop = shopify.shop
    call("PATCH", "/back_in_stock/settings/tagging", shop.key, {"order_tags": {"enabled": True}})
    notified(shop, worker, 101, "jane@example.com")
    fake.fail_next("http_403")
    shopify.post("orders/create", order("jane@example.com", [line(1, 101, "5.00", 1)]))
    assert not shopify.process()  # not failed: a retry would be rejected the same way
    assert len(fake.requests) == 1 and len(attributions(shopify)) == 1
