"""The catalog from Shopify's product webhooks: `products/create` and `products/update` store every variant with
its titles, handle and inventory item; an update drops the variants the product no longer has; `products/delete`
drops them all. Shopify's `updated_at` orders the updates: an older delivery never overwrites a newer one."""

from __future__ import annotations

from typing import Any

from backinstock.repositories.catalog import CatalogRepository


def on_product(catalog: CatalogRepository, shop_id: str, product: dict[str, Any]) -> dict[str, int]:
    product_id = int(product["id"])
    updated_at = str(product.get("updated_at") or product.get("created_at") or "")
    stored = skipped = 0
    present: set[int] = set()
    for variant in product.get("variants") or []:
        variant_id = int(variant["id"])
        present.add(variant_id)
        item_id = variant.get("inventory_item_id")
        written = catalog.put_variant(
            shop_id,
            variant_id,
            product_id,
            variant.get("title"),
            product.get("title"),
            product.get("handle"),
            inventory_item_id=int(item_id) if item_id else None,
            product_updated_at=updated_at or None,
        )
        stored, skipped = (stored + 1, skipped) if written else (stored, skipped + 1)
    gone = [v for v in catalog.product_variants(shop_id, product_id) if int(v["variant_id"]) not in present]
    if skipped == 0 and gone:  # an older, skipped delivery must not delete what a newer one added
        catalog.delete_variants(shop_id, gone)
    return {"stored": stored, "skipped_stale": skipped, "removed": len(gone) if skipped == 0 else 0}


def on_product_delete(catalog: CatalogRepository, shop_id: str, product: dict[str, Any]) -> dict[str, int]:
    variants = catalog.product_variants(shop_id, int(product["id"]))
    catalog.delete_variants(shop_id, variants)
    return {"removed": len(variants)}
