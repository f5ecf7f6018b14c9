"""Inputs: signups (a request, through any way of sending one, or a base record), preorder offers, Shopify orders,
products and inventory levels, webhook deliveries' headers, attributions; and the writes the send worker or a link
would make, for tests that need a signup in a given state without running them."""

from __future__ import annotations

from typing import Any

from backinstock_tools.testkit.gateway import Send, call
from backinstock_tools.testkit.shops import Shop

SIGNUPS = "/back_in_stock/signups"


# ------------------------------------------------------------------------------------------------------ signups
def signup_body(
    variant: int, email: str | None = None, *, phone: str | None = None, product: int | None = None, **extra: Any
) -> dict[str, Any]:
    """A signup request's body: by email, else by SMS when only `phone` is given (`channel=` says otherwise)."""
    body: dict[str, Any] = {
        "channel": "sms" if email is None and phone is not None else "email",
        "shopify_variant_id": variant,
    }
    if email is not None:
        body["email"] = email
    if phone is not None:
        body["phone"] = phone
    if product is not None:
        body["shopify_product_id"] = product
    return {**body, **extra}


def signup(
    shop: Shop | str,
    variant: int,
    email: str | None = None,
    *,
    phone: str | None = None,
    product: int | None = None,
    send: Send = call,
    **extra: Any,
) -> dict[str, Any]:
    """A signup made through the API (`send`: the in-process gateway by default), asserted created. Returns it as
    the API answered it."""
    key = shop.key if isinstance(shop, Shop) else shop
    status, created = send("POST", SIGNUPS, key, signup_body(variant, email, phone=phone, product=product, **extra))
    assert status == 201, created
    return dict(created)


def signup_record(shop_id: str = "s1", **extra: Any) -> dict[str, Any]:
    """A signup's base record as the table holds it (`entity` signup): variant 101 of product 10, by email."""
    return {
        "entity": "signup",
        "shop_id": shop_id,
        "variant_id": 101,
        "product_id": 10,
        "channel": "email",
        "created_at": "2026-06-03T10:00:00.000Z",
        **extra,
    }


def _update_signup(shop_id: str, signup_id: str, update: str, values: dict[str, Any], **names: str) -> None:
    """One UpdateItem of an existing signup at its key (a missing one raises: never a stray item)."""
    from backinstock import deps
    from backinstock.repositories.signups import signup_key

    repo = deps.signups()
    request: dict[str, Any] = {"ExpressionAttributeNames": {f"#{k}": v for k, v in names.items()}} if names else {}
    repo.client.update_item(
        TableName=repo.table_name,
        Key=signup_key(shop_id, signup_id),
        ConditionExpression="attribute_exists(PK)",
        UpdateExpression=update,
        ExpressionAttributeValues=values,
        **request,
    )


def mark(shop_id: str, signup_id: str, field: str) -> None:
    """As the send worker (blocked_at) or the unsubscribe link (unsubscribed_at) records it."""
    _update_signup(shop_id, signup_id, "SET #f = :t", {":t": {"S": "2026-06-01T12:00:00.000Z"}}, f=field)


def mark_notified(shop_id: str, signup_id: str) -> None:
    """As the send worker records a send (the pipeline itself is tested in test_send_worker)."""
    _update_signup(
        shop_id,
        signup_id,
        "SET notified_at = :t, last_notified_at = :t ADD notifications_sent :one",
        {":t": {"S": "2026-06-01T12:00:00.000Z"}, ":one": {"N": "1"}},
    )


def make_push(shop_id: str, signup_id: str) -> str:
    """Turns a signup into a push one, as the storefront widget writes them (the admin API creates email and sms
    ones): an SNS platform endpoint of its own. Its ARN."""
    from backinstock import aws

    sns = aws.client("sns")
    app = sns.create_platform_application(Name="storefront", Platform="GCM", Attributes={"PlatformCredential": "k"})
    device = "device-1"  # moto's fake device, no secret
    endpoint = sns.create_platform_endpoint(PlatformApplicationArn=app["PlatformApplicationArn"], Token=device)
    _update_signup(
        shop_id,
        signup_id,
        "SET channel = :push, push_endpoint = :arn",
        {":push": {"S": "push"}, ":arn": {"S": endpoint["EndpointArn"]}},
    )
    return str(endpoint["EndpointArn"])


