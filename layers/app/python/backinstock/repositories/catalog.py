"""The shop's catalog: variants with their product and titles, kept by the CLI and the demo seed today, by the
Shopify product webhooks later. `SHOP#<id> / VARIANT#<variant_id>`."""

from __future__ import annotations

from typing import Any

from backinstock.repositories.base import Repository, key, to_item


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
    ) -> None:
        values = {
            "entity": "variant",
            "variant_id": variant_id,
            "product_id": product_id,
            "title": title,
            "product_title": product_title,
            "handle": handle,
        }
        item = {**key(_shop_pk(shop_id), f"VARIANT#{variant_id}"), **to_item(values)}
        self.client.put_item(TableName=self.table_name, Item=item)

    def variant(self, shop_id: str, variant_id: int) -> dict[str, Any] | None:
        return self.read(_shop_pk(shop_id), f"VARIANT#{variant_id}", consistent=False)
