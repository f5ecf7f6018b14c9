"""The preorder order ledger and its customers. Every DynamoDB expression for them lives here.

Items (docs/DATA_MODEL.md, "Preorders: the order ledger"):
- `SHOP#<id> / PREORDER#<order_id>`: one item per Shopify order with preorder lines, keyed by Shopify's order id.
  `placed_at` and `lines` are written once, by `orders/create` (conditional on `placed_at` being absent). What
  happens to the order later is one attribute per event, keyed by Shopify's ids: `txn:<transaction id>`,
  `refund:<refund id>`, `cancel`; each is written if absent, so a delivery seen twice (under any event id) changes
  nothing. An event that arrives before its order is stored the same way on an item without `placed_at` (a
  "waiting" item, expiring after `WAITING_RETENTION` through the table's TTL unless its order arrives): the order's
  write keeps it and removes the expiry. The report rollups are a function of the item's whole state (the stream
  aggregator adds `counters(new) - counters(old)`), so arrival order never matters.
- `SHOP#<id> / PRECUSTOMER#<customer key>`: the customer's email and name as their latest preorder gave them, and
  `last_order_at`. The only preorder item that holds personal data (`customers/redact` deletes it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from backinstock.keys import TTL_ATTRIBUTE
from backinstock.repositories.base import Repository, key, serialize

ORDER = "PREORDER#"
CUSTOMER = "PRECUSTOMER#"
WAITING_RETENTION = timedelta(days=7)  # Shopify retries a webhook for 48 hours: an order later than this never comes
_ATTEMPTS = 4


def _shop_pk(shop_id: str) -> str:
    return f"SHOP#{shop_id}"


class PreorderRepository(Repository):
    # ------------------------------------------------------------------------------------------------- orders
    def order(self, shop_id: str, order_id: str) -> dict[str, Any] | None:
        return self.read(_shop_pk(shop_id), ORDER + order_id)

    def record_order(self, shop_id: str, order_id: str, values: dict[str, Any]) -> bool:
        """Write a placed order once: False when it was recorded before (the same order under another event id).
        Events stored while it was waiting stay; the waiting item's expiry goes."""
        fields = {"entity": "preorder", "shop_id": shop_id, "order_id": order_id, **values}
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        sets = ", ".join(f"#f{i} = :f{i}" for i in range(len(fields)))
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=key(_shop_pk(shop_id), ORDER + order_id),
                UpdateExpression=f"SET {sets} REMOVE #ttl",
                ConditionExpression="attribute_not_exists(placed_at)",
                ExpressionAttributeNames={**names, "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={f":f{i}": serialize(v) for i, v in enumerate(fields.values())},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def add_event(self, shop_id: str, order_id: str, name: str, event: dict[str, Any], now: datetime) -> str:
        """Store one event of an order once: `added` (the order is known), `waiting` (stored until the order
        arrives) or `duplicate` (this event was stored before).

        Two conditional writes, so that a waiting item's expiry is never set on a known order: the first adds the
        event to a placed order; if there is none, the second stores it on a waiting item (created if need be). An
        order recorded between the two makes the second fail too: then the first is tried again."""
        item_key = key(_shop_pk(shop_id), ORDER + order_id)
        names = {"#e": name}
        for _ in range(_ATTEMPTS):
            try:
                self.client.update_item(
                    TableName=self.table_name,
                    Key=item_key,
                    UpdateExpression="SET #e = :e",
                    ConditionExpression="attribute_exists(placed_at) AND attribute_not_exists(#e)",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={":e": serialize(event)},
                )
                return "added"
            except self.client.exceptions.ConditionalCheckFailedException:
                pass
            expires_at = int((now + WAITING_RETENTION).timestamp())
            try:
                self.client.update_item(
                    TableName=self.table_name,
                    Key=item_key,
                    UpdateExpression="SET #e = :e, entity = :entity, shop_id = :shop, order_id = :order, "
                    "#ttl = if_not_exists(#ttl, :expires)",
                    ConditionExpression="attribute_not_exists(placed_at) AND attribute_not_exists(#e)",
                    ExpressionAttributeNames={**names, "#ttl": TTL_ATTRIBUTE},
                    ExpressionAttributeValues={
                        ":e": serialize(event),
                        ":entity": {"S": "preorder"},
                        ":shop": {"S": shop_id},
                        ":order": {"S": order_id},
                        ":expires": {"N": str(expires_at)},
                    },
                )
                return "waiting"
            except self.client.exceptions.ConditionalCheckFailedException:
                pass
            current = self.order(shop_id, order_id) or {}
            if name in current:
                return "duplicate"
        raise RuntimeError(f"preorder event {name} of order {order_id} not stored after {_ATTEMPTS} attempts")

    # ---------------------------------------------------------------------------------------------- customers
    def touch_customer(self, shop_id: str, customer_key: str, profile: dict[str, Any], ordered_at: str) -> bool:
        """The customer's contact details as their latest preorder gives them (an older order, delivered late,
        changes nothing). False when a newer order was recorded already."""
        fields = {k: v for k, v in profile.items() if v is not None}
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":f{i}": serialize(v) for i, v in enumerate(fields.values())}
        sets = [f"#f{i} = :f{i}" for i in range(len(fields))]
        sets += ["entity = :entity", "customer_key = :key", "last_order_at = :at"]
        sets.append("first_order_at = if_not_exists(first_order_at, :at)")
        request: dict[str, Any] = {
            "Key": key(_shop_pk(shop_id), CUSTOMER + customer_key),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": "attribute_not_exists(last_order_at) OR last_order_at <= :at",
            "ExpressionAttributeValues": {
                **values,
                ":entity": {"S": "preorder_customer"},
                ":key": {"S": customer_key},
                ":at": {"S": ordered_at},
            },
        }
        if names:
            request["ExpressionAttributeNames"] = names
        return self.update_if(**request)

    def customers(self, shop_id: str, customer_keys: list[str]) -> dict[str, dict[str, Any]]:
        """customer key -> profile, for a page of the customers report (BatchGetItem, eventually consistent)."""
        keys = [key(_shop_pk(shop_id), CUSTOMER + k) for k in dict.fromkeys(customer_keys)]
        return {i["customer_key"]: i for i in self.batch_get(keys, consistent=False)} if keys else {}

    def customer_keys(self, shop_id: str, customer_keys: list[str]) -> list[str]:
        """Sort keys of the profiles that exist among these customer keys (the privacy redaction)."""
        return [CUSTOMER + k for k in self.customers(shop_id, customer_keys)]
