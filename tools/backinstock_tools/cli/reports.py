"""`backinstock reports ...`: scheduled reports, and the report counters' verify, rebuild and failures."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from backinstock_tools import cli_args as t
from backinstock_tools.cli.common import Commands, Stop, _print


def cmd_reports_send_scheduled(args: argparse.Namespace) -> int:
    from backinstock import deps
    from backinstock.services import merchant_alerts

    _print({"period": args.period, **merchant_alerts.send_scheduled_reports(deps.merchant_alerts(), args.period)})
    return 0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _print_differences(differences: list[Any]) -> None:
    print("report\tdimension\tbucket\tcounter\tstored\texpected")
    for d in differences:
        row = d.as_dict()
        print("\t".join(str(row[k]) for k in ("report", "dimension", "bucket", "counter", "stored", "expected")))


def cmd_reports_verify(args: argparse.Namespace) -> int:
    """Recompute a shop's report counters from its base records and compare: exit 1 when any differs."""
    from backinstock import deps
    from backinstock.services import rollup_audit

    if args.from_ and args.to and args.from_ > args.to:
        raise Stop("--from must not be after --to")
    deps.shops().require(args.shop_id)
    result = rollup_audit.verify(deps.rollups(), args.shop_id, args.from_, args.to, None if args.quiet else _progress)
    if args.json:
        _print(result.as_dict())
    else:
        if result.differences:
            _print_differences(result.differences)
        print(
            f"shop {result.shop_id}: {result.records} base records, {result.slots} counter slots compared, "
            f"{len(result.differences)} differences"
        )
    return 1 if result.differences else 0


def cmd_reports_rebuild(args: argparse.Namespace) -> int:
    """Rewrite a shop's report counters from its base records until `verify` is clean (resumable: --state)."""
    import time

    from backinstock import deps, ids
    from backinstock.services import rollup_audit

    deps.shops().require(args.shop_id)
    path = Path(args.state or f".backinstock/rebuild-{args.shop_id}.json")
    state: dict[str, Any] | None = None
    if path.exists():
        state = json.loads(path.read_text())
        if not args.quiet:
            _progress(f"resuming the rebuild saved in {path}")
    path.parent.mkdir(parents=True, exist_ok=True)

    def save(current: dict[str, Any]) -> None:
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(current))
        partial.replace(path)  # atomic: a kill leaves the previous page's state or this one

    settle = args.settle if args.settle is not None else (2.0 if args.local else 60.0)
    result = rollup_audit.rebuild(
        deps.rollups(),
        args.shop_id,
        ids.now(),
        settle=lambda: time.sleep(settle),
        state=state,
        save=save,
        progress=None if args.quiet else _progress,
        max_passes=args.max_passes,
    )
    if result.clean:
        path.unlink(missing_ok=True)
    _print(result.as_dict())
    return 0 if result.clean else 1


def cmd_reports_failures(args: argparse.Namespace) -> int:
    """The shops whose stream records the rollup aggregator gave up on (RollupFailures); `--clear` deletes the
    messages of shops rebuilt since."""
    from backinstock import aws
    from backinstock_tools import rollup_failures

    queue_url = args.queue_url or os.environ.get("ROLLUP_FAILURES_QUEUE_URL")
    if not queue_url:
        raise Stop("--queue-url (or ROLLUP_FAILURES_QUEUE_URL): the RollupFailures queue's URL")
    sqs = aws.client("sqs")
    messages = rollup_failures.read(sqs, aws.client("dynamodbstreams"), queue_url)
    shops = sorted({shop for m in messages for shop in m["shops"] or []})
    unknown = sum(1 for m in messages if m["shops"] is None)
    cleared = 0
    if args.clear:
        cleared = rollup_failures.clear(sqs, queue_url, messages, set(args.rebuilt or []), args.all_rebuilt)
    else:
        rollup_failures.release(sqs, queue_url, messages)
    _print(
        {
            "messages": [{k: v for k, v in m.items() if k != "receipt"} for m in messages],
            "shops": shops,
            "messages_without_records": unknown,
            "cleared": cleared,
        }
    )
    return 0


def register(sub: Commands) -> None:
    """`reports send-scheduled | verify | rebuild | failures`."""
    query = "preorder_reports:SummaryQuery"  # the report filters (window, ids, currency): the API's rules and messages
    reports = sub.add_parser("reports", help="merchant reports").add_subparsers(dest="reports", required=True)
    scheduled = reports.add_parser(
        "send-scheduled",
        help="email the last complete period's summary to every shop that enabled it (EventBridge does it in AWS)",
    )
    scheduled.add_argument("--period", required=True, choices=("daily", "weekly", "monthly"))
    scheduled.set_defaults(func=cmd_reports_send_scheduled)
    verify = reports.add_parser(
        "verify",
        help="recompute a shop's report counters from its signups, sends, attributions and preorder orders and "
        "print every difference with the stored ones (exit 1 when there is one)",
    )
    verify.add_argument("--shop-id", type=t.shop_id(), required=True)
    verify.add_argument(
        "--from",
        dest="from_",
        type=t.model_field(query, "from_", "2026-11-01", "2026/11/01"),
        help="only buckets from this date (YYYY-MM-DD)",
    )
    verify.add_argument(
        "--to",
        type=t.model_field(query, "to", "2026-11-30", "2026-13-01"),
        help="only buckets up to this date (YYYY-MM-DD)",
    )
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    verify.set_defaults(func=cmd_reports_verify)
    rebuild = reports.add_parser(
        "rebuild",
        help="rewrite a shop's report counters so that verify is clean (paged, resumable, safe under traffic)",
    )
    rebuild.add_argument("--shop-id", type=t.shop_id(), required=True)
    rebuild.add_argument(
        "--settle",
        type=t.number(0),
        help="seconds between passes, longer than the stream's lag (IteratorAge) (default 60; 2 with --local)",
    )
    rebuild.add_argument("--max-passes", type=t.integer(1), default=6, help="give up after N passes (default 6)")
    rebuild.add_argument(
        "--state",
        help="the file that saves progress; a rebuild started again resumes from it "
        "(default .backinstock/rebuild-<shop id>.json)",
    )
    rebuild.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    rebuild.set_defaults(func=cmd_reports_rebuild)
    failures = reports.add_parser(
        "failures",
        help="the shops of the stream records on RollupFailures (read back from the stream while it holds them)",
    )
    failures.add_argument(
        "--queue-url", type=t.url(), help="the RollupFailures queue (default: env ROLLUP_FAILURES_QUEUE_URL)"
    )
    failures.add_argument(
        "--clear", action="store_true", help="delete the messages whose shops were all rebuilt (--rebuilt)"
    )
    failures.add_argument(
        "--rebuilt", type=t.shop_id(), action="append", metavar="SHOP_ID", help="a shop rebuilt since (repeat)"
    )
    failures.add_argument(
        "--all-rebuilt",
        action="store_true",
        help="with --clear: every shop was rebuilt; delete every message read, those without records too",
    )
    failures.set_defaults(func=cmd_reports_failures)
