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

The shop and catalog commands talk to whatever AWS endpoint boto3 is configured for: a real account (set
TABLE_NAME to the stack's table), or the local run's embedded backend (`--local` reads the endpoint from `serve`'s
info file). `outbox` exists only in the local run: it reads the info file (`--local-info`) and asks the local
server what its embedded SES and SNS delivered.

Every option is parsed with the API's own models and messages before anything runs (`cli_args`). A mistake (an
option, a missing info file, an unknown id) is one line on stderr, `{"errors": [...]}`, and exit 2; a fault of the
CLI itself is one line too, and exit 70 (`BACKINSTOCK_TRACEBACK=1` shows its traceback). Never a traceback unasked.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from backinstock_tools.local.run import DEFAULT_AWS_PORT, DEFAULT_PORT  # the standard library only: cheap

DEFAULT_INFO_FILE = ".local/server.json"


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


class Stop(Exception):
    """A user's mistake found while a command runs: `main` prints it as one line in the error envelope, exit 2."""


def find_info_file(info_file: str, start: Path | None = None) -> Path | None:
    """The info file: as given when it exists; the default one (a relative path) is also looked for in each parent
    folder, so a command run from a sub-folder of the repository finds the local run that `make run` started at its
    root."""
    path = Path(info_file)
    if path.exists():
        return path
    if info_file != DEFAULT_INFO_FILE:
        return None
    folder = (start or Path.cwd()).resolve()
    for parent in (folder, *folder.parents):
        if (parent / info_file).exists():
            return parent / info_file
    return None


def _read_info(info_file: str) -> dict[str, Any]:
    found = find_info_file(info_file)
    if found is None:
        where = f"{info_file} in this folder or its parents" if info_file == DEFAULT_INFO_FILE else f"{info_file}"
        raise Stop(
            f"no local server info at {where}: start the local run with `make run` from the repository root, or pass "
            f"--local-info PATH (the info file `backinstock serve --info-file PATH` writes)"
        )
    info: dict[str, Any] = json.loads(found.read_text())
    return info


def _use_local(info_file: str) -> None:
    from backinstock_tools.local import backend

    info = _read_info(info_file)
    env = backend.local_environment(info["aws_endpoint"], public_base_url=info["base_url"])
    # The resources' own variables (queue URLs, the link secret, state machines), as `serve` created them.
    env.update(info.get("environment", {}))
    backend.apply_environment(env)


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


def cmd_catalog_add(args: argparse.Namespace) -> int:
    from backinstock import deps

    deps.shops().require(args.shop_id)  # a typo'd shop id is an error, not an orphan catalog row
    deps.catalog().put_variant(
        args.shop_id,
        args.variant_id,
        args.product_id,
        args.title,
        args.product_title,
        args.handle,
        inventory_item_id=args.inventory_item_id,
    )
    _print(
        {
            "shop_id": args.shop_id,
            "variant_id": args.variant_id,
            "product_id": args.product_id,
            "title": args.title,
            "product_title": args.product_title,
            "handle": args.handle,
            "inventory_item_id": args.inventory_item_id,
        }
    )
    return 0


def _variant_refs(values: list[str] | None) -> list[dict[str, int]] | None:
    """`--variant-id 111` (product from the catalog) or `--variant-id 111:11` (variant 111 of product 11)."""
    if values is None:
        return None
    refs = []
    for value in values:
        variant, _, product = value.partition(":")
        try:
            ref = {"shopify_variant_id": int(variant)}
            if product:
                ref["shopify_product_id"] = int(product)
        except ValueError:
            raise Stop(f"--variant-id takes a variant id or VARIANT:PRODUCT (got {value!r})") from None
        refs.append(ref)
    return refs


def _offer_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The create / update options that were given, as the offer models' fields."""
    from decimal import Decimal, InvalidOperation

    fields: dict[str, Any] = {}
    for option, field in (("name", "name"), ("status", "status")):
        if getattr(args, option) is not None:
            fields[field] = getattr(args, option)
    if args.selling_plan_id is not None:
        fields["selling_plan_ids"] = args.selling_plan_id
    if args.variant_id is not None:
        fields["variants"] = _variant_refs(args.variant_id)
    if args.market_id is not None or getattr(args, "clear_markets", False):
        fields["market_ids"] = args.market_id or []
    for option, kind in (("deposit_percent", "percentage"), ("deposit_amount", "fixed_amount")):
        value = getattr(args, option)
        if value is not None:
            try:
                fields["deposit"] = {"type": kind, "value": Decimal(value)}
            except InvalidOperation:
                raise Stop(f"--{option.replace('_', '-')} takes a number (got {value!r})") from None
    if args.balance_due_days is not None:
        fields["balance_due"] = {"days_after_checkout": args.balance_due_days}
    elif args.balance_due_date is not None:  # a datetime already (the option's type is the model's field)
        fields["balance_due"] = {"due_at": args.balance_due_date}
    return fields


