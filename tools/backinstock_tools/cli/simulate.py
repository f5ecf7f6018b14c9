"""`backinstock simulate ...`: play Shopify against the local run (signed webhooks to the local server)."""

from __future__ import annotations

import argparse

from backinstock_tools import cli_args as t
from backinstock_tools.cli.common import Commands, _print, _read_info, _use_local


def cmd_simulate(args: argparse.Namespace) -> int:
    from backinstock_tools.local import simulate

    info = _read_info(args.local_info)
    _use_local(args.local_info)
    shop_id = args.shop_id or info["shop_id"]
    base = info["base_url"]
    for name in ("price", "amount", "rate"):  # Decimals (the options' types): as Shopify's payloads write them
        if getattr(args, name, None) is not None:
            setattr(args, name, str(getattr(args, name)))
    if args.simulate == "restock":
        result = simulate.restock(base, shop_id, args.variant_id, args.available, args.location_id)
    elif args.simulate == "order":
        result = simulate.order(
            base, shop_id, args.variant_id, args.email, args.quantity, args.price, args.via_alert_link
        )
    elif args.simulate == "preorder":
        result = simulate.preorder(
            base,
            shop_id,
            args.variant_id,
            args.email,
            args.quantity,
            args.price,
            args.selling_plan_id,
            args.presentment_currency,
            args.rate,
            args.name,
        )
    elif args.simulate == "balance":
        result = simulate.balance(base, shop_id, args.order_id, args.amount, args.fail)
    elif args.simulate == "cancel":
        result = simulate.cancel(base, shop_id, args.order_id, args.reason)
    else:
        result = simulate.refund(base, shop_id, args.order_id, args.amount)
    _print(result)
    return 0


def register(sub: Commands) -> None:
    """`simulate restock | order | preorder | balance | cancel | refund`."""
    email = t.model_field("signups:SignupCreate", "email", "jane@example.com", "jane")
    simulate = sub.add_parser(
        "simulate", help="play Shopify against the local run: post a signed webhook to the local server"
    ).add_subparsers(dest="simulate", required=True)
    restock = simulate.add_parser("restock", help="inventory_levels/update: set a variant's stock at a location")
    restock.add_argument("--variant-id", type=t.shopify_id(), required=True)
    restock.add_argument("--available", type=int, required=True, help="the new available quantity at the location")
    restock.add_argument("--location-id", type=t.shopify_id(), default=1)
    restock.add_argument("--shop-id", type=t.shop_id(), help="default: the demo shop")
    restock.set_defaults(func=cmd_simulate)
    order = simulate.add_parser("order", help="orders/create: one line of a variant, for attribution")
    order.add_argument("--variant-id", type=t.shopify_id(), required=True)
    order.add_argument("--email", type=email, required=True, help="the customer's email (an alerted customer converts)")
    order.add_argument("--quantity", type=t.integer(1, 10_000), default=1)
    order.add_argument("--price", type=t.amount(), default="25.00")
    order.add_argument("--via-alert-link", action="store_true", help="landing site carries our UTM marker (high)")
    order.add_argument("--shop-id", type=t.shop_id(), help="default: the demo shop")
    order.set_defaults(func=cmd_simulate)

    pre = simulate.add_parser("preorder", help="orders/create: one preorder line on an offer's selling plan")
    pre.add_argument("--variant-id", type=t.shopify_id(), required=True)
    pre.add_argument("--email", type=email, required=True, help="the customer's email")
    pre.add_argument("--name", help="the customer's name")
    pre.add_argument("--quantity", type=t.integer(1, 10_000), default=1)
    pre.add_argument("--price", type=t.amount(), default="40.00", help="unit price in the shop's currency")
    pre.add_argument(
        "--selling-plan-id",
        type=t.shopify_id("7101"),
        help="default: the first plan of the newest offer of the variant",
    )
    pre.add_argument(
        "--presentment-currency",
        type=t.model_field("preorder_reports:SummaryQuery", "currency", "EUR", "euro"),
        help="the customer's currency (default: the shop's)",
    )
    pre.add_argument("--rate", type=t.rate(), default="1", help="presentment amount = shop amount x rate (default 1)")
    pre.add_argument("--shop-id", type=t.shop_id(), help="default: the demo shop")
    pre.set_defaults(func=cmd_simulate)
    bal = simulate.add_parser("balance", help="order_transactions/create: a charge of a preorder's balance")
    bal.add_argument("--order-id", type=t.shopify_id("1001"), required=True)
    bal.add_argument("--amount", type=t.amount(), help="default: everything still owed")
    bal.add_argument("--fail", action="store_true", help="the charge fails (status failure)")
    bal.add_argument("--shop-id", type=t.shop_id(), help="default: the demo shop")
    bal.set_defaults(func=cmd_simulate)
    can = simulate.add_parser("cancel", help="orders/cancelled, with a reason")
    can.add_argument("--order-id", type=t.shopify_id("1001"), required=True)
    can.add_argument(
        "--reason", choices=("customer", "declined", "fraud", "inventory", "other", "staff"), help="absent: unknown"
    )
    can.add_argument("--shop-id", type=t.shop_id(), help="default: the demo shop")
    can.set_defaults(func=cmd_simulate)
    ref = simulate.add_parser("refund", help="refunds/create: a refund of an order")
    ref.add_argument("--order-id", type=t.shopify_id("1001"), required=True)
    ref.add_argument("--amount", type=t.amount(), required=True)
    ref.add_argument("--shop-id", type=t.shop_id(), help="default: the demo shop")
    ref.set_defaults(func=cmd_simulate)
