"""`backinstock simulate ...`: play Shopify against the local run. Each command posts a correctly signed webhook
(the shop's secret read from the local Secrets Manager, as the intake reads it) to the local server's
`/webhooks/shopify`, exactly as Shopify would; the webhook worker, the campaign workflow and the send worker do the
rest in the background (watch `backinstock outbox`)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from datetime import datetime
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
    """inventory_levels/update, then what it did once the webhook worker ran it: the campaign it started and when
    it sends, or why none started."""
    variant = deps.catalog().variant(shop_id, variant_id)
    if variant is None or variant.get("inventory_item_id") is None:
        what = "is not in the shop's catalog" if variant is None else "has no inventory item in the shop's catalog"
        raise NotFound(
            f"variant {variant_id} {what}: add it with `backinstock --local catalog add --shop-id {shop_id} "
            f"--variant-id {variant_id} --product-id <its product id> --inventory-item-id <any number> "
            f'--title "..." --product-title "..."`'
        )
    repo = deps.restocks().restocks
    before = repo.campaign(shop_id, variant_id) or {}
    updated_at = ids.iso(ids.now())
    payload = {
        "inventory_item_id": int(variant["inventory_item_id"]),
        "location_id": location_id,
        "available": available,
        "updated_at": updated_at,
    }
    posted = post_webhook(base_url, shop_id, "inventory_levels/update", payload)
    return {**posted, "outcome": _restock_outcome(shop_id, variant_id, location_id, available, before)}


def _restock_outcome(
    shop_id: str, variant_id: int, location_id: int, available: int, before: dict[str, Any], wait: float = 10.0
) -> dict[str, Any]:
    """What the restock engine made of the update, read back from the variant's restock state and campaign once
    the webhook worker stored the level (a few seconds at most locally)."""
    import time

    from backinstock.services import campaigns, restocks
    from backinstock.services.settings import settings_of

    repo = deps.restocks().restocks
    deadline = time.monotonic() + wait
    while repo.levels(shop_id, variant_id).get(location_id) != available and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # the flip and the campaign's claim follow the level's write in the same webhook
    delivery = settings_of(deps.shops().require(shop_id)).delivery
    campaign = repo.campaign(shop_id, variant_id) or {}
    total = restocks.available_total(repo.levels(shop_id, variant_id), delivery.locations)
    if repo.levels(shop_id, variant_id).get(location_id) != available:
        return {"campaign": None, "why": "the webhook worker has not run the update yet: see .local/server.log"}
    if campaign.get("campaign_id") and campaign.get("campaign_id") != before.get("campaign_id"):
        first = str(campaign.get("first_batch_at") or campaign["started_at"])
        wait_s = max(0, round((datetime.fromisoformat(first) - ids.now()).total_seconds()))
        batching = delivery.batching
        hour = deps.campaigns().seconds_per_hour
        how = (
            f"batches of {campaigns.batch_size_text(delivery)} every {batching.wait_hours} h (an hour lasts {hour} s "
            "in the local run)"
            if batching.enabled
            else "one batch: everyone waiting"
        )
        cool = campaigns.cooldown(delivery).total_seconds() / 3600
        when = (
            "sends now"
            if wait_s == 0
            else f"sends in {wait_s} s: the {cool:g} h cooldown after the variant's previous campaign's last batch "
            f"(an hour lasts {hour} s in the local run)"
        )
        return {"campaign": campaign["campaign_id"], "first_batch_at": first, "sends": when, "batching": how}
    if total < delivery.stock_threshold:
        return {
            "campaign": None,
            "why": f"out of stock ({total} available, stock_threshold {delivery.stock_threshold}): a later update "
            f"to at least {delivery.stock_threshold} restocks it",
        }
    if campaign.get("status") == "running":
        return {"campaign": None, "why": f"campaign {campaign['campaign_id']} of this variant is still running"}
    return {
        "campaign": None,
        "why": f"not a restock: the variant was in stock already ({total} available); a restock is a rise from below "
        f"stock_threshold ({delivery.stock_threshold}): send --available 0 first",
    }


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


# ------------------------------------------------------------------------------------------------------ preorders
def _offer_for(shop_id: str, variant_id: int, selling_plan_id: int | None) -> dict[str, Any]:
    """The offer of the plan given, else the newest offer attaching the variant."""
    ledger = deps.ledger()
    if selling_plan_id is not None:
        owner = ledger.offers.owners(shop_id, [selling_plan_id]).get(selling_plan_id)
        if owner is None:
            raise NotFound(f"selling plan {selling_plan_id} belongs to no offer of the shop")
        offer = ledger.offers.offer(shop_id, owner)
    else:
        found = ledger.offers.list_ids(shop_id, ids.now(), variant_id=variant_id)
        offer = ledger.offers.offer(shop_id, found[0]) if found else None
    if offer is None:
        raise NotFound(
            f"no offer attaches variant {variant_id}: create one with `backinstock offers create ... "
            f"--variant-id {variant_id}`, or pass --selling-plan-id"
        )
    return offer


def preorder(
    base_url: str,
    shop_id: str,
    variant_id: int,
    email: str,
    quantity: int,
    price: str,
    selling_plan_id: int | None = None,
    presentment_currency: str | None = None,
    rate: str = "1",
    name: str | None = None,
) -> dict[str, Any]:
    """orders/create with one preorder line: what checkout charged follows the offer's deposit (a percentage of
    the price, or a fixed amount per unit); the rest is outstanding. `presentment_currency` and `rate`: the order
    presented in another currency (presentment = shop amount x rate)."""
    from decimal import Decimal

    from backinstock import money

    offer = _offer_for(shop_id, variant_id, selling_plan_id)
    plan = selling_plan_id or int(offer["selling_plan_ids"][0])
    variant = deps.catalog().variant(shop_id, variant_id) or {}
    shop = deps.shops().require(shop_id)
    total = money.cents(Decimal(price) * quantity)
    if offer["deposit_type"] == "percentage":
        deposit = money.cents(total * Decimal(offer["deposit_value"]) / 100)
    else:
        deposit = min(total, money.cents(Decimal(offer["deposit_value"]) * quantity))
    factor = Decimal(rate)
    order_id = uuid.uuid4().int % 10**15
    first, _, last = (name or "").partition(" ")
    payload: dict[str, Any] = {
        "id": order_id,
        "name": f"#{order_id % 10000}",
        "email": email,
        "created_at": ids.iso(ids.now()),
        "currency": shop.currency,
        "presentment_currency": presentment_currency or shop.currency,
        "total_price": str(total),
        "total_price_set": _set(total, factor),
        "total_outstanding": str(total - deposit),
        "customer": {"email": email, "first_name": first or None, "last_name": last or None},
        "line_items": [
            {
                "id": order_id + 1,
                "variant_id": variant_id,
                "product_id": variant.get("product_id"),
                "price": price,
                "price_set": _set(money.amount(price), factor),
                "quantity": quantity,
                "selling_plan_id": plan,
                "discount_allocations": [],
            }
        ],
    }
    result = post_webhook(base_url, shop_id, "orders/create", payload)
    return {**result, "order_id": order_id, "offer_id": offer["offer_id"], "deposit": str(deposit)}


def _set(amount: Any, rate: Any) -> dict[str, Any]:
    from backinstock import money

    return {"shop_money": {"amount": str(amount)}, "presentment_money": {"amount": str(money.cents(amount * rate))}}


def balance(base_url: str, shop_id: str, order_id: int, amount: str | None, fail: bool) -> dict[str, Any]:
    """order_transactions/create: a charge of the balance (by default all that is still owed), succeeding or
    failing."""
    import time
    from decimal import Decimal

    from backinstock import money
    from backinstock.services.preorder_rollups import payments

    item = deps.ledger().orders.order(shop_id, str(order_id))
    deadline = time.monotonic() + 15  # an order just posted: the webhook worker's turn (longer on a busy machine)
    while amount is None and (item is None or "placed_at" not in item) and time.monotonic() < deadline:
        time.sleep(0.3)
        item = deps.ledger().orders.order(shop_id, str(order_id))
    if amount is None:
        if item is None or "placed_at" not in item:
            raise NotFound(
                f"order {order_id} is not in the preorder ledger after 15 s: was it posted with `simulate preorder`? "
                "(see .local/server.log), or pass --amount"
            )
        amount = money.render(sum((r[0] for r in payments(item)["remaining"]), Decimal(0)))
    payload = {
        "id": uuid.uuid4().int % 10**15,
        "order_id": order_id,
        "kind": "sale",
        "status": "failure" if fail else "success",
        "amount": amount,
        "currency": deps.shops().require(shop_id).currency,
        "processed_at": ids.iso(ids.now()),
        "gateway": "shopify_payments",
    }
    return {**post_webhook(base_url, shop_id, "order_transactions/create", payload), "amount": amount}


def cancel(base_url: str, shop_id: str, order_id: int, reason: str | None) -> dict[str, Any]:
    """orders/cancelled (`--reason` absent: Shopify sent none, counted as unknown)."""
    payload: dict[str, Any] = {"id": order_id, "cancelled_at": ids.iso(ids.now()), "cancel_reason": reason}
    return post_webhook(base_url, shop_id, "orders/cancelled", payload)


def refund(base_url: str, shop_id: str, order_id: int, amount: str) -> dict[str, Any]:
    """refunds/create with one successful refund transaction."""
    payload = {
        "id": uuid.uuid4().int % 10**15,
        "order_id": order_id,
        "created_at": ids.iso(ids.now()),
        "refund_line_items": [],
        "transactions": [
            {
                "id": uuid.uuid4().int % 10**15,
                "kind": "refund",
                "status": "success",
                "amount": amount,
                "currency": deps.shops().require(shop_id).currency,
            }
        ],
    }
    return post_webhook(base_url, shop_id, "refunds/create", payload)