def _print_model(model: Any) -> None:
    _print(model.model_dump(mode="json"))


def cmd_offers_create(args: argparse.Namespace) -> int:
    from backinstock import deps
    from backinstock.models.preorders import OfferCreate
    from backinstock.services import offers

    deps.shops().require(args.shop_id)
    body = _validated(OfferCreate, _offer_fields(args))
    _print_model(offers.create_offer(deps.offers(), args.shop_id, body))
    return 0


def cmd_offers_update(args: argparse.Namespace) -> int:
    from backinstock import deps
    from backinstock.models.preorders import OfferUpdate
    from backinstock.services import offers

    deps.shops().require(args.shop_id)
    fields = _offer_fields(args)
    if args.clear_balance_due:
        fields["clear_balance_due"] = True
    body = _validated(OfferUpdate, fields)
    _print_model(offers.update_offer(deps.offers(), args.shop_id, args.offer_id, body))
    return 0


def cmd_offers_list(args: argparse.Namespace) -> int:
    from backinstock import deps
    from backinstock.models.preorders import OfferListQuery
    from backinstock.services import offers

    deps.shops().require(args.shop_id)
    query = {"page": args.page, "per_page": args.per_page, "status": args.status}
    query |= {"variant_id": args.variant_id, "product_id": args.product_id}
    model = _validated(OfferListQuery, {k: v for k, v in query.items() if v is not None})
    _print_model(offers.list_offers(deps.offers(), args.shop_id, model))
    return 0


def cmd_offers_get(args: argparse.Namespace) -> int:
    from backinstock import deps
    from backinstock.services import offers

    deps.shops().require(args.shop_id)
    _print_model(offers.get_offer(deps.offers(), args.shop_id, args.offer_id))
    return 0


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


def _validated(model: Any, fields: dict[str, Any]) -> Any:
    """The model, or the API's 422 (every problem, one line each) for what the options gave."""
    from pydantic import ValidationError

    from backinstock.api.validation import problems_from
    from backinstock.errors import ValidationFailed

    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise ValidationFailed(problems=problems_from(exc, model, what="options")) from None


def cmd_simulate(args: argparse.Namespace) -> int:
    from backinstock_tools.local import simulate

    info = _read_info(args.local_info)
    _use_local(args.local_info)
    shop_id = args.shop_id or info["shop_id"]
    base = info["base_url"]
    for name in ("price", "amount", "rate"):  # Decimals (the options' types): as Shopify's payloads write them
        if getattr(args, name, None) is not None:
            setattr(args, name, str(getattr(args, name)))
    if args.simulate == "restock":
        result = simulate.restock(base, shop_id, args.variant_id, args.available, args.location_id)
    elif args.simulate == "order":
        result = simulate.order(
            base, shop_id, args.variant_id, args.email, args.quantity, args.price, args.via_alert_link
        )
    elif args.simulate == "preorder":
        result = simulate.preorder(
            base,
            shop_id,
            args.variant_id,
            args.email,
            args.quantity,
            args.price,
            args.selling_plan_id,
            args.presentment_currency,
            args.rate,
            args.name,
        )
    elif args.simulate == "balance":
        result = simulate.balance(base, shop_id, args.order_id, args.amount, args.fail)
    elif args.simulate == "cancel":
        result = simulate.cancel(base, shop_id, args.order_id, args.reason)
    else:
        result = simulate.refund(base, shop_id, args.order_id, args.amount)
    _print(result)
    return 0


def cmd_reports_send_scheduled(args: argparse.Namespace) -> int:
    from backinstock import deps
    from backinstock.services import alerts

    _print({"period": args.period, **alerts.send_scheduled_reports(deps.alerts(), args.period)})
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


def cmd_serve(args: argparse.Namespace) -> int:
    from backinstock_tools.local.run import serve

    return serve(args)


class Parser(argparse.ArgumentParser):
    """argparse whose mistakes (a missing option, an unknown choice, a value its type refuses) are one line on
    stderr in the API's envelope, naming the command and the option, and exit 2: no usage block, no traceback."""

    def error(self, message: str) -> NoReturn:
        sys.exit(_fail(f"{self.prog}: {message} (see {self.prog} --help)"))


