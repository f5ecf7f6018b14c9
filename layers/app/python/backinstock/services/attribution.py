"""Orders to conversions: attribute each line of a new order to a restock alert the customer received.

A line is attributed when a notification for its product was sent to the order's customer (matched on email or
phone) within `ATTRIBUTION_WINDOW` (7 days) before the order. Confidence:
- `high`: the order carries our UTM marker (`utm_source=backinstock` in `landing_site` or a note attribute): the
  customer came through an alert link;
- `medium`: no marker, but the customer was alerted for that exact variant;
- `low`: no marker, alerted for another variant of the same product.
Reports count medium and high as conversions. Revenue = line price x quantity - the line's discounts, exact
decimals (the order's currency, which Shopify gives in the shop's currency). The most recent matching alert wins.

With `tagging.order_tags.enabled`, an order with a medium or high attribution gets the configured tag through the
Admin GraphQL API (`tagsAdd`). Throttling is retried by the client, then by SQS redelivery (the attributions are
already stored, conditionally, so a replay changes nothing); a rejected token or a Shopify user error is logged
as an error and not retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger

from backinstock import ids, money
from backinstock.models.signups import E164, normalize_email, normalize_phone
from backinstock.repositories.attributions import AttributionRepository
from backinstock.repositories.shops import Shop
from backinstock.services.settings import settings_of

logger = Logger(child=True)

ATTRIBUTION_WINDOW = timedelta(days=7)
UTM_MARKER = "utm_source=backinstock"
CONVERSION_CONFIDENCES = ("high", "medium")


@dataclass(frozen=True)
class Attribution:
    attributions: AttributionRepository
    shopify: Callable[[Shop], Any]  # shop -> Admin API client (`providers.shopify.ShopifyAdmin`), or None


def parse_time(value: Any, default: datetime) -> datetime:
    if not isinstance(value, str) or not value:
        return default
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return default
    return moment if moment.tzinfo else moment.replace(tzinfo=default.tzinfo)


def _exact(value: Any) -> Decimal:
    """An amount of the payload as Shopify wrote it (not rounded yet), 0 when absent or not a finite number."""
    return money.parse(value) or Decimal(0)


def line_revenue(line: dict[str, Any]) -> Decimal:
    """price x quantity - the line's discounts, rounded once, to the cent (half up: `money.cents`)."""
    gross = _exact(line.get("price")) * int(line.get("quantity") or 0)
    allocations = line.get("discount_allocations")
    discount = (
        sum((_exact(d.get("amount")) for d in allocations), Decimal("0"))
        if isinstance(allocations, list) and allocations
        else _exact(line.get("total_discount"))
    )
    return money.cents(max(gross - discount, Decimal("0")))


def contacts_of(order: dict[str, Any]) -> list[str]:
    """The order customer's email and phone, normalised as signups store them."""
    customer = order.get("customer") or {}
    found: list[str] = []
    for value in (order.get("email"), order.get("contact_email"), customer.get("email")):
        if isinstance(value, str) and "@" in value:
            found.append(normalize_email(value))
    for value in (
        order.get("phone"),
        customer.get("phone"),
        (order.get("billing_address") or {}).get("phone"),
        (order.get("shipping_address") or {}).get("phone"),
    ):
        if isinstance(value, str) and value.strip():
            phone = normalize_phone(value)
            if E164.match(phone):
                found.append(phone)
    return list(dict.fromkeys(found))


def has_marker(order: dict[str, Any]) -> bool:
    if UTM_MARKER in str(order.get("landing_site") or ""):
        return True
    for attribute in order.get("note_attributes") or []:
        if not isinstance(attribute, dict):
            continue
        name, value = str(attribute.get("name", "")), str(attribute.get("value", ""))
        if UTM_MARKER in value or (name == "utm_source" and value == "backinstock"):
            return True
    return False


def attribute_order(
    attribution: Attribution, shop: Shop, order: dict[str, Any], now: datetime | None = None
) -> dict[str, Any]:
    moment = now or ids.now()
    order_id = str(order["id"])
    ordered_at = parse_time(order.get("created_at"), moment)
    contacts = contacts_of(order)
    marker = has_marker(order)
    currency = str(order.get("currency") or shop.currency)
    candidates: dict[int, list[dict[str, Any]]] = {}
    attributed: list[dict[str, Any]] = []
    for line in order.get("line_items") or []:
        variant_id, product_id = line.get("variant_id"), line.get("product_id")
        if not variant_id or not product_id or not contacts:
            continue
        if product_id not in candidates:
            candidates[product_id] = attribution.attributions.sent_to(
                shop.shop_id, int(product_id), contacts, ordered_at - ATTRIBUTION_WINDOW, ordered_at
            )
        sent = candidates[product_id]
        same_variant = [n for n in sent if int(n["variant_id"]) == int(variant_id)]
        pool = same_variant or sent
        if not pool:
            continue
        chosen = pool[-1]
        confidence = "high" if marker else ("medium" if same_variant else "low")
        item = {
            "shop_id": shop.shop_id,
            "order_id": order_id,
            "order_name": order.get("name"),
            "line_item_id": str(line.get("id")),
            "variant_id": int(variant_id),
            "product_id": int(product_id),
            "signup_id": chosen["signup_id"],
            "notification_id": chosen["notification_id"],
            "channel": chosen["channel"],
            "confidence": confidence,
            "quantity": int(line.get("quantity") or 0),
            "revenue": str(line_revenue(line)),
            "currency": currency,
            "ordered_at": ids.iso(ordered_at),
            "notified_at": chosen.get("sent_at"),
            "created_at": ids.iso(moment),
        }
        item["new"] = attribution.attributions.record({k: v for k, v in item.items() if k != "new"})
        attributed.append(item)
    tagged = _tag(attribution, shop, order_id, attributed)
    logger.info(
        "order attributed",
        extra={
            "order_id": order_id,
            "lines": len(order.get("line_items") or []),
            "attributed": len(attributed),
            "confidences": sorted({i["confidence"] for i in attributed}),
            "tagged": tagged,
        },
    )
    return {"order_id": order_id, "attributions": attributed, "tagged": tagged}


def _tag(attribution: Attribution, shop: Shop, order_id: str, attributed: list[dict[str, Any]]) -> str | None:
    from backinstock.providers.shopify import ShopifyAuthError, ShopifyUserError

    tags = settings_of(shop).tagging.order_tags
    if not tags.enabled or not any(i["confidence"] in CONVERSION_CONFIDENCES for i in attributed):
        return None
    client = attribution.shopify(shop)
    if client is None:
        logger.error("order tag not added: the shop is not connected to Shopify", extra={"order_id": order_id})
        return None
    try:
        client.add_order_tags(order_id, [tags.tag])
    except (ShopifyAuthError, ShopifyUserError) as exc:
        logger.error("order tag not added; not retried", extra={"order_id": order_id, "error": type(exc).__name__})
        return None
    return tags.tag
