"""`backinstock catalog add`: a variant of a shop's catalog."""

from __future__ import annotations

import argparse

from backinstock_tools import cli_args as t
from backinstock_tools.cli.common import Commands, _print


def cmd_catalog_add(args: argparse.Namespace) -> int:
    from backinstock import deps

    deps.shops().require(args.shop_id)  # a typo'd shop id is an error, not an orphan catalog row
    deps.catalog().put_variant(
        args.shop_id,
        args.variant_id,
        args.product_id,
        args.title,
        args.product_title,
        args.handle,
        inventory_item_id=args.inventory_item_id,
    )
    _print(
        {
            "shop_id": args.shop_id,
            "variant_id": args.variant_id,
            "product_id": args.product_id,
            "title": args.title,
            "product_title": args.product_title,
            "handle": args.handle,
            "inventory_item_id": args.inventory_item_id,
        }
    )
    return 0


def register(sub: Commands) -> None:
    """`catalog add`."""
    catalog = sub.add_parser("catalog", help="manage a shop's catalog (variants the waitlist refers to)")
    catalog_sub = catalog.add_subparsers(dest="catalog", required=True)
    add = catalog_sub.add_parser("add", help="add or replace one variant of a shop's catalog")
    add.add_argument("--shop-id", type=t.shop_id(), required=True)
    add.add_argument("--variant-id", type=t.shopify_id(), required=True, help="Shopify variant id")
    add.add_argument("--product-id", type=t.shopify_id("9001"), required=True, help="Shopify product id")
    add.add_argument("--title", help="the variant's title, e.g. 'Small / Blue'")
    add.add_argument("--product-title", help="the product's title, shown in restock messages")
    add.add_argument("--handle", help="the product's handle, for the product link in messages")
    add.add_argument(
        "--inventory-item-id", type=t.shopify_id(), help="Shopify inventory item: its inventory webhooks restock it"
    )
    add.set_defaults(func=cmd_catalog_add)
