"""The shop's catalog: variants with their product, titles and inventory item, kept by the Shopify product webhooks
(and the CLI and the demo seed). Every DynamoDB expression for it lives here.

Items:
- `SHOP#<id> / VARIANT#<variant_id>`: the variant; `GSI2PK=SHOP#<id>#PRODUCT#<product>`, `GSI2SK=VARIANT#<v>` lists a
  product's variants (the same product partition as its signups, told apart by the sort key prefix).
  `product_updated_at` (Shopify's `updated_at`) orders product webhooks: an older update never overwrites a newer one.
- `SHOP#<id> / INVITEM#<inventory_item_id>`: inventory item -> variant (inventory webhooks name the item only).
"""

from __future__ import annotations

from typing import Any

from backinstock.repositories.base import Repository, from_item, key, to_item

VARIANT = "VARIANT#"


def _shop_pk(shop_id: str) -> str:
    return f"SHOP#{shop_id}"


class CatalogRepository(Repository):
    def put_variant(
        self,
        shop_id: str,
        variant_id: int,
        product_id: int,
        title: str | None,
        product_title: str | None,
        handle: str | None = None,
        inventory_item_id: int | None = None,
        product_updated_at: str | None = None,
    ) -> bool:
        """Add or replace a variant (and its inventory item's pointer). With `product_updated_at`, only if no newer
        product update was stored: returns False when the write was older and skipped."""
        values = {
            "entity": "variant",
            "variant_id": variant_id,
            "product_id": product_id,
            "title": title,
            "product_title": product_title,
            "handle": handle,
            "inventory_item_id": inventory_item_id,
            "product_updated_at": product_updated_at,
            "GSI2PK": f"SHOP#{shop_id}#PRODUCT#{product_id}",
            "GSI2SK": f"{VARIANT}{variant_id}",
        }
        item = {**key(_shop_pk(shop_id), f"{VARIANT}{variant_id}"), **to_item(values)}
        if product_updated_at:
            newer = "attribute_not_exists(product_updated_at) OR product_updated_at <= :at"
            if not self.put_if(item, newer, values={":at": {"S": product_updated_at}}):
                return False
        else:
            self.client.put_item(TableName=self.table_name, Item=item)
        if inventory_item_id is not None:
            pointer = {"entity": "inventory_item", "variant_id": variant_id, "product_id": product_id}
            self.client.put_item(
                TableName=self.table_name,
                Item={**key(_shop_pk(shop_id), f"INVITEM#{inventory_item_id}"), **to_item(pointer)},
            )
        return True

    def variant(self, shop_id: str, variant_id: int) -> dict[str, Any] | None:
        return self.read(_shop_pk(shop_id), f"{VARIANT}{variant_id}", consistent=False)

    def variants(self, shop_id: str, variant_ids: list[int]) -> dict[int, dict[str, Any]]:
        """variant id -> catalog item, for the ids the catalog knows (BatchGetItem, eventually consistent)."""
        keys = [key(_shop_pk(shop_id), f"{VARIANT}{v}") for v in dict.fromkeys(variant_ids)]
        return {int(i["variant_id"]): i for i in self.batch_get(keys, consistent=False)} if keys else {}

    def variant_of_inventory_item(self, shop_id: str, inventory_item_id: int) -> dict[str, Any] | None:
        return self.read(_shop_pk(shop_id), f"INVITEM#{inventory_item_id}")

    def product_variants(self, shop_id: str, product_id: int) -> list[dict[str, Any]]:
        return [
            from_item(item)
            for item in self.query(
                IndexName="GSI2",
                KeyConditionExpression="GSI2PK = :pk AND begins_with(GSI2SK, :v)",
                ExpressionAttributeValues={
                    ":pk": {"S": f"SHOP#{shop_id}#PRODUCT#{product_id}"},
                    ":v": {"S": VARIANT},
                },
            )
        ]

    def delete_variants(self, shop_id: str, variants: list[dict[str, Any]]) -> None:
        requests: list[dict[str, Any]] = []
        for variant in variants:
            requests.append({"DeleteRequest": {"Key": key(_shop_pk(shop_id), f"{VARIANT}{variant['variant_id']}")}})
            if variant.get("inventory_item_id") is not None:
                item_key = key(_shop_pk(shop_id), f"INVITEM#{variant['inventory_item_id']}")
                requests.append({"DeleteRequest": {"Key": item_key}})
        self.batch_write(requests)
