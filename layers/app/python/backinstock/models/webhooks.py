"""The payload each Shopify webhook topic must carry (`services.webhooks.receive` checks it before queueing).

Shopify signs a webhook's body, not its `X-Shopify-Topic` header: without a shape per topic a signed body could be
replayed under another topic (an `inventory_levels/update` as a `shop/redact`). Each model requires the fields that
identify its topic's payload, with their types, so that no topic's payload passes as another's. Unknown fields are
allowed (Shopify adds fields in every API version) and ids are integers of any size (Shopify's ids exceed 2^53).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

# The most units one order line may carry: the preorder ledger adds a line's quantity (and price x quantity) to the
# shop's totals, and an order of 10^18 units is no order; its webhook is refused (422) and counts nothing.
MAX_LINE_QUANTITY = 1_000_000


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class InventoryLevel(_Payload):
    inventory_item_id: StrictInt
    location_id: StrictInt
    available: StrictInt | None = None


class Product(_Payload):
    id: StrictInt
    variants: list[dict[str, Any]]


# Fields that identify another topic's payload: a deletion names a product id and nothing of the kind.
_NOT_A_DELETION = ("variants", "line_items", "inventory_item_id", "order_id", "customer", "shop_domain", "shop_id")


class ProductDeletion(_Payload):
    id: StrictInt

    @model_validator(mode="after")
    def only_an_id(self) -> ProductDeletion:
        carried = sorted(f for f in _NOT_A_DELETION if f in (self.model_extra or {}))
        if carried:
            raise ValueError(f"a products/delete payload names only the product's id, not {', '.join(carried)}")
        return self


class LineItem(_Payload):
    quantity: Annotated[StrictInt, Field(ge=0, le=MAX_LINE_QUANTITY)] | None = None


class Order(_Payload):
    id: StrictInt
    line_items: list[LineItem]


class CancelledOrder(_Payload):
    id: StrictInt
    cancelled_at: StrictStr
    line_items: list[LineItem] = []


class OrderTransaction(_Payload):
    id: StrictInt
    order_id: StrictInt
    kind: StrictStr


class Refund(_Payload):
    id: StrictInt
    order_id: StrictInt
    transactions: list[dict[str, Any]]


class Customer(_Payload):
    id: StrictInt | None = None
    email: StrictStr | None = None
    phone: StrictStr | None = None


class DataRequestId(_Payload):
    id: StrictInt


class _ShopPayload(_Payload):
    """A privacy payload names its shop: both must be the shop of the header and of the secret that verified it."""

    shop_id: StrictInt
    shop_domain: StrictStr


class ShopRedact(_ShopPayload):
    pass


class CustomerRedact(_ShopPayload):
    customer: Customer
    orders_to_redact: list[StrictInt]


class CustomerDataRequest(_ShopPayload):
    customer: Customer
    orders_requested: list[StrictInt]
    data_request: DataRequestId


TOPIC_PAYLOADS: dict[str, type[_Payload]] = {
    "inventory_levels/update": InventoryLevel,
    "products/create": Product,
    "products/update": Product,
    "products/delete": ProductDeletion,
    "orders/create": Order,
    "orders/cancelled": CancelledOrder,
    "order_transactions/create": OrderTransaction,
    "refunds/create": Refund,
    "customers/data_request": CustomerDataRequest,
    "customers/redact": CustomerRedact,
    "shop/redact": ShopRedact,
}

# Shopify sends each of these once per request; the same body again (under any event id) is a replay.
PRIVACY_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
