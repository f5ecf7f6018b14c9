"""`backinstock outbox`: what the local run's SES and SNS delivered."""

from __future__ import annotations

import argparse
import json
from typing import Any

from backinstock_tools import cli_args as t
from backinstock_tools.cli.common import Commands, Stop, _print, _read_info


def outbox_url(info: dict[str, Any]) -> str:
    from urllib.parse import urlsplit

    from backinstock_tools.local.outbox import OUTBOX_PATH

    base = urlsplit(info["base_url"])
    return f"{base.scheme}://{base.netloc}{OUTBOX_PATH}"


def cmd_outbox(args: argparse.Namespace) -> int:
    import urllib.error
    import urllib.request

    info = _read_info(args.local_info)
    url = outbox_url(info) + (f"?limit={args.limit}" if args.limit is not None else "")
    # The key matters when the server listens beyond loopback: the outbox then shows only that shop's messages.
    request = urllib.request.Request(url, headers={"X-Auth-Token": str(info.get("api_key") or "")})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the info file's local http URL)
            outbox = json.loads(response.read())
    except (urllib.error.URLError, OSError) as exc:
        raise Stop(f"could not read the outbox at {url} ({exc}): is `backinstock serve` running?") from None
    if not args.html:
        for message in outbox.get("emails", []):
            message.pop("html", None)
    _print(outbox)
    return 0


def register(sub: Commands) -> None:
    """`outbox`."""
    outbox = sub.add_parser(
        "outbox", help="print the emails, SMS and push messages the local run delivered (reads the info file)"
    )
    outbox.add_argument("--limit", type=t.integer(1), help="only the last N of each kind")
    outbox.add_argument("--html", action="store_true", help="include each email's HTML body")
    outbox.set_defaults(func=cmd_outbox)
