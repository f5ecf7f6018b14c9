"""Order attributions: `SHOP#<id> / ATTR#<order_id>#<line_item_id>`, one per attributed order line, written once
(conditional put: a redelivered `orders/create` changes nothing). `GSI1` (`SHOP#<id>#VARIANT#<v>` /
`ATTR#<ordered_at>#<order>#<line>`) lists a variant's attributions in time order.

The candidate notifications of an order line are read from the product index (`GSI2`, `NOTIF#` sort keys within
the attribution window as a key range: UUIDv7 ids are time-ordered), filtered on the customer's contact and on
`status = sent`: the product's 16 sharded log keys (`notifications.product_log_partitions`), one Query each, merged
oldest first (`shards.merged`), for each distinct product of the order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backinstock.ids import id_bounds
from backinstock.repositories.base import Repository, from_item, key, to_item
from backinstock.repositories.notifications import NOTIF, product_log_partitions
from backinstock.repositories.shards import merged


class AttributionRepository(Repository):
    def record(self, item: dict[str, Any]) -> bool:
        """Store one attribution; False if this order line was attributed before."""
        shop_id = item["shop_id"]
        values = {
            **item,
            "entity": "attribution",
            "GSI1PK": f"SHOP#{shop_id}#VARIANT#{item['variant_id']}",
            "GSI1SK": f"ATTR#{item['ordered_at']}#{item['order_id']}#{item['line_item_id']}",
        }
        return self.put_if(
            {**key(f"SHOP#{shop_id}", f"ATTR#{item['order_id']}#{item['line_item_id']}"), **to_item(values)}
        )

    def of_order(self, shop_id: str, order_id: str) -> list[dict[str, Any]]:
        return [
            from_item(i)
            for i in self.query(
                KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                ExpressionAttributeValues={":pk": {"S": f"SHOP#{shop_id}"}, ":prefix": {"S": f"ATTR#{order_id}#"}},
            )
        ]

    def sent_to(
        self, shop_id: str, product_id: int, contacts: list[str], start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """Notifications sent for a product to any of `contacts` between `start` and `end`, oldest first."""
        if not contacts:
            return []
        low, high = id_bounds(start, end)
        values: dict[str, Any] = {
            ":low": {"S": NOTIF + low},
            ":high": {"S": NOTIF + high},
            ":sent": {"S": "sent"},
            **{f":c{i}": {"S": c} for i, c in enumerate(contacts)},
        }
        template: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "GSI2",
            "KeyConditionExpression": "GSI2PK = :pk AND GSI2SK BETWEEN :low AND :high",
            "FilterExpression": "#s = :sent AND contact IN (" + ", ".join(f":c{i}" for i in range(len(contacts))) + ")",
            "ExpressionAttributeNames": {"#s": "status"},
        }
        requests = [
            {**template, "ExpressionAttributeValues": {**values, ":pk": {"S": pk}}}
            for pk in product_log_partitions(shop_id, product_id)
        ]
        return [from_item(i) for i in merged(self.client, requests, sort_key="GSI2SK")]
