"""`backinstock`: the admin CLI and the local run.

    backinstock serve [--host 127.0.0.1] [--port 4280] [--aws-port 4281] [--info-file PATH] [--log-file PATH]
                      [--verbose] [--seed-signups N] [--seed-preorders N] [--seed-days D]
                      [--email-rate R] [--sms-rate R]
    backinstock shops create --domain DOMAIN [--plan PLAN] [--currency USD] [--timezone UTC]
    backinstock shops rotate-key --shop-id ID
    backinstock shops list
    backinstock catalog add --shop-id ID --variant-id N --product-id N [--title T] [--product-title T] [--handle H]
    backinstock offers create --shop-id ID --name NAME --selling-plan-id N [...] [--variant-id V[:P] ...]
                              (--deposit-percent P | --deposit-amount A)
                              [--balance-due-days D | --balance-due-date DATE] [--market-id M ...] [--status S]
    backinstock offers update --shop-id ID --offer-id ID [the create options; lists given are replaced]
    backinstock offers list --shop-id ID [--status S] [--variant-id V] [--product-id P] [--page N] [--per-page N]
    backinstock offers get --shop-id ID --offer-id ID
    backinstock preorders counters --shop-id ID [--from D] [--to D] [--offer-id ID] [--product-id N] [--variant-id N]
                                   [--market-id N] [--currency CUR]
    backinstock shops connect-shopify --shop-id ID [--webhook-secret S] [--access-token T] [--email E]
    backinstock simulate restock --variant-id N --available N [--location-id N]
    backinstock simulate order --variant-id N --email E [--quantity N] [--price P] [--via-alert-link]
    backinstock simulate preorder --variant-id N --email E [--quantity N] [--price P] [--selling-plan-id N]
    backinstock simulate balance --order-id N [--amount A] [--fail]
    backinstock simulate cancel --order-id N [--reason R]
    backinstock simulate refund --order-id N --amount A
    backinstock restocks watch ID [--shop-id ID] [--interval S] [--timeout S]   (a live progress bar until it ends)
    backinstock outbox [--limit N] [--html]
    backinstock seed --shop-id ID [--signups N] [--days D] [--preorders N]   (progress on stderr, a line per tenth)
    backinstock seed --shop-id ID --waiting-on VARIANT_ID [--signups N]     (N customers waiting for one variant)
    backinstock reports verify --shop-id ID [--from DATE] [--to DATE] [--json]
    backinstock reports rebuild --shop-id ID [--settle SECONDS] [--max-passes N] [--state PATH]
    backinstock reports failures [--queue-url URL] [--clear --rebuilt ID ... | --clear --all-rebuilt]
    backinstock migrate keys (--shop-id ID | --all) [--dry-run]   (an upgrade from before issue 23: docs/DEPLOY.md)

The shop and catalog commands talk to whatever AWS endpoint boto3 is configured for: a real account (set
TABLE_NAME to the stack's table), or the local run's embedded backend (`--local` reads the endpoint from `serve`'s
info file). `outbox` exists only in the local run: it reads the info file (`--local-info`) and asks the local
server what its embedded SES and SNS delivered.

Every option is parsed with the API's own models and messages before anything runs (`cli_args`). A mistake (an
option, a missing info file, an unknown id) is one line on stderr, `{"errors": [...]}`, and exit 2; a fault of the
CLI itself is one line too, and exit 70 (`BACKINSTOCK_TRACEBACK=1` shows its traceback). Never a traceback unasked.

Each command group is a module of this package (`serve`, `shops`, `catalog`, `offers`, `restocks`, `preorders`,
`simulate`, `seed`, `reports`, `migrate`, `outbox`): its commands' handlers and its `register`, which declares its
commands and their options (each with a `cli_args` type). This root assembles them (`GROUPS`, in the order `--help`
lists them) and runs one (`main`); `common` holds what the groups share.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import NoReturn

from backinstock_tools.cli import (
    catalog,
    migrate,
    offers,
    outbox,
    preorders,
    reports,
    restocks,
    seed,
    serve,
    shops,
    simulate,
)
from backinstock_tools.cli.common import DEFAULT_INFO_FILE, Stop, _fail, _use_local, find_info_file
from backinstock_tools.cli.outbox import outbox_url
from backinstock_tools.cli.restocks import BAR_WIDTH, progress_line

# The command groups, in the order `backinstock --help` lists them: each declares its commands and their options.
GROUPS = (serve, shops, catalog, offers, restocks, preorders, simulate, seed, reports, migrate, outbox)

__all__ = [
    "BAR_WIDTH",
    "DEFAULT_INFO_FILE",
    "GROUPS",
    "Parser",
    "Stop",
    "build_parser",
    "find_info_file",
    "main",
    "outbox_url",
    "progress_line",
]


class Parser(argparse.ArgumentParser):
    """argparse whose mistakes (a missing option, an unknown choice, a value its type refuses) are one line on
    stderr in the API's envelope, naming the command and the option, and exit 2: no usage block, no traceback."""

    def error(self, message: str) -> NoReturn:
        sys.exit(_fail(f"{self.prog}: {message} (see {self.prog} --help)"))


