"""`backinstock seed`: a realistic history (or a waitlist) written into a shop."""

from __future__ import annotations

import argparse
import sys

from backinstock_tools import cli_args as t
from backinstock_tools.cli.common import Commands, Stop, _print


def cmd_seed(args: argparse.Namespace) -> int:
    import time

    from backinstock_tools.local.seed import seed, seed_waitlist

    if args.signups < 1 or args.days < 1 or args.preorders < 0:
        raise Stop("--signups and --days must be at least 1, --preorders at least 0")
    started = time.monotonic()

    def progress(line: str) -> None:  # on stderr: stdout stays the JSON summary
        print(f"seed: {line} ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)

    if args.waiting_on is not None:
        _print({"shop_id": args.shop_id, **seed_waitlist(args.shop_id, args.waiting_on, args.signups, progress)})
        return 0

    counts = seed(args.shop_id, args.signups, args.days, args.seed, preorders=args.preorders, progress=progress)
    _print({"shop_id": args.shop_id, "days": args.days, **counts})
    return 0


def register(sub: Commands) -> None:
    """`seed`."""
    seed_parser = sub.add_parser(
        "seed",
        help="write a realistic history (signups, sends, blocked sends, attributed orders; preorder offers, orders, "
        "balances, cancellations, refunds) into a shop",
    )
    seed_parser.add_argument("--shop-id", type=t.shop_id(), required=True)
    seed_parser.add_argument("--signups", type=t.integer(1), default=200, help="how many signups (default 200)")
    seed_parser.add_argument(
        "--days", type=t.integer(1, 3650), default=60, help="spread over the last D days (default 60)"
    )
    seed_parser.add_argument("--seed", type=int, default=7, help="random seed (same seed, same history shape)")
    seed_parser.add_argument(
        "--preorders",
        type=t.integer(0),
        default=30,
        help="preorder orders on two new offers, with balances, cancellations and refunds (default 30; 0: none)",
    )
    seed_parser.add_argument(
        "--waiting-on",
        type=t.shopify_id(),
        metavar="VARIANT_ID",
        help="instead of a history: --signups customers waiting for this variant now (a restock to watch)",
    )
    seed_parser.set_defaults(func=cmd_seed)
