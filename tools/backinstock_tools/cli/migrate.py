"""`backinstock migrate keys`: move the signups and send-log rows of a stack deployed before issue 23 to their keys
(docs/DEPLOY.md, "Upgrading a stack deployed before issue 23")."""

from __future__ import annotations

import argparse
import sys

from backinstock_tools import cli_args as t
from backinstock_tools.cli.common import Commands, Stop, _print


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_migrate_keys(args: argparse.Namespace) -> int:
    """Move (or with --dry-run count) the old rows of one shop or of every shop; exit 1 when a row could not move."""
    from backinstock import deps
    from backinstock.services import migration

    if (args.shop_id is None) == (not args.all):
        raise Stop("give --shop-id ID or --all")
    context = deps.key_migration()
    summary = migration.migrate_keys(
        context,
        migration.shop_ids(context, args.shop_id),
        dry_run=args.dry_run,
        progress=None if args.quiet else _progress,
    )
    _print(summary.as_dict())
    return 1 if summary.conflicts else 0


def register(sub: Commands) -> None:
    """`migrate keys`."""
    migrate = sub.add_parser("migrate", help="data migrations of an upgrade").add_subparsers(
        dest="migrate", required=True
    )
    keys = migrate.add_parser(
        "keys",
        help="move the signups and send-log rows a stack deployed before issue 23 wrote to their sharded keys "
        "(resumable: run it again after a stop; a moved shop has nothing left)",
    )
    keys.add_argument("--shop-id", "--shop", dest="shop_id", type=t.shop_id(), help="one shop")
    keys.add_argument("--all", action="store_true", help="every shop")
    keys.add_argument("--dry-run", action="store_true", help="count the rows to move, write nothing")
    keys.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    keys.set_defaults(func=cmd_migrate_keys)
