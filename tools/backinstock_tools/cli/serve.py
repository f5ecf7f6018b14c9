"""`backinstock serve`: the whole API locally (`make run`)."""

from __future__ import annotations

import argparse
import os

from backinstock_tools import cli_args as t
from backinstock_tools.cli.common import Commands
from backinstock_tools.local.run import DEFAULT_AWS_PORT, DEFAULT_PORT  # the standard library only: cheap


def cmd_serve(args: argparse.Namespace) -> int:
    from backinstock_tools.local.run import serve

    return serve(args)


def register(sub: Commands) -> None:
    """`serve` and its options."""
    serve = sub.add_parser("serve", help="start the whole API locally")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument(
        "--port",
        type=t.integer(0, 65535, "4280"),
        default=DEFAULT_PORT,
        help=f"the API's port (default {DEFAULT_PORT}; `make run PORT=n`)",
    )
    serve.add_argument(
        "--aws-port",
        type=t.integer(0, 65535, "4281"),
        default=int(os.environ.get("MOTO_PORT", str(DEFAULT_AWS_PORT))),
        help=f"the local AWS's (moto's) port (default {DEFAULT_AWS_PORT}, or $MOTO_PORT; `make run AWS_PORT=n`)",
    )
    serve.add_argument("--info-file", help="write {base_url, aws_endpoint, shop_id, api_key} as JSON here")
    serve.add_argument(
        "--demo-domain",
        type=t.shop_rule("domain", "demo-shop.myshopify.com", "demo shop"),
        default="demo-shop.myshopify.com",
    )
    serve.add_argument(
        "--demo-plan",
        type=t.shop_rule("plan", "growth", "gold"),
        default="growth",
        help="the demo shop's plan (default growth: 360 rate-limit points a minute; enterprise: the high limit)",
    )
    serve.add_argument("--log-file", default=".local/server.log", help="where logs go (default .local/server.log)")
    serve.add_argument("--verbose", action="store_true", help="logs on the console instead of the log file")
    serve.add_argument(
        "--seed-signups",
        type=t.integer(0),
        default=0,
        help="write a demo history of N signups in the background after start-up (`backinstock seed`; default 0)",
    )
    serve.add_argument("--seed-preorders", type=t.integer(0), default=0, help="and N preorders with it (default 0)")
    serve.add_argument("--seed-days", type=t.integer(1), default=60, help="spread over the last D days (default 60)")
    serve.add_argument(
        "--email-rate",
        type=t.number(0.001, good="14"),
        help="the local SES's sending quota: beyond R emails a second it answers Throttling (and reports R as its "
        "MaxSendRate, which the send pace reads); default: no limit",
    )
    serve.add_argument(
        "--sms-rate",
        type=t.number(0.001, good="14"),
        help="the local SNS's SMS quota: beyond R a second it answers Throttled (the send worker's SMS_SEND_RATE is "
        "set to R); default: no limit",
    )
    serve.set_defaults(func=cmd_serve)
