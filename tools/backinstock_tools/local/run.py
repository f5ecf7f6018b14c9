"""`backinstock serve`: the whole API on this machine, moto as AWS (`make run`).

The console shows the banner and what the local run itself has to say (the demo history's progress, stopping);
everything the functions and moto log goes to the log file (`.local/server.log`), or to the console with
`--verbose`. With `--seed-signups N` the demo shop gets a history (`backinstock seed`) in the background after the
banner, through the same write paths, so the reports have something to show a few seconds later. Ctrl-C or SIGTERM
stops it at once: nothing of a local run outlives it (moto keeps everything in memory), so the work in hand (a
poller's batch, a running workflow) is dropped rather than finished.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

REPO_CLI = ".venv/bin/backinstock"  # the CLI as `make install` puts it, from the repository root
# Ports no common service claims (macOS's AirPlay receiver holds 5000, many development servers 3000 and 8000).
DEFAULT_PORT = 4280
DEFAULT_AWS_PORT = 4281


def busy_ports(host: str, ports: dict[str, int]) -> list[str]:
    """Which of the ports (what each is for) another program holds on `host`: a bind as the servers will make it
    (SO_REUSEADDR, like werkzeug's and http.server's), released at once."""
    import socket

    busy = []
    for what, port in ports.items():
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                busy.append(f"{port} ({what})")
    return busy


def ports_problem(host: str, port: int, aws_port: int) -> str | None:
    """One line saying which port is taken, what the run needs and how to choose others; None when both are free.
    Checked before anything starts: moto's server thread dies on a busy port and its caller waits forever."""
    if port == aws_port:
        return f"--port and --aws-port are both {port}: the API and the local AWS (moto) need a port each"
    busy = busy_ports(host, {"the API": port, "the local AWS, moto": aws_port})
    if not busy:
        return None
    return (
        f"port {' and '.join(busy)} is in use by another program on {host}. The local run needs two free ports, "
        f"{port} for the API and {aws_port} for the local AWS (moto): choose others with "
        f"`make run PORT=<n> AWS_PORT=<m>` or `backinstock serve --port <n> --aws-port <m>`"
    )


class Console:
    """The terminal's stdout, kept apart from the log: unless verbose, file descriptors 1 and 2 (Powertools' JSON
    lines, moto, tracebacks) go to the log file, and `say` writes to the terminal and the log."""

    def __init__(self, log_file: Path | None) -> None:
        self.log_file = log_file
        self.terminal: TextIO = sys.stdout

    def divert(self) -> None:
        if self.log_file is None:
            return
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        self.terminal = os.fdopen(os.dup(1), "w", buffering=1)
        with self.log_file.open("w") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)

    def say(self, text: str, log: bool = True) -> None:
        """To the terminal, and to the log too unless `log` is False (the banner: it shows the API key)."""
        print(text, file=self.terminal, flush=True)
        if log and self.log_file is not None:
            print(text, flush=True)