# ------------------------------------------------------------------------------------------------ attributions
def attribution(
    shop_id: str, signup: dict[str, Any], order_id: str, line: str, revenue: str, **extra: Any
) -> dict[str, Any]:
    """An attribution record of an order line to a signup (as the API answered the signup)."""
    from backinstock import ids

    now = ids.iso(ids.now())
    return {
        "entity": "attribution",
        "shop_id": shop_id,
        "order_id": order_id,
        "line_item_id": line,
        "variant_id": signup["variant"]["shopify_variant_id"],
        "product_id": signup["variant"]["shopify_product_id"],
        "signup_id": signup["id"],
        "notification_id": "n-1",
        "channel": signup["channel"],
        "confidence": "high",
        "quantity": 1,
        "revenue": revenue,
        "currency": "USD",
        "ordered_at": now,
        "created_at": now,
        **extra,
    }


def put_attribution(item: dict[str, Any]) -> None:
    """Store an attribution record where the order worker stores it (once)."""
    from backinstock import deps
    from backinstock.repositories.base import key, to_item

    deps.shops().client.put_item(
        TableName=deps.shops().table_name,
        Item={**key(f"SHOP#{item['shop_id']}", f"ATTR#{item['order_id']}#{item['line_item_id']}"), **to_item(item)},
        ConditionExpression="attribute_not_exists(PK)",
    )


# ------------------------------------------------------------------------------------------------------ offers
def create_offer(shop_id: str, body: dict[str, Any]) -> str:
    """A preorder offer made by the service from a request body. Returns its id."""
    from backinstock import deps
    from backinstock.models.preorders import OfferCreate
    from backinstock.services import offers

    return offers.create_offer(deps.offers(), shop_id, OfferCreate.model_validate(body)).id


def make_offer(shop_id: str, plans: list[int], **extra: Any) -> str:
    """ "Spring drop": the selling plans on variants 101 and 201, half paid at checkout, the balance due 30 days
    after. Returns its id."""
    body = {
        "name": "Spring drop",
        "selling_plan_ids": plans,
        "variants": [{"shopify_variant_id": 101}, {"shopify_variant_id": 201}],
        "deposit": {"type": "percentage", "value": 50},
        "balance_due": {"days_after_checkout": 30},
        **extra,
    }
    return create_offer(shop_id, body)


# ------------------------------------------------------------------------------------------------------ Shopify
def order_payload(order_id: int = 9001, email: str = "jo@example.com", **extra: Any) -> dict[str, Any]:
    """An orders/create payload: two units of variant 101 (plan 7001, 40.00 each) and a regular mug (201, 20.00);
    10% tax; the preorder line half paid at checkout."""
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "email": email,
        "created_at": "2026-06-03T10:00:00Z",
        "currency": "USD",
        "presentment_currency": "EUR",
        "total_price": "110.00",
        "total_price_set": {"shop_money": {"amount": "110.00"}, "presentment_money": {"amount": "100.00"}},
        "total_outstanding": "44.00",
        "customer": {"id": order_id * 10, "email": email, "first_name": "Jo", "last_name": "Doe"},
        "line_items": [
            {
                "id": 1,
                "variant_id": 101,
                "product_id": 10,
                "quantity": 2,
                "price": "40.00",
                "price_set": {"presentment_money": {"amount": "36.36"}},
                "selling_plan_id": 7001,
            },
            {
                "id": 2,
                "variant_id": 201,
                "product_id": 20,
                "quantity": 1,
                "price": "20.00",
                "price_set": {"presentment_money": {"amount": "18.18"}},
            },
        ],
        **extra,
    }


# The products/create payload of the catalog's tee (variants 101 and 102 with their inventory items).
TEE: dict[str, Any] = {
    "id": 10,
    "title": "Classic Tee",
    "handle": "classic-tee",
    "updated_at": "2026-11-20T10:00:00Z",
    "variants": [
        {"id": 101, "title": "Small / Blue", "inventory_item_id": 5101},
        {"id": 102, "title": "Large / Blue", "inventory_item_id": 5102},
    ],
}


def level(available: int, item: int = 5101, location: int = 1, at: str = "2026-11-27T10:00:00Z") -> dict[str, Any]:
    """An inventory_levels/update payload (item 5101 is the tee's variant 101)."""
    return {"inventory_item_id": item, "location_id": location, "available": available, "updated_at": at}


def webhook_headers(
    topic: str, domain: str, secret: str, body: str, event_id: str, triggered_at: str | None = None
) -> dict[str, str]:
    """The headers of a Shopify webhook delivery of `body` (the raw text), signed with the shop's secret."""
    from backinstock.services.webhooks import signature

    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": domain,
        "X-Shopify-Hmac-Sha256": signature(secret, body.encode()),
        "X-Shopify-Event-Id": event_id,
    }
    if triggered_at is not None:
        headers["X-Shopify-Triggered-At"] = triggered_at
    return headers
