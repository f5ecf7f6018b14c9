"""No action ever Scans: every registry action (and the send and webhook workers) runs with valid input, DynamoDB
calls are counted by operation, and Scan must not be among them. A new action without a sample here fails the test."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from backinstock import aws, deps, ids, registry
from backinstock.services import links
from tests.helpers import call

pytestmark = pytest.mark.integration


def requests_for(
    shop: dict[str, Any], signup_id: str, pending_id: str, notification_id: str, offer_id: str
) -> dict[str, tuple[str, Any]]:
    """action name -> (path, body) of a valid request."""
    token = links.make_token(deps.link_key(), shop["shop_id"], signup_id, "unsubscribe", ids.now())
    optin = links.make_token(deps.link_key(), shop["shop_id"], signup_id, "optin", ids.now())
    s = "/back_in_stock/signups"
    return {
        "list_signups": (f"{s}?variant_id=101&status=pending&email=a", None),
        "get_signup": (f"{s}/{signup_id}", None),
        "create_signup": (s, {"channel": "email", "shopify_variant_id": 102, "email": "n@example.com"}),
        "notify_signup": (f"{s}/{signup_id}/notify", {"allow_resend": True}),
        "bulk_notify_signups": (f"{s}/bulk_notify", {"signup_ids": [signup_id], "allow_resend": True}),
        "transfer_signups": (
            f"{s}/transfer",
            {"from_shopify_variant_id": 201, "to_shopify_variant_id": 102, "to_shopify_product_id": 10},
        ),
        "bulk_delete_signups": (f"{s}/bulk_delete", {"signup_ids": ["01900000-0000-7000-8000-000000000000"]}),
        "delete_signup": (f"{s}/{pending_id}", None),
        "list_notifications": ("/back_in_stock/notifications?status=sent&product_id=10", None),
        "get_notification": (f"/back_in_stock/notifications/{notification_id}", None),
        "confirm_optin": (f"/back_in_stock/optin/confirm?token={optin}", None),
        "unsubscribe_page": (f"/back_in_stock/unsubscribe?token={token}", None),
        "unsubscribe": (f"/back_in_stock/unsubscribe?token={token}", None),
        "get_settings": ("/back_in_stock/settings", None),
        "update_settings": ("/back_in_stock/settings", {"compliance": {"optin_required": False}}),
        "help": ("/help?prefix=/back_in_stock", None),
        "get_openapi": ("/openapi.json", None),
        "list_offers": ("/preorders/offers?status=enabled&variant_id=101", None),
        "get_offer": (f"/preorders/offers/{offer_id}", None),
        **report_samples(),
        # signed by `webhook_headers`: the sample is an inventory update of an unknown item (queued, then ignored)
        "receive_shopify_webhook": (
            "/webhooks/shopify",
            {"inventory_item_id": 1, "location_id": 1, "available": 1, "updated_at": "2026-11-27T00:00:00Z"},
        ),
    }


def report_samples() -> dict[str, tuple[str, Any]]:
    r = "/back_in_stock/reports"
    window = "from=2026-01-01&to=2026-03-31"
    out: dict[str, tuple[str, Any]] = {
        "list_reports": (r, None),
        "summary_report": (f"{r}/summary?{window}&variant_id=101", None),
        "signups_report": (f"{r}/signups?{window}&granularity=week", None),
        "notifications_report": (f"{r}/notifications?{window}&channel=email", None),
        "conversions_report": (f"{r}/conversions?{window}&granularity=month&product_id=10", None),
        "products_in_demand_report": (f"{r}/products_in_demand?sort_by=total", None),
        "get_report_export": (f"{r}/exports/{RUNNING_JOB}", None),
        "cancel_report_export": (f"{r}/exports/{RUNNING_JOB}", None),
        "export_signups": ("/back_in_stock/signups/export", {"status": "pending", "variant_id": 101}),
    }
    for name in ("summary", "signups", "notifications", "conversions", "products_in_demand"):
        out[f"export_{name}_report"] = (f"{r}/{name}/export", {"from": "2026-01-01", "to": "2026-01-31"})
    return out


RUNNING_JOB = "exp_00000000000000aa"


def running_job(shop_id: str) -> None:
    """An export job row that is still running (its workflow never started): the sample that cancel can cancel."""
    from backinstock import deps

    deps.exports().jobs.create(
        {
            "job_id": RUNNING_JOB,
            "shop_id": shop_id,
            "source": "summary",
            "params": "{}",
            "status": "running",
            "progress": 0,
            "row_count": 0,
            "file_name": "f.csv",
            "object_key": f"exports/{shop_id}/{RUNNING_JOB}/f.csv",
            "created_at": ids.iso(ids.now()),
            "expires_at": int(ids.now().timestamp()) + 3600,
        }
    )


def preorder_offer(shop_id: str) -> str:
    from backinstock.models.preorders import OfferCreate
    from backinstock.services import offers

    body = OfferCreate.model_validate(
        {
            "name": "Drop",
            "selling_plan_ids": [7001],
            "variants": [{"shopify_variant_id": 101}],
            "deposit": {"type": "percentage", "value": 50},
        }
    )
    return offers.create_offer(deps.offers(), shop_id, body).id


def webhook_headers(shop: dict[str, Any], body: Any) -> dict[str, str]:
    import json

    from backinstock.services.webhooks import signature
    from tests.integration.conftest import WEBHOOK_SECRET

    return {
        "X-Shopify-Topic": "inventory_levels/update",
        "X-Shopify-Shop-Domain": shop["domain"],
        "X-Shopify-Hmac-Sha256": signature(WEBHOOK_SECRET, json.dumps(body).encode()),
        "X-Shopify-Event-Id": "no-scan-1",
    }


def test_no_action_and_not_the_workers_ever_scan(
    shop: dict[str, Any], catalog: dict[str, int], worker: Any, shopify: Any, stream: Any
) -> None:
    key = shop["api_key"]
    running_job(shop["shop_id"])
    _, signup = call(
        "POST", "/back_in_stock/signups", key, {"channel": "email", "shopify_variant_id": 101, "email": "a@example.com"}
    )
    call("POST", f"/back_in_stock/signups/{signup['id']}/notify", key)
    worker.drain()
    notification_id = call("GET", "/back_in_stock/notifications", key)[1]["notifications"][0]["id"]
    pending = call(
        "POST", "/back_in_stock/signups", key, {"channel": "email", "shopify_variant_id": 201, "email": "d@x.io"}
    )

    calls: Counter[str] = Counter()
    aws.client("dynamodb").meta.events.register(
        "before-call.dynamodb", lambda event_name, **_: calls.update([event_name.rsplit(".", 1)[-1]])
    )
    samples = requests_for(shop, signup["id"], pending[1]["id"], notification_id, preorder_offer(shop["shop_id"]))
    order = [a for a in registry.actions() if a.name != "mcp"]
    order.sort(key=lambda a: a.name in ("delete_signup", "unsubscribe"))  # destructive ones last
    for action in order:
        sample = samples.get(action.name)
        if sample is None and action.resource == "settings":
            sample = (action.path, {} if action.method == "PATCH" else None)
        assert sample is not None, f"no sample request for {action.name}: add one"
        path, body = sample
        headers = webhook_headers(shop, body) if action.name == "receive_shopify_webhook" else None
        status, answer = call(
            action.method, path, key if action.auth is not registry.Auth.PUBLIC else None, body, headers=headers
        )
        assert status < 300, (action.name, answer)
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
        ("customers/data_request", {"customer": customer, "data_request": {"id": 7}, "orders_requested": [9]}),
        ("customers/redact", {"customer": customer, "orders_to_redact": [9]}),
        ("shop/redact", {"shop_domain": shopify.domain}),
    ]
    preorder_offer(shopify.shop["shop_id"])
    for topic, payload in topics:
        assert shopify.post(topic, payload)[0] == 200, topic
    assert not shopify.process()
    shopify.finish_campaigns()
    assert calls["Query"] > 0 and "Scan" not in calls
    assert calls["UpdateItem"] > 0  # the preorder ledger wrote