def serve(args: argparse.Namespace) -> int:
    from backinstock import deps
    from backinstock.services import shops
    from backinstock_tools.local import backend, demo, provider_limits, stepfunctions
    from backinstock_tools.local.outbox import OUTBOX_PATH
    from backinstock_tools.local.pollers import start_pollers, start_stream_pollers
    from backinstock_tools.local.server import LocalApi, invocation_lock
    from backinstock_tools.local.shopify_fake import FakeShopify

    if args.seed_signups < 0 or args.seed_preorders < 0 or args.seed_days < 1:
        sys.exit("--seed-signups and --seed-preorders must be at least 0, --seed-days at least 1")
    problem = ports_problem(args.host, args.port, args.aws_port)
    if problem:
        sys.exit(problem)
    email_rate, sms_rate = getattr(args, "email_rate", None), getattr(args, "sms_rate", None)
    if (email_rate is not None and email_rate <= 0) or (sms_rate is not None and sms_rate <= 0):
        sys.exit("--email-rate and --sms-rate must be more than 0 (leave them out for no limit)")
    console = Console(None if args.verbose else Path(args.log_file))
    os.environ["MOTO_PORT"] = str(args.aws_port)  # where moto's state machines send their service calls
    stepfunctions.enable(invocation_lock)
    # The embedded AWS stand-in answers any credentials and holds the link key and the shops' webhook secrets: it
    # listens on loopback whatever the app's --host is (the app's server is the only thing the network may reach).
    backend.start_moto(backend.AWS_HOST, args.aws_port)
    endpoint = f"http://{backend.AWS_HOST}:{args.aws_port}"
    api = LocalApi(args.host, args.port)  # bound now: links in messages must name the real port
    backend.apply_environment(backend.local_environment(endpoint, public_base_url=api.base_url))
    resources = backend.create_resources()
    # The providers' sending quotas, as an account has them: beyond them SES and SNS answer with their throttling
    # errors, and the send pace keeps below them (SES's quota is read from the local SES; SMS's is the setting).
    provider_limits.install(email_rate, sms_rate)
    if sms_rate:
        os.environ["SMS_SEND_RATE"] = f"{sms_rate:g}"
        deps.reset()
    demo_shop = shops.create_shop(deps.shops(), args.demo_domain, plan=args.demo_plan, email=demo.MERCHANT_EMAIL)
    # A local Shopify Admin API (order tags) and the demo shop connected to it, so webhooks verify and orders tag.
    fake_shopify = FakeShopify().start()
    token = "shpat_local_" + secrets.token_hex(16)
    fake_shopify.add_token(token, args.demo_domain)
    shops.connect_shopify(
        deps.shops(),
        deps.shop_secrets(),
        demo_shop["shop_id"],
        secrets.token_urlsafe(32),
        token,
        admin_api_url=fake_shopify.base_url,
    )
    catalog = demo.seed(demo_shop["shop_id"])
    console.divert()
    pollers: list[Any] = start_pollers(resources, invocation_lock)  # the queues' event sources, as Lambda's would be
    stream_pollers = start_stream_pollers(os.environ["TABLE_NAME"], invocation_lock)  # the table stream's (rollups)
    pollers += stream_pollers
    api.start()
    base = api.base_url
    info = {
        "base_url": base,
        "aws_endpoint": endpoint,
        "shop_id": demo_shop["shop_id"],
        "api_key": demo_shop["api_key"],
        "send_queue_url": resources["SEND_QUEUE_URL"],
        "demo_variant_ids": [v.variant_id for v in catalog],
        "shopify_admin_url": fake_shopify.base_url,
        "environment": resources,
    }
    if args.info_file:
        path = Path(args.info_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(info, indent=2) + "\n")
        partial.replace(path)  # whole or absent: a reader polling for the file never reads half of it
    variants = "\n".join(f"    {v.variant_id}  product {v.product_id}  {v.product_title} / {v.title}" for v in catalog)
    split = urlsplit(base)
    outbox = f"{split.scheme}://{split.netloc}{OUTBOX_PATH}"
    history = (
        f"  demo history  {args.seed_signups} signups and {args.seed_preorders} preorders over {args.seed_days} days, "
        f"being written now (progress below)\n"
        if args.seed_signups
        else ""
    )
    logs = f"  logs          {args.log_file}\n" if not args.verbose else ""
    info_note = f" (all of this is in {args.info_file})" if args.info_file else ""
    console.say(
        f"Back-in-stock API running locally (moto as AWS, no account, no Docker){info_note}\n"
        f"  base URL      {base}\n"
        f"  demo shop     {demo_shop['domain']} ({demo_shop['shop_id']})\n"
        f"  API key       {demo_shop['api_key']}\n"
        f"  AWS endpoint  {endpoint}\n"
        f"  outbox        {outbox} (or: {REPO_CLI} outbox)\n"
        f"  send rates    {provider_limits.describe(email_rate, sms_rate)}\n"
        f"{logs}"
        f"  demo catalog  (variant id, product id; {len(demo.SIGNUPS)} demo signups wait on them)\n{variants}\n"
        f"{history}"
        f"Try, from the repository root:\n"
        f"  curl -H 'X-Auth-Token: {demo_shop['api_key']}' '{base}/back_in_stock/signups"
        f"?variant_id={catalog[0].variant_id}'\n"
        f"  {REPO_CLI} simulate restock --variant-id {catalog[-1].variant_id} --available 0\n"
        f"  {REPO_CLI} simulate restock --variant-id {catalog[-1].variant_id} --available 7\n"
        f"  {REPO_CLI} outbox --limit 1\n"
        f"Ctrl-C stops it.",
        log=False,
    )
    if not args.verbose:
        print(f"local run started: {base} (demo shop {demo_shop['shop_id']}; its key is on the console)", flush=True)
    if args.seed_signups:
        threading.Thread(
            target=_seed_history,
            args=(console, demo_shop["shop_id"], args, invocation_lock, stream_pollers),
            name="demo-history",
            daemon=True,
        ).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.2):  # a timed wait: the main thread sees the signal at once
        pass
    console.say("stopped")
    for poller in pollers:
        poller.stop(timeout=0)  # no waiting for the batch in hand: the process and everything in it ends now
    sys.stdout.flush()
    sys.stderr.flush()
    # Not waiting for anything (a poller's batch, a request in flight, a workflow in a Wait state, moto's server):
    # a local run keeps nothing. Waiting for the rollup batch in hand is what used to take half a minute.
    os._exit(0)


def _seed_history(console: Console, shop_id: str, args: argparse.Namespace, lock: Any, stream_pollers: Any) -> None:
    """The demo history, a line of progress at a time, then its wait for the reports to count all of it."""
    from backinstock_tools.local.seed import seed

    started = time.monotonic()

    def progress(line: str) -> None:
        console.say(f"demo history: {line} ({time.monotonic() - started:.0f} s)")

    try:
        counts = seed(
            shop_id,
            args.seed_signups,
            args.seed_days,
            preorders=args.seed_preorders,
            progress=progress,
            guard=lock,
        )
    except Exception:  # a failed seed leaves the run usable; its traceback is in the log
        import logging

        logging.getLogger(__name__).exception("the demo history failed")
        console.say(f"demo history: failed (see {args.log_file})")
        return
    for poller in stream_pollers:
        poller.caught_up(timeout=600)
    console.say(
        f"demo history ready in {time.monotonic() - started:.0f} s: {counts['signups']} signups "
        f"({counts['sent']} sent, {counts['blocked']} blocked, {counts['orders']} orders), "
        f"{counts.get('preorders', 0)} preorders; every report counts them"
    )
