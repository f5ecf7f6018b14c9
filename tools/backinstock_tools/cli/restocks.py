"""`backinstock restocks watch`: a live progress bar of a restock campaign."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from backinstock_tools import cli_args as t
from backinstock_tools.cli.common import Commands, _fail, _read_info

BAR_WIDTH = 30
ENDED = ("completed", "cancelled", "stopped", "failed")


def progress_line(campaign: Any) -> str:
    """One line of a campaign's progress: a bar of its processed sends over the eligible ones, its counts, state."""
    counts = campaign.counts
    total = max(counts.eligible, counts.queued, 1)
    done = counts.sent + counts.blocked + counts.failed
    filled = min(BAR_WIDTH, round(BAR_WIDTH * done / total))
    state = campaign.state + (f" ({campaign.waiting_for})" if campaign.waiting_for else "")
    eta = f", done by about {campaign.estimated_finish_at}" if campaign.estimated_finish_at else ""
    return (
        f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}  sent {counts.sent}, blocked {counts.blocked}, "
        f"failed {counts.failed}, queued {counts.queued}  {state}{eta}"
    )


def cmd_restocks_watch(args: argparse.Namespace) -> int:
    """A live progress bar until the campaign ends: redrawn in place on a terminal, a line per change otherwise."""
    import time

    from backinstock import deps, ids
    from backinstock.services import restocks

    if not ids.is_uuid(args.id):
        return _fail(f"not a restock campaign id: {args.id!r} (a UUID, as GET /back_in_stock/restocks lists them)")
    shop_id = args.shop_id or (_read_info(args.local_info).get("shop_id") if args.local else None)
    if not shop_id:
        return _fail("pass --shop-id (the shop whose restock this is), or --local for the local run's demo shop")
    deps.shops().require(shop_id)
    book = deps.restock_book()
    tty = sys.stdout.isatty()
    shown = ""
    deadline = time.monotonic() + args.timeout if args.timeout else None
    while True:
        campaign = restocks.get_restock(book, shop_id, args.id)
        line = progress_line(campaign)
        if line != shown:
            print(("\r\x1b[2K" + line) if tty else line, end="" if tty else "\n", flush=True)
            shown = line
        if campaign.state in ENDED:
            break
        if deadline is not None and time.monotonic() > deadline:
            if tty:
                print()
            return _fail(f"restock {args.id} is still {campaign.state} after {args.timeout} s")
        time.sleep(args.interval)
    if tty:
        print()
    print(f"{campaign.state}: {campaign.outcome or ''}".rstrip(": "))
    return 0


def register(sub: Commands) -> None:
    """`restocks watch`."""
    restocks = sub.add_parser("restocks", help="restock campaigns (GET /back_in_stock/restocks)")
    restocks_sub = restocks.add_subparsers(dest="restocks", required=True)
    watch = restocks_sub.add_parser("watch", help="a live progress bar of a restock campaign until it ends")
    watch.add_argument("id", type=t.uuid_text(), help="the campaign's id (POST /back_in_stock/restocks answers it)")
    watch.add_argument("--shop-id", type=t.shop_id(), help="the shop (default with --local: the local run's demo shop)")
    watch.add_argument("--interval", type=t.number(0), default=1.0, help="seconds between two reads (default 1)")
    watch.add_argument(
        "--timeout", type=t.number(0, good="10"), default=0, help="give up after this many seconds (default: never)"
    )
    watch.set_defaults(func=cmd_restocks_watch)