def build_parser() -> argparse.ArgumentParser:
    from backinstock_tools import cli_args as t

    parser = Parser(prog="backinstock", description="Back-in-stock API: admin CLI and local run")
    query = "preorder_reports:SummaryQuery"  # the report filters (window, ids, currency): the API's rules and messages
    email = t.model_field("signups:SignupCreate", "email", "jane@example.com", "jane")
    parser.add_argument("--local", action="store_true", help="talk to the local run's backend (`make run`)")
    parser.add_argument(
        "--local-info",
        default=DEFAULT_INFO_FILE,
        metavar="INFO_FILE",
        help=f"the local server's info file that --local reads (default {DEFAULT_INFO_FILE})",
    )
    sub = parser.add_subparsers(dest="command", required=True)

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

    catalog = sub.add_parser("catalog", help="manage a shop's catalog (variants the waitlist refers to)")
    catalog_sub = catalog.add_subparsers(dest="catalog", required=True)
    add = catalog_sub.add_parser("add", help="add or replace one variant of a shop's catalog")
    add.add_argument("--shop-id", type=t.shop_id(), required=True)
    add.add_argument("--variant-id", type=t.shopify_id(), required=True, help="Shopify variant id")
    add.add_argument("--product-id", type=t.shopify_id("9001"), required=True, help="Shopify product id")
    add.add_argument("--title", help="the variant's title, e.g. 'Small / Blue'")
    add.add_argument("--product-title", help="the product's title, shown in restock messages")
    add.add_argument("--handle", help="the product's handle, for the product link in messages")
    add.add_argument(
        "--inventory-item-id", type=t.shopify_id(), help="Shopify inventory item: its inventory webhooks restock it"
    )
    add.set_defaults(func=cmd_catalog_add)

    offers = sub.add_parser("offers", help="manage a shop's preorder offers (Shopify selling plan groups)")
    offers_sub = offers.add_subparsers(dest="offers", required=True)
    offer_create = offers_sub.add_parser("create", help="create an offer; prints it as JSON with its id")
    offer_update = offers_sub.add_parser("update", help="change an offer: only the options given; lists are replaced")
    for offer_parser, creating in ((offer_create, True), (offer_update, False)):
        offer_parser.add_argument("--shop-id", type=t.shop_id(), required=True)
        if not creating:
            offer_parser.add_argument("--offer-id", type=t.uuid_text(), required=True)
        offer_parser.add_argument(
            "--name", type=t.model_field("preorders:OfferUpdate", "name", "Spring drop", ""), required=creating
        )
        offer_parser.add_argument("--status", choices=("enabled", "disabled"))
        offer_parser.add_argument(
            "--selling-plan-id",
            type=t.shopify_id("7101"),
            action="append",
            required=creating,
            help="a Shopify selling plan of the group (repeat for each); a plan belongs to at most one offer",
        )
        offer_parser.add_argument(
            "--variant-id",
            type=t.variant_ref(),
            action="append",
            help="an attached variant (repeat): VARIANT, product from the catalog, or VARIANT:PRODUCT",
        )
        deposit = offer_parser.add_mutually_exclusive_group(required=creating)
        deposit.add_argument(
            "--deposit-percent", type=t.percent(), help="deposit at checkout: percent of the price (0-100)"
        )
        deposit.add_argument(
            "--deposit-amount", type=t.amount(), help="deposit at checkout: a fixed amount per unit (shop currency)"
        )
        due = offer_parser.add_mutually_exclusive_group()
        due.add_argument(
            "--balance-due-days", type=t.integer(0, 3650, "30"), help="the balance is due this many days after checkout"
        )
        due.add_argument(
            "--balance-due-date",
            type=t.model_field("preorders:BalanceDueInput", "due_at", "2027-03-01", "next week"),
            help="the balance is due on this date (YYYY-MM-DD, or a date-time)",
        )
        offer_parser.add_argument(
            "--market-id", type=t.shopify_id(), action="append", help="a Shopify market id (repeat)"
        )
        if not creating:
            offer_parser.add_argument("--clear-balance-due", action="store_true", help="remove the balance rule")
            offer_parser.add_argument("--clear-markets", action="store_true", help="remove every market id")
        offer_parser.set_defaults(func=cmd_offers_create if creating else cmd_offers_update)
    offer_list = offers_sub.add_parser("list", help="list a shop's offers (newest first), as the API does")
    offer_list.add_argument("--shop-id", type=t.shop_id(), required=True)
    offer_list.add_argument("--status", choices=("enabled", "disabled"))
    offer_list.add_argument("--variant-id", type=t.shopify_id())
    offer_list.add_argument("--product-id", type=t.shopify_id())
    offer_list.add_argument("--page", type=t.model_field("preorders:OfferListQuery", "page", "2", "0"))
    offer_list.add_argument("--per-page", type=t.model_field("preorders:OfferListQuery", "per_page", "20", "1000"))
    offer_list.set_defaults(func=cmd_offers_list)
    offer_get = offers_sub.add_parser("get", help="read one offer")
    offer_get.add_argument("--shop-id", type=t.shop_id(), required=True)
    offer_get.add_argument("--offer-id", type=t.uuid_text(), required=True)
    offer_get.set_defaults(func=cmd_offers_get)

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

    simulate = sub.add_parser(
        "simulate", help="play Shopify against the local run: post a signed webhook to the local server"
    ).add_subparsers(dest="simulate", required=True)
    restock = simulate.add_parser("restock", help="inventory_levels/update: set a variant's stock at a location")
    restock.add_argument("--variant-id", type=t.shopify_id(), required=True)
    restock.add_argument("--available", type=int, required=True, help="the new available quantity at the location")
    restock.add_argument("--location-id", type=t.shopify_id(), default=1)
    restock.add_argument("--shop-id", type=t.shop_id(), help="default: the demo shop")
    restock.set_defaults(func=cmd_simulate)
    order = simulate.add_parser("order", help="orders/create: one line of a variant, for attribution")
    order.add_argument("--variant-id", type=t.shopify_id(), required=True)
    order.add_argument("--email", type=email, required=True, help="the customer's email (an alerted customer converts)")
    order.add_argument("--quantity", type=t.integer(1, 10_000), default=1)
    order.add_argument("--price", type=t.amount(), default="25.00")
    order.add_argument("--via-alert-link", action="store_true", help="landing site carries our UTM marker (high)")
    order.add_argument("--shop-id", type=t.shop_id(), help="default: the demo shop")
    order.set_defaults(func=cmd_simulate)

    pre = simulate.add_parser("preorder", help="orders/create: one preorder line on an offer's selling plan")
    pre.add_argument("--variant-id", type=t.shopify_id(), required=True)
    pre.add_argument("--email", type=email, required=True, help="the customer's email")
    pre.add_argument("--name", help="the customer's name")
    pre.add_argument("--quantity", type=t.integer(1, 10_000), default=1)
    pre.add_argument("--price", type=t.amount(), default="40.00", help="unit price in the shop's currency")
    pre.add_argument(
        "--selling-plan-id",
        type=t.shopify_id("7101"),
        help="default: the first plan of the newest offer of the variant",
    )
    pre.add_argument(
        "--presentment-currency",
        type=t.model_field("preorder_reports:SummaryQuery", "currency", "EUR", "euro"),
        help="the customer's currency (default: the shop's)",
    )
    pre.add_argument("--rate", type=t.rate(), default="1", help="presentment amount = shop amount x rate (default 1)")
    pre.add_argument("--shop-id", type=t.shop_id(), help="default: the demo shop")
    pre.set_defaults(func=cmd_simulate)
    bal = simulate.add_parser("balance", help="order_transactions/create: a charge of a preorder's balance")
    bal.add_argument("--order-id", type=t.shopify_id("1001"), required=True)
    bal.add_argument("--amount", type=t.amount(), help="default: everything still owed")
    bal.add_argument("--fail", action="store_true", help="the charge fails (status failure)")
    bal.add_argument("--shop-id", type=t.shop_id(), help="default: the demo shop")
    bal.set_defaults(func=cmd_simulate)
    can = simulate.add_parser("cancel", help="orders/cancelled, with a reason")
    can.add_argument("--order-id", type=t.shopify_id("1001"), required=True)
    can.add_argument(
        "--reason", choices=("customer", "declined", "fraud", "inventory", "other", "staff"), help="absent: unknown"
    )
    can.add_argument("--shop-id", type=t.shop_id(), help="default: the demo shop")
    can.set_defaults(func=cmd_simulate)
    ref = simulate.add_parser("refund", help="refunds/create: a refund of an order")
    ref.add_argument("--order-id", type=t.shopify_id("1001"), required=True)
    ref.add_argument("--amount", type=t.amount(), required=True)
    ref.add_argument("--shop-id", type=t.shop_id(), help="default: the demo shop")
    ref.set_defaults(func=cmd_simulate)

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

    outbox = sub.add_parser(
        "outbox", help="print the emails, SMS and push messages the local run delivered (reads the info file)"
    )
    outbox.add_argument("--limit", type=t.integer(1), help="only the last N of each kind")
    outbox.add_argument("--html", action="store_true", help="include each email's HTML body")
    outbox.set_defaults(func=cmd_outbox)
    t.harden(parser)  # every other option: plain text (not empty, no control characters), with the same one line
    return parser


def _fail(message: str) -> int:
    """A user's mistake (or an unreachable backend) as one line on stderr, in the API's envelope: no traceback."""
    print(json.dumps({"errors": [message]}), file=sys.stderr)
    return 2


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


if __name__ == "__main__":
    sys.exit(main())