def build_parser() -> argparse.ArgumentParser:
    from backinstock_tools import cli_args as t

    parser = Parser(prog="backinstock", description="Back-in-stock API: admin CLI and local run")
    parser.add_argument("--local", action="store_true", help="talk to the local run's backend (`make run`)")
    parser.add_argument(
        "--local-info",
        default=DEFAULT_INFO_FILE,
        metavar="INFO_FILE",
        help=f"the local server's info file that --local reads (default {DEFAULT_INFO_FILE})",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    t.harden(parser)  # every other option: plain text (not empty, no control characters), with the same one line
    return parser


def _configuration_problem(exc: Exception, local: bool) -> str | None:
    """What to do when the environment the CLI reads (`backinstock.config`) lacks a variable, or is invalid."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError) or not exc.title.endswith("Env"):
        return None
    names = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
    missing = all(e["type"] == "missing" for e in exc.errors())
    what = f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} {'not set' if missing else 'invalid'}"
    if local:
        return f"{what} in the local run's info file: restart the local server (`make run`) and try again"
    hint = (
        "the deployed stack's table (its output TableName)"
        if names == ["TABLE_NAME"]
        else "the deployed stack's outputs"
    )
    return (
        f"{what}: pass --local to use the local run (start it with `make run`), or set {', '.join(names)} to "
        f"{hint} with AWS credentials configured (docs/DEPLOY.md)"
    )


def _aws_problem(exc: Exception, local: bool) -> str | None:
    """What to do when AWS (or the local backend) cannot be reached or refuses the call."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

    if isinstance(exc, EndpointConnectionError):
        where = "the local run's AWS endpoint" if local else "the AWS endpoint"
        fix = (
            "is the local server running? start it with `make run`"
            if local
            else "check AWS_ENDPOINT_URL and the network"
        )
        return f"cannot reach {where} ({exc.kwargs.get('endpoint_url', '?')}): {fix}"
    if isinstance(exc, NoCredentialsError | NoRegionError):
        return f"{exc}: configure AWS credentials and a region for the deployed stack, or pass --local"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        if code == "ResourceNotFoundException":
            found = error.get("Message", code)
            return f"{found}: check TABLE_NAME (the stack's output TableName) and the region, or pass --local"
        return f"AWS refused {exc.operation_name}: {code}: {error.get('Message', '')}"
    return None


def main(argv: list[str] | None = None) -> int:
    from backinstock.errors import AppError

    args = build_parser().parse_args(argv)
    local = bool(args.local) and args.command != "serve"
    try:
        if local:
            _use_local(args.local_info)
        return int(args.func(args))
    except AppError as exc:
        print(json.dumps({"errors": [p.text() for p in exc.problems]}), file=sys.stderr)
        return 2
    except Stop as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        message = _configuration_problem(exc, local) or _aws_problem(exc, local)
        if message is not None:
            return _fail(message)
        if os.environ.get("BACKINSTOCK_TRACEBACK"):
            raise  # a fault of ours: the traceback is what a bug report needs, on request
        _fail(
            f"internal error ({type(exc).__name__}: {str(exc)[:200]}): a bug of the CLI, not of your options; "
            "run again with BACKINSTOCK_TRACEBACK=1 for the traceback to report"
        )
        return 70  # EX_SOFTWARE
