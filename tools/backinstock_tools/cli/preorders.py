"""`backinstock preorders counters`: the preorder rollup counters of a window."""

from __future__ import annotations

import argparse

from backinstock_tools import cli_args as t
from backinstock_tools.cli.common import Commands, _fail, _print


def cmd_preorders_counters(args: argparse.Namespace) -> int:
    """The preorder rollup counters of a window, as the reports will read them (until they exist)."""
    from datetime import timedelta

    from backinstock import deps, ids, money
    from backinstock.services import preorder_rollups as rollups

    deps.shops().require(args.shop_id)
    end = args.to or ids.now().date()  # dates already: the options' types are the report query's fields
    start = args.from_ or end - timedelta(days=29)
    if start > end:
        return _fail("--from must not be after --to")
    dimension = rollups.dimension_for(args.offer_id, args.product_id, args.variant_id, args.market_id, args.currency)
    found = rollups.totals(deps.rollups(), args.shop_id, dimension, start, end, list(rollups.COUNTERS))
    counters = {
        name: money.render(value) if name in rollups.AMOUNTS else int(value) for name, value in found.items() if value
    }
    # Customer rows follow every dimension the counters do (issue 24): every filter narrows the distinct count.
    customers = len(
        rollups.customers(
            deps.rollups(),
            args.shop_id,
            start,
            end,
            args.offer_id,
            args.currency,
            product_id=args.product_id,
            variant_id=args.variant_id,
            market_id=args.market_id,
        )
    )
    _print(
        {
            "window": {"from": start.isoformat(), "to": end.isoformat()},
            "dimension": dimension,
            "counters": counters,
            "distinct_customers": customers,
        }
    )
    return 0


def register(sub: Commands) -> None:
    """`preorders counters`."""
    query = "preorder_reports:SummaryQuery"  # the report filters (window, ids, currency): the API's rules and messages
    preorders = sub.add_parser("preorders", help="the preorder ledger's report counters")
    preorders_sub = preorders.add_subparsers(dest="preorders", required=True)
    counters = preorders_sub.add_parser(
        "counters", help="sum the preorder rollup counters of a window (default: the last 30 days), with filters"
    )
    counters.add_argument("--shop-id", type=t.shop_id(), required=True)
    counters.add_argument(
        "--from", dest="from_", type=t.model_field(query, "from_", "2026-11-01", "2026/11/01"), help="YYYY-MM-DD"
    )
    counters.add_argument(
        "--to", type=t.model_field(query, "to", "2026-11-30", "2026-13-01"), help="YYYY-MM-DD (default today, UTC)"
    )
    counters.add_argument("--offer-id", type=t.uuid_text())
    counters.add_argument("--product-id", type=t.shopify_id())
    counters.add_argument("--variant-id", type=t.shopify_id())
    counters.add_argument("--market-id", type=t.shopify_id())
    counters.add_argument(
        "--currency",
        type=t.model_field(query, "currency", "EUR", "euro"),
        help="presentment currency: only orders presented in it, in its amounts",
    )
    counters.set_defaults(func=cmd_preorders_counters)
