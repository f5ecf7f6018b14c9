"""No action ever Scans: every registry action (and the send and webhook workers) runs with valid input, DynamoDB
calls are counted by operation, and Scan must not be among them. Each action's request is the sample declared beside
it (`Action.sample`): a new action without one fails here, and in the unit tests."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from backinstock import aws, registry
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.drivers import WEBHOOK_SECRET
from backinstock_tools.testkit.gateway import call
from backinstock_tools.testkit.samples import preorder_offer, ready_for, sample_request, sample_values

pytestmark = pytest.mark.integration


def test_no_action_and_not_the_workers_ever_scan(
    shop: Shop, catalog: dict[str, int], worker: Any, shopify: Any, stream: Any
) -> None:
    key = shop.key
    _, signup = call(
        "POST", "/back_in_stock/signups", key, {"channel": "email", "shopify_variant_id": 101, "email": "a@example.com"}
    )
    call("POST", f"/back_in_stock/signups/{signup['id']}/notify", key)
    worker.drain()
    notification_id = call("GET", "/back_in_stock/notifications", key)[1]["notifications"][0]["id"]
    pending = call(
        "POST", "/back_in_stock/signups", key, {"channel": "email", "shopify_variant_id": 201, "email": "d@x.io"}
    )
    spare = call(
        "POST", "/back_in_stock/signups", key, {"channel": "email", "shopify_variant_id": 102, "email": "s@x.io"}
    )

    calls: Counter[str] = Counter()
    aws.client("dynamodb").meta.events.register(
        "before-call.dynamodb", lambda event_name, **_: calls.update([event_name.rsplit(".", 1)[-1]])
    )
    values = sample_values(
        shop.id,
        key,
        shop.domain,
        signup_id=signup["id"],
        pending_signup_id=pending[1]["id"],
        spare_signup_id=spare[1]["id"],
        notification_id=notification_id,
    )
    order = list(registry.actions())
    order.sort(key=lambda a: a.name in ("delete_signup", "unsubscribe"))  # destructive ones last
    for action in order:
        ready_for(action, shop.id)
        path, body, headers = sample_request(action, values, WEBHOOK_SECRET)
        api_key = key if action.auth is registry.Auth.API_KEY else None
        status, answer = call(action.method, path, api_key, body, headers=headers)
        assert status < 400, (action.name, answer)  # a download link answers 302
    worker.drain()
    assert not shopify.process()
    assert stream.drain() > 0  # the rollup aggregator, on every record written above
    assert calls["Query"] > 0 and calls["GetItem"] > 0 and calls["TransactWriteItems"] > 0
    assert "Scan" not in calls


def test_no_webhook_topic_scans(shopify: Any, catalog: dict[str, int]) -> None:
    """Every topic the webhook worker handles, through intake and worker: Queries and key reads only."""
    calls: Counter[str] = Counter()
    aws.client("dynamodb").meta.events.register(
        "before-call.dynamodb", lambda event_name, **_: calls.update([event_name.rsplit(".", 1)[-1]])
    )
    customer = {"id": 1, "email": "a@example.com", "phone": "+15555550100"}
    product = {
        "id": 10,
        "title": "Tee",
        "updated_at": "2026-11-27T00:00:00Z",
        "variants": [{"id": 101, "inventory_item_id": 5101}],
    }
    named = {"shop_id": 1, "shop_domain": shopify.domain}  # the shop, as a privacy payload names it
    topics = [
        ("products/create", product),
        (
            "inventory_levels/update",
            {"inventory_item_id": 5101, "location_id": 1, "available": 3, "updated_at": "2026-11-27T00:00:01Z"},
        ),
        (
            "order_transactions/create",  # before its order: stored, waiting
            {"id": 3, "order_id": 9, "kind": "sale", "status": "success", "amount": "1.00", "currency": "USD"},
        ),
        (
            "orders/create",
            {
                "id": 9,
                "email": "a@example.com",
                "total_price": "2.00",
                "total_outstanding": "1.00",
                "line_items": [
                    {"id": 1, "variant_id": 101, "product_id": 10, "price": "1.00", "quantity": 1},
                    {
                        "id": 2,
                        "variant_id": 101,
                        "product_id": 10,
                        "price": "1.00",
                        "quantity": 1,
                        "selling_plan_id": 7001,
                    },
                ],
            },
        ),
        (
            "refunds/create",
            {"id": 4, "order_id": 9, "transactions": [{"kind": "refund", "status": "success", "amount": "1.00"}]},
        ),
        ("orders/cancelled", {"id": 9, "cancel_reason": "customer", "cancelled_at": "2026-11-27T00:00:00Z"}),
        ("products/delete", {"id": 10}),
        ("customers/data_request", {**named, "customer": customer, "data_request": {"id": 7}, "orders_requested": [9]}),
        ("customers/redact", {**named, "customer": customer, "orders_to_redact": [9]}),
        ("shop/redact", named),
    ]
    preorder_offer(shopify.shop.id)
    for topic, payload in topics:
        assert shopify.post(topic, payload)[0] == 200, topic
    assert not shopify.process()
    shopify.finish_campaigns()
    assert calls["Query"] > 0 and "Scan" not in calls
    assert calls["UpdateItem"] > 0  # the preorder ledger wrote
