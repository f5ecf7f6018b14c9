"""`backinstock shops ...`: create shops, connect them to Shopify, rotate and list their keys."""

from __future__ import annotations

import argparse
import os

from backinstock_tools import cli_args as t
from backinstock_tools.cli.common import Commands, _print


def cmd_shops_create(args: argparse.Namespace) -> int:
    from backinstock import deps
    from backinstock.services import shops

    _print(shops.create_shop(deps.shops(), args.domain, args.plan, args.currency, args.timezone, email=args.email))
    return 0


def cmd_shops_connect(args: argparse.Namespace) -> int:
    from backinstock import deps
    from backinstock.errors import ValidationFailed
    from backinstock.services import shops

    webhook_secret = args.webhook_secret or os.environ.get("SHOPIFY_WEBHOOK_SECRET", "")
    access_token = args.access_token or os.environ.get("SHOPIFY_ACCESS_TOKEN", "")
    if not webhook_secret or not access_token:
        raise ValidationFailed(
            "give the webhook secret and the access token (--webhook-secret / --access-token, or the "
            "SHOPIFY_WEBHOOK_SECRET / SHOPIFY_ACCESS_TOKEN environment variables, which stay out of shell history)"
        )
    result = shops.connect_shopify(
        deps.shops(), deps.shop_secrets(), args.shop_id, webhook_secret, access_token, args.email, args.admin_url
    )
    _print(result)
    return 0


def cmd_shops_rotate(args: argparse.Namespace) -> int:
    from backinstock import deps
    from backinstock.services import shops

    result = shops.rotate_key(deps.shops(), args.shop_id)
    _print({**result, "revoked": "the previous key no longer authenticates"})
    return 0


def cmd_shops_list(args: argparse.Namespace) -> int:
    """Every shop's id, one a line (for scripts: the rollup runbook rebuilds every shop)."""
    from backinstock import deps

    for shop in deps.shops().all_shops():
        print(shop.shop_id)
    return 0


def cmd_shops_sms_verification(args: argparse.Namespace) -> int:
    from backinstock import deps
    from backinstock.services import shops

    _print(shops.set_sms_verification(deps.shops(), args.shop_id, args.status))
    return 0


def register(sub: Commands) -> None:
    """`shops create | connect-shopify | list | rotate-key | sms-verification`."""
    shops = sub.add_parser("shops", help="manage shops and their API keys").add_subparsers(dest="shops", required=True)
    create = shops.add_parser("create", help="create a shop; prints its API key (shown once)")
    create.add_argument(
        "--domain",
        type=t.shop_rule("domain", "new-shop.myshopify.com", "new shop"),
        required=True,
        help="the shop's myshopify domain",
    )
    create.add_argument("--plan", type=t.shop_rule("plan", "growth", "gold"), default="free")
    create.add_argument("--currency", type=t.shop_rule("currency", "EUR", "euro"), default="USD")
    create.add_argument("--timezone", type=t.shop_rule("timezone", "Europe/Paris", "Mars/Olympus"), default="UTC")
    create.add_argument(
        "--email",
        type=t.shop_rule("email", "owner@example.com", "owner"),
        help="the merchant's email: alerts, scheduled reports, data requests",
    )
    create.set_defaults(func=cmd_shops_create)
    connect = shops.add_parser(
        "connect-shopify",
        help="store the shop's Shopify webhook secret and Admin API access token (Secrets Manager)",
    )
    connect.add_argument("--shop-id", type=t.shop_id(), required=True)
    connect.add_argument(
        "--webhook-secret", help="the app's client secret that signs webhooks ($SHOPIFY_WEBHOOK_SECRET)"
    )
    connect.add_argument("--access-token", help="the shop's Admin API access token ($SHOPIFY_ACCESS_TOKEN)")
    connect.add_argument(
        "--email",
        type=t.shop_rule("email", "owner@example.com", "owner"),
        help="the merchant's email: alerts, scheduled reports, data requests",
    )
    connect.add_argument(
        "--admin-url", type=t.url(), help="Admin API base URL override (default https://<shop domain>)"
    )
    connect.set_defaults(func=cmd_shops_connect)
    listing = shops.add_parser("list", help="print every shop's id, one a line")
    listing.set_defaults(func=cmd_shops_list)
    rotate = shops.add_parser("rotate-key", help="issue a new API key and revoke the current one")
    rotate.add_argument("--shop-id", type=t.shop_id(), required=True)
    rotate.set_defaults(func=cmd_shops_rotate)
    verify = shops.add_parser(
        "sms-verification", help="record the outcome of a shop's SMS restricted-content verification"
    )
    verify.add_argument("--shop-id", type=t.shop_id(), required=True)
    verify.add_argument("--status", required=True, choices=("pending", "verified", "rejected"))
    verify.set_defaults(func=cmd_shops_sms_verification)
