"""`make chaos` (`CHAOS_SEED=<n>`): the whole pipeline under a seeded mix of faults, then its invariants.

A restock of a variant with `restock_signups` (2,000) waiting signups while clients create, delete and unsubscribe
signups, bulk-notify, transfer and export, and orders arrive for attribution; a second shop restocks too, so the
table stream interleaves two shops. Everything goes through the real code paths, in one process against moto
(`mock_aws`): requests through the local gateway (`local.server.handle`: routing, authorizer, handler), Shopify
webhooks correctly signed through intake, the webhook and send workers (the local run's `QueuePoller.invoke`: the
Lambda SQS event, Powertools' partial batch failures), the campaign and export workflows' tasks (their handlers,
with the state machines' Retry and Catch played here), moto's SES/SNS as the providers, and the table stream into
the rollup aggregator (`workers.rollup_aggregator`, handed the Lambda stream event).

This driver plays the event sources, one step at a time chosen by a seeded random generator, so a seed replays the
same run: it can deliver an SQS message twice, let a message's visibility expire while a worker holds it (a second
consumer runs it to the end in the middle of the first one's work), kill an invocation between two of its writes
(`Killed`, a BaseException no handler catches: the batch comes back, as after a crash), replay, bisect and reorder
stream batches across shops. Faults at the AWS and provider boundary are botocore `before-call` / `after-call`
hooks on the clients the code uses (`backinstock.aws.client`): DynamoDB throttling and cancelled transactions,
SES and SNS throttling and 5xx, SQS `SendMessage` failures, a send worker killed after SES accepted the message.
A sustained provider limit runs under all of it: SES and SNS refuse everything beyond `provider_rate` (R) messages
a second with their own throttling errors (`local.provider_limits`), for the whole run, on a virtual clock the
driver owns (the send pace's clock and moto's SQS delays: the run stays fast, a seed replays exactly, idle waits
for delayed messages advance it).

No line of the code under test is changed. Faults stop for a message (or a stream batch, or a workflow task) after
a few faulted attempts, so every piece of work finishes within its retry limits unless the code itself loses it.

After the run drains, the invariants (docs/RELIABILITY.md) are checked and printed; the exit status is 1 when one
breaks. `run(Config(...))` is what the tests call with a small configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import io
import json
import math
import os
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

BASE_RATES: dict[str, float] = {
    # at the AWS and provider boundary (botocore hooks), per call
    "dynamodb_throttled": 0.004,
    "dynamodb_transaction_cancelled": 0.02,  # per TransactWriteItems: TransactionConflict
    # per TransactWriteItems that touches an item another invocation's transaction touched at the same moment
    # (`CONTENTION_WINDOW`): the later one is cancelled with TransactionConflict, as DynamoDB does
    "contention": 0.5,
    "ses_throttled": 0.02,
    "ses_5xx": 0.01,
    "sns_throttled": 0.05,
    "sqs_send_failed": 0.02,  # SendMessage / SendMessageBatch
    "send_killed_after_provider": 0.02,  # SES accepted, the invocation dies before the send is recorded
    # at the event sources, per invocation or batch
    "sqs_delivered_twice": 0.05,
    "sqs_visibility_expired": 0.04,
    "worker_killed": 0.05,  # between two writes (the k-th write never happens)
    "workflow_task_killed": 0.08,
    "stream_replayed": 0.1,
    "stream_bisected": 0.1,
    "stream_reordered": 0.2,
    "stream_killed": 0.05,
}
# "At the same moment": one of the last transactions of the other invocations. The driver runs one invocation at a
# time (a nested consumer inside another), so the window stands for the workers that run side by side in AWS.
CONTENTION_WINDOW = 6
FAULTED_ATTEMPTS = 2  # attempts of one message / batch / task that may be faulted; later ones run clean
# The writes a kill or an expired visibility may come before: DynamoDB and SQS. Not a provider call: a send worker
# killed between its claim and the provider call records the send without sending it (the documented at-most-once
# trade-off of services/sending.py, which invariant 1 would report); the kill after the provider accepted is
# `send_killed_after_provider`.
WRITES = {
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "TransactWriteItems",
    "BatchWriteItem",
    "SendMessage",
    "SendMessageBatch",
}
WEBHOOK_SECRET = "chaos-webhook-secret-0123456789"  # noqa: S105 (a made-up shop's made-up secret)
POISON = {"kind": "chaos-poison"}  # one message no worker can handle: it must end as a dead letter


class Killed(BaseException):
    """The invocation dies at this point (crash, timeout, out of memory): no handler catches it, nothing after it
    runs; the event source sees the invocation fail."""


@dataclass(frozen=True)
class Config:
    seed: int = 1
    restock_signups: int = 2000  # waiting on the restocked variant of the first shop
    side_signups: int = 40  # on each other variant (bulk notify, transfer) and on the second shop's variant
    client_ops: int = 160  # creates, deletes, unsubscribes, orders, ... interleaved with the pipeline
    fault_rate: float = 1.0  # multiplies BASE_RATES
    provider_rate: float = 20.0  # the sustained provider limit R: SES and SNS messages a (virtual) second


PROVIDER_CALL_SECONDS = 0.01  # virtual time one SES / SNS call takes
REFUSED_SHARE = 0.02  # at most this share of provider calls refused for the rate: the pace keeps to it
MIN_RATE_SHARE = 0.9  # of R: the run's sends per second once the restock is under way


class VirtualClock:
    """The run's time for the send pace, the providers' per-second limit and moto's SQS delays: it moves only when
    a worker waits for its tokens, a provider call is made, or the driver waits for delayed messages."""

    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


@dataclass
class Invariant:
    name: str
    ok: bool
    detail: str


@dataclass
class Result:
    config: Config
    faults: Counter[str]
    invariants: list[Invariant]
    dead_letters: list[str]
    stream_failures: list[str]
    figures: dict[str, Any]
    seconds: float
    cpu_seconds: float = 0.0  # on a shared machine, what the run itself used (wall time includes waiting for CPU)

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.invariants)

    def report(self) -> str:
        c = self.config
        lines = [
            f"chaos run, seed {c.seed}: a restock of {c.restock_signups:,} waiting signups, {c.client_ops} client "
            f"operations, fault rate x{c.fault_rate:g}; {self.seconds:.1f} s ({self.cpu_seconds:.1f} s of CPU)",
            "faults injected (" + str(sum(self.faults.values())) + "):",
            *(f"  {kind:32} {self.faults.get(kind, 0)}" for kind in BASE_RATES),
            "work done: " + ", ".join(f"{k} {v}" for k, v in self.figures.items()),
            "dead letters (" + str(len(self.dead_letters)) + "):",
            *(f"  {d}" for d in self.dead_letters),
            "stream records given up (the on-failure queue) (" + str(len(self.stream_failures)) + "):",
            *(f"  {d}" for d in self.stream_failures),
            "invariants:",
            *(f"  {'PASS' if i.ok else 'FAIL'}  {i.name}: {i.detail}" for i in self.invariants),
            "result: " + ("every invariant held" if self.ok else "an invariant broke"),
        ]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- faults
class Faults:
    """The botocore hooks. Faults fire only inside an invocation the driver runs (`invocation`), never during the
    driver's own reads, and only while that invocation's work may still be faulted (`allowed`)."""

    def __init__(self, rng: random.Random, rate: float) -> None:
        self.rng = rng
        self.rate = rate
        self.counts: Counter[str] = Counter()
        self.scope: str | None = None
        self.allowed = False
        self.depth = 0  # > 0 inside a nested consumer (visibility expired): no faults there
        self.writes = 0
        self.kill_at: int | None = None
        self.interleave_at: int | None = None
        self.interleave: Callable[[], None] | None = None
        self.delivered: list[tuple[int, str, str]] = []  # (tick, recipient, subject) accepted by SES / SNS
        self.sent_at: list[float] = []  # virtual time of each restock alert accepted
        self.provider_calls = 0
        self.send_kills = 0  # send worker invocations killed between two writes
        self.tick = 0
        # contention: the items of the last transactions, by invocation; cancelled ones not yet tried again
        self.invocations = 0
        self.current = 0  # the running invocation's number
        self.recent: list[tuple[int, frozenset[tuple[str, str]]]] = []
        self.conflicted: dict[frozenset[tuple[str, str]], str] = {}
        self.contention_escaped: list[str] = []
        self.clock = VirtualClock(START.timestamp())

    def chance(self, kind: str) -> bool:
        return self.rng.random() < BASE_RATES[kind] * self.rate

    def hit(self, kind: str) -> None:
        self.counts[kind] += 1

    def install(self) -> None:
        from backinstock import aws

        for service in ("dynamodb", "sqs", "ses", "sesv2", "sns"):
            events = aws.client(service).meta.events
            events.register(f"before-parameter-build.{service}", self.parameters)
            events.register(f"before-call.{service}", self.before)
            events.register(f"after-call.{service}", self.after)

    @contextlib.contextmanager
    def invocation(self, scope: str, allowed: bool, *, kill: str | None = None) -> Iterator[None]:
        """One invocation of a handler; `kill`: the fault kind that may kill it between two writes."""
        self.scope, self.allowed, self.writes = scope, allowed, 0
        self.kill_at = None
        self.invocations += 1
        self.current = self.invocations
        if allowed and kill and self.chance(kill):
            self.kill_at = self.rng.randint(1, 6)
            self._kill_kind = kill
        killed = False
        try:
            yield
        except Killed:
            killed = True
            raise
        finally:
            if not killed:  # a transaction cancelled by contention and never tried again reached the caller
                self.contention_escaped += sorted(self.conflicted.values())
            self.conflicted = {}
            self.scope, self.allowed, self.kill_at, self.interleave_at, self.interleave = None, False, None, None, None

    @contextlib.contextmanager
    def nested(self) -> Iterator[None]:
        self.depth += 1
        self.invocations += 1
        outer, self.current = self.current, self.invocations
        conflicted, self.conflicted = self.conflicted, {}
        try:
            yield
        finally:
            self.depth -= 1
            self.current, self.conflicted = outer, conflicted

    @staticmethod
    def parameters(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        """The call's parameters as the caller passed them (`before-call` sees the serialized request)."""
        context["chaos_params"] = params

    def before(self, event_name: str, context: dict[str, Any], **_: Any) -> Any:
        from botocore.exceptions import ClientError

        service, operation = event_name.split(".")[1:3]
        params: dict[str, Any] = context.get("chaos_params") or {}
        if service in ("ses", "sesv2", "sns"):
            context["chaos_recipient"] = _recipient(operation, params)
            if operation in ("SendEmail", "SendRawEmail", "Publish"):
                self.provider_calls += 1
                self.clock.sleep(PROVIDER_CALL_SECONDS)
        if service == "dynamodb" and operation == "TransactWriteItems" and self.scope is not None:
            self.contend(params)
        if self.scope is None or self.depth:
            return None
        if operation in WRITES:
            self.writes += 1
            if self.interleave_at is not None and self.writes == self.interleave_at and self.interleave is not None:
                run, self.interleave = self.interleave, None
                self.hit("sqs_visibility_expired")
                with self.nested():
                    run()
            if self.kill_at is not None and self.writes == self.kill_at:
                self.kill_at = None
                self.hit(self._kill_kind)
                if self.scope == "send":
                    self.send_kills += 1  # its send's pace token dies with it
                raise Killed(f"{self.scope} killed before {operation}")
        if not self.allowed:
            return None
        if service == "dynamodb":
            if operation == "TransactWriteItems" and self.chance("dynamodb_transaction_cancelled"):
                self.hit("dynamodb_transaction_cancelled")
                from backinstock import aws

                size = len(params.get("TransactItems", []))
                reasons = [{"Code": "None"}] * size
                if reasons:
                    reasons[self.rng.randrange(size)] = {"Code": "TransactionConflict"}
                error = {
                    "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled (chaos)"},
                    "CancellationReasons": reasons,
                }
                raise aws.client("dynamodb").exceptions.TransactionCanceledException(error, operation)
            if self.chance("dynamodb_throttled"):
                self.hit("dynamodb_throttled")
                raise ClientError(_error("ProvisionedThroughputExceededException", 400), operation)
        elif service == "sqs" and operation in ("SendMessage", "SendMessageBatch"):
            if self.chance("sqs_send_failed"):
                self.hit("sqs_send_failed")
                raise ClientError(_error("InternalError", 500), operation)
        elif service in ("ses", "sesv2") and operation in ("SendEmail", "SendRawEmail"):
            if self.chance("ses_throttled"):
                self.hit("ses_throttled")
                raise ClientError(_error("Throttling", 400, "Maximum sending rate exceeded."), operation)
            if self.chance("ses_5xx"):
                self.hit("ses_5xx")
                raise ClientError(_error("ServiceUnavailable", 503), operation)
        elif service == "sns" and operation == "Publish" and self.chance("sns_throttled"):
            self.hit("sns_throttled")
            raise ClientError(_error("Throttling", 400), operation)
        return None

    def contend(self, params: dict[str, Any]) -> None:
        """The contention fault: a transaction touching an item that another invocation's transaction touched at the
        same moment (one of the last `CONTENTION_WINDOW`) is cancelled with TransactionConflict on that item; the
        earlier one has committed by then, so the same transaction tried again goes through. A cancelled one that
        its invocation ends without trying again escaped to the caller (an invariant counts them)."""
        from backinstock import aws

        entries = [next(iter(e.values())) for e in params.get("TransactItems", [])]
        keys = [
            ((body.get("Key") or body.get("Item") or {}).get("PK", {}).get("S", ""),
             (body.get("Key") or body.get("Item") or {}).get("SK", {}).get("S", ""))
            for body in entries
        ]  # fmt: skip
        mine = frozenset(keys)
        self.conflicted.pop(mine, None)  # tried again
        me = self.current
        clash = next(
            (i for i, (who, items) in enumerate(self.recent) if who != me and mine & items),
            None,
        )
        self.recent = [*self.recent, (me, mine)][-CONTENTION_WINDOW:]
        if clash is None or not self.allowed or self.depth or not self.chance("contention"):
            return
        _, items = self.recent.pop(clash)  # it committed: a retry does not meet it again
        self.hit("contention")
        shared = sorted(mine & items)[0]
        self.conflicted[mine] = f"{self.scope}: {shared[1].split('#')[0]}"
        reasons = [{"Code": "TransactionConflict" if k == shared else "None"} for k in keys]
        self.recent = [x for x in self.recent if x[1] is not mine]
        error = {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled (chaos: contention)"},
            "CancellationReasons": reasons,
        }
        raise aws.client("dynamodb").exceptions.TransactionCanceledException(error, "TransactWriteItems")

    def after(self, event_name: str, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        service = event_name.split(".")[1]
        if service not in ("ses", "sesv2", "sns") or getattr(http_response, "status_code", 500) >= 300:
            return
        recipient, subject = context.get("chaos_recipient") or ("?", "?")
        self.delivered.append((self.tick, recipient, subject))
        if "back in stock" in subject:
            self.sent_at.append(self.clock.time())
        if self.scope == "send" and not self.depth and self.allowed and self.chance("send_killed_after_provider"):
            self.hit("send_killed_after_provider")
            raise Killed("send worker killed after the provider accepted the message")


def _error(code: str, status: int, message: str = "chaos") -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}


def _recipient(operation: str, params: dict[str, Any]) -> tuple[str, str]:
    """(recipient, subject) of a provider call: SES v1 Destination, SES v2 raw MIME, SNS phone number."""
    import email
    import email.policy

    if operation == "Publish":
        return str(params.get("PhoneNumber") or params.get("TargetArn")), str(params.get("Message", ""))[:60]
    if "Destination" in params:
        return params["Destination"]["ToAddresses"][0], params["Message"]["Subject"]["Data"]
    raw = params.get("Content", {}).get("Raw", {}).get("Data") or params.get("RawMessage", {}).get("Data", b"")
    parsed = email.message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(), policy=email.policy.default)
    return str(parsed["To"]), str(parsed["Subject"])


# ---------------------------------------------------------------------------------------------------- the run
@dataclass
class Signup:
    shop: str
    signup_id: str
    contact: str
    variant: int
    created_tick: int
    gone_tick: int | None = None  # deleted or unsubscribed (a client's request answered 2xx)
    how: str = ""


@dataclass
class ShopRun:
    shop_id: str
    domain: str
    api_key: str
    restock_variant: int
    product: int
    inventory_item: int
    restock_tick: int | None = None


@dataclass
class Run:
    config: Config
    rng: random.Random
    faults: Faults
    shops: list[ShopRun] = field(default_factory=list)
    signups: dict[str, Signup] = field(default_factory=dict)
    eligible: dict[str, set[str]] = field(default_factory=dict)  # shop -> signup ids waiting at its restock
    campaigns: list[dict[str, Any]] = field(default_factory=list)  # pending workflow states
    exports: list[dict[str, Any]] = field(default_factory=list)
    export_jobs: list[tuple[str, str, str]] = field(default_factory=list)  # (shop, api key, job id)
    known_executions: set[str] = field(default_factory=set)
    causes: dict[str, str] = field(default_factory=dict)  # SQS message id -> its last failure
    webhook_messages: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # event id -> msg ids
    stream_pending: list[dict[str, Any]] = field(default_factory=list)
    stream_offset: int = 0
    stream_arn: str = ""
    stream_failures: list[str] = field(default_factory=list)
    figures: Counter[str] = field(default_factory=Counter)
    orders: int = 0
    idle: list[float] = field(default_factory=list)  # virtual seconds waited with only delayed messages queued
    progress: Callable[[str], None] = lambda line: None

    def say(self, line: str) -> None:
        self.progress(f"[{self.faults.tick} steps, {sum(self.faults.counts.values())} faults] {line}")


def run(config: Config, progress: Callable[[str], None] | None = None) -> Result:
    """One chaos run in its own moto, the process environment restored afterwards. `progress` gets a line now and
    then (the CLI prints them on stderr)."""
    saved = dict(os.environ)
    try:
        return _run(config, progress)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from backinstock import deps

        deps.reset()


def _run(config: Config, progress: Callable[[str], None] | None) -> Result:
    from backinstock_tools.local import backend

    env = backend.local_environment("http://unused")
    env.pop("AWS_ENDPOINT_URL")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(env)
    os.environ["CAMPAIGN_SECONDS_PER_HOUR"] = "0"
    from moto import mock_aws

    from backinstock import deps

    deps.reset()
    started, cpu = time.monotonic(), time.process_time()
    rng = random.Random(config.seed)
    with (
        mock_aws(),
        _parsed_once(),
        _seeded_clock(config.seed),
        contextlib.ExitStack() as stack,
    ):  # moto does not execute the state machines: this driver runs their tasks
        backend.create_resources()
        faults = Faults(rng, config.fault_rate)
        stack.enter_context(_virtual_time(faults.clock, config))
        r = Run(config, rng, faults)
        if progress is not None:
            r.progress = progress
        r.say("setting up: two shops, their catalogs and waitlists")
        _setup(r)
        r.say(f"{len(r.signups)} signups waiting; the run starts")
        faults.install()
        _drive(r)
        r.say("drained; checking the invariants")
        invariants, dead = _check(r)
    return Result(
        config,
        Counter({k: faults.counts.get(k, 0) for k in BASE_RATES}),
        invariants,
        dead,
        r.stream_failures,
        dict(r.figures),
        time.monotonic() - started,
        time.process_time() - cpu,
    )


START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@contextlib.contextmanager
def _seeded_clock(seed: int) -> Iterator[None]:
    """The application's clock (`ids.now`) and the random bits of its ids (`ids.uuid7`) from the seed: a logical
    clock from START, one millisecond a reading. Ids order as they would (by time, then random bits), and the
    same seed gives the same ids in the same order, so a run replays exactly."""
    from unittest import mock

    from backinstock import ids

    bits = random.Random(seed ^ 0x5EED)
    ticks = iter(range(1, 1 << 62))

    def now() -> datetime:
        return START + timedelta(milliseconds=next(ticks))

    with (
        mock.patch.object(ids, "now", now),
        mock.patch.object(ids, "secrets", SimpleNamespace(randbits=bits.getrandbits)),
    ):
        yield


@contextlib.contextmanager
def _virtual_time(clock: VirtualClock, config: Config) -> Iterator[None]:
    """The sustained provider limit on the virtual clock: SES and SNS refuse beyond `provider_rate` a second (SES's
    quota reads the same), the worker's SMS rate setting is the same; the send pace waits and moto's SQS delays on
    the virtual clock; the pace's random choices from the seed."""
    from unittest import mock

    import moto.sqs.models as sqs_models

    from backinstock.services import pacing
    from backinstock_tools.local import provider_limits

    rate = config.provider_rate
    provider_limits.install(rate, rate, clock=clock.time)
    os.environ["SMS_SEND_RATE"] = str(rate)
    with (
        mock.patch.object(pacing, "clock", clock),
        mock.patch.object(pacing, "rng", random.Random(config.seed ^ 0xACE)),
        mock.patch.object(sqs_models, "unix_time", clock.time),
        mock.patch.object(sqs_models, "unix_time_millis", lambda: clock.time() * 1000),
    ):
        try:
            yield
        finally:
            provider_limits.install()


@contextlib.contextmanager
def _parsed_once() -> Iterator[None]:
    """moto parses an UpdateExpression on every call (~1.5 ms; a rollup record's transaction holds ~15 of them):
    parse each distinct expression once. The parsed tree is never changed in place (moto's validator works on a
    deep copy of it), so sharing it answers the same. moto is pinned exactly in pyproject.toml."""
    from unittest import mock

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    make = UpdateExpressionParser.make
    parsed: dict[str, Any] = {}

    def once(expression_str: str) -> Any:
        if expression_str not in parsed:
            parsed[expression_str] = make(expression_str)
        return parsed[expression_str]

    with mock.patch.object(UpdateExpressionParser, "make", staticmethod(once)):
        yield


# ---------------------------------------------------------------------------------------------------- set-up
def _setup(r: Run) -> None:
    """Two connected shops, their catalogs through products/create webhooks, the waitlists (seeded through the
    signup service, as the API creates them), one poison message. No faults yet."""
    from backinstock import deps
    from backinstock.models.signups import SignupCreate
    from backinstock.services import shops, signups

    c = r.config
    for index, (domain, waiting) in enumerate(
        (("chaos-one.myshopify.com", c.restock_signups), ("chaos-two.myshopify.com", c.side_signups))
    ):
        shop = shops.create_shop(deps.shops(), domain, plan="pro")
        shops.connect_shopify(deps.shops(), deps.shop_secrets(), shop["shop_id"], WEBHOOK_SECRET, "shpat_chaos_0123")
        product = 9000 + index
        base = 100 * (index + 1)
        s = ShopRun(shop["shop_id"], domain, shop["api_key"], base + 1, product, 70000 + base + 1)
        r.shops.append(s)
        variants = [{"id": base + i, "title": f"Size {i}", "inventory_item_id": 70000 + base + i} for i in (1, 2, 3, 4)]
        payload = {
            "id": product,
            "title": f"Chaos Tee {index}",
            "handle": f"chaos-tee-{index}",
            "updated_at": "2026-11-01T00:00:00Z",
            "variants": variants,
        }
        status, body = _webhook(r, s, "products/create", payload)
        assert status == 200, body
        _drain_webhooks_clean(r)
        counts = {s.restock_variant: waiting}
        if index == 0:
            counts.update({base + 2: c.side_signups, base + 3: c.side_signups})  # bulk notify, transfer from
        for variant, n in counts.items():
            for _ in range(n):
                contact = f"c{r.rng.getrandbits(48):012x}@example.com"
                body_model = SignupCreate(channel="email", shopify_variant_id=variant, email=contact)
                signup_id = signups.create_signup(deps.waitlist(), s.shop_id, body_model).id
                r.signups[signup_id] = Signup(s.shop_id, signup_id, contact, variant, 0)
    # The waitlists are history: the rollups count them through a rebuild (`reports rebuild`, services/rollup_audit),
    # not through 2,000 stream records in moto (~0.1 s each); the run's stream starts after them.
    from backinstock import ids
    from backinstock.services import rollup_audit

    r.stream_offset = len(_shard().items)
    r.stream_arn = _stream_arn()
    for s in r.shops:
        rebuilt = rollup_audit.rebuild(deps.rollups(), s.shop_id, ids.now(), settle=lambda: None)
        assert rebuilt.clean, rebuilt
    deps.queue().send({**POISON, "shop_id": r.shops[0].shop_id})


def _drain_webhooks_clean(r: Run) -> None:
    while _queue_tick(r, "webhook"):
        pass


# ------------------------------------------------------------------------------------------------- requests
def _request(
    r: Run, method: str, path: str, api_key: str | None, body: Any = None, *, query: str = "", retries: int = 5
) -> tuple[int, Any]:
    """A client's request through the local gateway; a 5xx (a fault) is retried with the same Idempotency-Key."""
    from backinstock import registry

    headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.UUID(int=r.rng.getrandbits(128)))}
    if api_key:
        headers["X-Auth-Token"] = api_key
    text = json.dumps(body) if body is not None else None
    status, answer = 0, None
    for attempt in range(retries + 1):
        with r.faults.invocation("api", attempt < FAULTED_ATTEMPTS):
            response = _gateway(method, registry.BASE_PATH + path + query, headers, text)
        status = int(response["statusCode"])
        try:
            answer = json.loads(response.get("body") or "null")
        except ValueError:
            answer = response.get("body")
        if status < 500:
            break
        r.figures["client_retries"] += 1
    return status, answer


def _gateway(method: str, path: str, headers: dict[str, str], body: str | None) -> dict[str, Any]:
    """The local gateway; a failure outside the action's handler (the authorizer's lookup) is API Gateway's 500."""
    from backinstock_tools.local.server import handle

    try:
        return handle(method, path, headers, body)
    except Exception:
        return {"statusCode": 500, "body": json.dumps({"errors": ["Internal server error (the authorizer failed)"]})}


def _webhook(r: Run, s: ShopRun, topic: str, payload: dict[str, Any], event_id: str | None = None) -> tuple[int, Any]:
    """Shopify's delivery: signed with the shop's secret, retried (same event id) until it is answered 2xx."""
    from backinstock import registry
    from backinstock.services.webhooks import signature

    body = json.dumps(payload)
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": s.domain,
        "X-Shopify-Hmac-Sha256": signature(WEBHOOK_SECRET, body.encode()),
        "X-Shopify-Event-Id": event_id or str(uuid.UUID(int=r.rng.getrandbits(128))),
    }
    status, answer = 0, None
    for attempt in range(8):  # Shopify retries 8 times
        with r.faults.invocation("api", attempt < FAULTED_ATTEMPTS):
            response = _gateway("POST", registry.BASE_PATH + "/webhooks/shopify", headers, body)
        status, answer = int(response["statusCode"]), json.loads(response.get("body") or "null")
        if status < 500:
            break
        r.figures["webhook_redeliveries"] += 1
    return status, answer


# ----------------------------------------------------------------------------------------------- client ops
def _client_ops(r: Run) -> list[Callable[[], None]]:
    c, rng = r.config, r.rng
    one, two = r.shops
    ops: list[Callable[[], None]] = []
    kinds = ["create"] * 3 + ["delete"] * 3 + ["unsubscribe"] * 3 + ["order"] * 2 + ["restock_noise"]
    for _ in range(c.client_ops):
        kind = rng.choice(kinds)
        shop = one if rng.random() < 0.8 else two
        ops.append(functools.partial(_client_op, r, kind, shop))
    ops.insert(min(len(ops), 3), lambda: _restock(r, one))
    ops.insert(min(len(ops), 8), lambda: _restock(r, two))
    ops.insert(min(len(ops), 12), lambda: _bulk_notify(r, one))
    ops.insert(min(len(ops), 16), lambda: _transfer(r, one))
    ops.insert(min(len(ops), 20), lambda: _export(r, one, "/back_in_stock/signups/export", {"variant_id": 101}))
    ops.append(lambda: _export(r, one, "/back_in_stock/reports/summary/export", None))
    ops.append(lambda: _export(r, two, "/back_in_stock/signups/export", {}))
    ops.append(lambda: _bulk_notify(r, one, resend=True))  # again, inside the spacing window: no second alert
    return ops


def _restock(r: Run, s: ShopRun) -> None:
    """The restock (delivered twice by Shopify, same event id), then a late stale sold-out level."""
    level = {
        "inventory_item_id": s.inventory_item,
        "location_id": 1,
        "available": 50,
        "updated_at": "2026-11-27T10:00:00Z",
    }
    s.restock_tick = r.faults.tick
    r.eligible[s.shop_id] = {
        i
        for i, g in r.signups.items()
        if g.shop == s.shop_id and g.variant == s.restock_variant and g.gone_tick is None
    }
    event = str(uuid.UUID(int=r.rng.getrandbits(128)))
    _webhook(r, s, "inventory_levels/update", level, event)
    _webhook(r, s, "inventory_levels/update", level, event)
    stale = {**level, "available": 0, "updated_at": "2026-11-27T09:00:00Z"}
    _webhook(r, s, "inventory_levels/update", stale)


def _client_op(r: Run, kind: str, s: ShopRun) -> None:
    rng = r.rng
    mine = [g for g in r.signups.values() if g.shop == s.shop_id and g.gone_tick is None]
    if kind == "create":
        variant = s.restock_variant if rng.random() < 0.6 else s.restock_variant + 3
        contact = f"n{rng.getrandbits(48):012x}@example.com"
        status, body = _request(
            r,
            "POST",
            "/back_in_stock/signups",
            s.api_key,
            {"channel": "email", "shopify_variant_id": variant, "email": contact},
        )
        if status == 201:
            r.signups[body["id"]] = Signup(s.shop_id, body["id"], contact, variant, r.faults.tick)
        r.figures[f"create_{status}"] += 1
    elif kind in ("delete", "unsubscribe") and mine:
        g = rng.choice(sorted(mine, key=lambda x: x.contact))
        if kind == "delete":
            status, _ = _request(r, "DELETE", f"/back_in_stock/signups/{g.signup_id}", s.api_key)
        else:
            from backinstock import deps, ids
            from backinstock.services import links

            token = links.make_token(deps.link_key(), s.shop_id, g.signup_id, "unsubscribe", ids.now())
            status, _ = _request(r, "POST", "/back_in_stock/unsubscribe", None, query=f"?token={token}")
        # A 404 to a delete of a signup this run knows is there: an earlier attempt of the same request deleted it
        # (its answer was lost to a fault and the client retried).
        if status < 300 or (kind == "delete" and status == 404):
            g.gone_tick, g.how = r.faults.tick, kind
        r.figures[f"{kind}_{status}"] += 1
    elif kind == "order":
        alerted = sorted({to for _, to, subject in r.faults.delivered if "back in stock" in subject})
        if not alerted:
            return
        r.orders += 1
        contact = rng.choice(alerted)
        order: dict[str, Any] = {
            "id": 5_000_000 + r.orders,
            "name": f"#{1000 + r.orders}",
            "email": contact,
            "created_at": _now_iso(),
            "currency": "USD",
            "line_items": [
                {
                    "id": r.orders,
                    "variant_id": s.restock_variant,
                    "product_id": s.product,
                    "price": "20.00",
                    "quantity": 1,
                    "discount_allocations": [],
                }
            ],
        }
        owner = next(
            (sh for sh in r.shops if any(g.contact == contact and g.shop == sh.shop_id for g in r.signups.values())), s
        )
        order["line_items"][0].update(variant_id=owner.restock_variant, product_id=owner.product)
        _webhook(r, owner, "orders/create", order)
        r.figures["orders"] += 1
    elif kind == "restock_noise":  # another variant's stock moves: no restock of the waiting variants
        level = {
            "inventory_item_id": s.inventory_item + 3,
            "location_id": 1,
            "available": rng.randint(0, 3),
            "updated_at": _now_iso(),
        }
        _webhook(r, s, "inventory_levels/update", level)


def _bulk_notify(r: Run, s: ShopRun, resend: bool = False) -> None:
    """The side variant's signups notified; `resend`: again, with allow_resend, moments later (the resend spacing
    window holds or joins each: still one alert per customer)."""
    ids_ = sorted(g.signup_id for g in r.signups.values() if g.shop == s.shop_id and g.variant == s.restock_variant + 1)
    body = {"signup_ids": ids_[:20], **({"allow_resend": True} if resend else {})}
    status, _ = _request(r, "POST", "/back_in_stock/signups/bulk_notify", s.api_key, body)
    r.figures[f"bulk_notify_{'resend_' if resend else ''}{status}"] += 1


def _transfer(r: Run, s: ShopRun) -> None:
    body = {
        "from_shopify_variant_id": s.restock_variant + 2,
        "to_shopify_variant_id": s.restock_variant + 3,
        "to_shopify_product_id": s.product,
    }
    status, _ = _request(r, "POST", "/back_in_stock/signups/transfer", s.api_key, body)
    if status < 300:
        for g in r.signups.values():
            if g.shop == s.shop_id and g.variant == s.restock_variant + 2:
                g.variant = s.restock_variant + 3
    r.figures[f"transfer_{status}"] += 1


def _export(r: Run, s: ShopRun, path: str, body: Any) -> None:
    status, answer = _request(r, "POST", path, s.api_key, body)
    r.figures[f"export_{status}"] += 1
    if status == 202:
        r.export_jobs.append((s.shop_id, s.api_key, answer["job_id"]))


def _now_iso() -> str:
    from backinstock import ids

    return ids.iso(ids.now())


# ---------------------------------------------------------------------------------------------------- driving
def _drive(r: Run) -> None:
    ops = _client_ops(r)
    steps: dict[str, Callable[[], bool]] = {
        "send": lambda: _queue_tick(r, "send"),
        "webhook": lambda: _queue_tick(r, "webhook"),
        "campaign": lambda: _campaign_tick(r),
        "export": lambda: _export_tick(r),
        "stream": lambda: _stream_tick(r),
    }
    idle = 0
    while True:
        r.faults.tick += 1
        if r.faults.tick % 500 == 0:
            r.say(
                f"{len(ops)} client operations left, {r.figures['stream_records']} stream records applied, "
                f"{len(r.faults.delivered)} messages delivered"
            )
        if ops and r.rng.random() < 0.25:
            ops.pop(0)()
            idle = 0
            continue
        name = r.rng.choice(sorted(steps))
        if steps[name]():
            idle = 0
            continue
        idle += 1
        if not ops and idle > 10 and not any(step() for step in steps.values()):
            if _delayed_messages(r):
                r.idle.append(r.faults.clock.time())
                r.faults.clock.sleep(1)  # virtual: the delayed messages come due without waiting
                r.figures["idle_virtual_seconds"] += 1
                continue
            return


_POLLERS: dict[str, Any] = {}


def _poller(url: str, handler: str) -> Any:
    import threading

    from backinstock_tools.local.pollers import QueuePoller

    key = f"{url}|{handler}"
    if key not in _POLLERS:
        _POLLERS[key] = QueuePoller(
            url, handler, threading.RLock(), wait_seconds=0, retry_base_seconds=0, retry_max_seconds=0
        )
    return _POLLERS[key]


def _queue_tick(r: Run, kind: str) -> bool:
    """One batch of a queue through its worker, as Lambda's event source would hand it over, with the faults."""
    url = os.environ["SEND_QUEUE_URL" if kind == "send" else "WEBHOOK_QUEUE_URL"]
    handler = "workers.send_worker" if kind == "send" else "workers.webhook_worker"
    poller = _poller(url, handler)
    messages = poller.client.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageSystemAttributeNames=["All"]
    ).get("Messages", [])
    if not messages:
        return False
    r.figures[f"{kind}_batches"] += 1
    if kind == "webhook":
        for m in messages:
            r.webhook_messages[json.loads(m["Body"]).get("event_id", "?")].add(m["MessageId"])
    receives = max(int(m["Attributes"].get("ApproximateReceiveCount", 1)) for m in messages)
    allowed = receives <= FAULTED_ATTEMPTS
    f = r.faults
    every = {m["MessageId"] for m in messages}
    if allowed and f.chance("sqs_delivered_twice"):  # a second consumer got the batch too and ran it first
        f.hit("sqs_delivered_twice")
        with f.invocation(kind, True, kill="worker_killed"), contextlib.suppress(Killed):
            poller.invoke(messages)
    with f.invocation(kind, allowed, kill="worker_killed"):
        if allowed and f.chance("sqs_visibility_expired"):
            target = r.rng.choice(messages)
            f.interleave_at = r.rng.randint(1, 4)
            f.interleave = lambda: _nested_consumer(kind, target)
        try:
            failed = poller.invoke(messages)
            module = _worker_module(kind)
            for record, exc in zip(module.processor.fail_messages, module.processor.exceptions, strict=False):
                r.causes[record.message_id] = f"{exc[0].__name__}: {exc[1]}"[:160]
        except Killed as killed:
            failed = every
            for m in messages:
                r.causes[m["MessageId"]] = f"Killed: {killed}"
    succeeded = [m for m in messages if m["MessageId"] not in failed]
    if succeeded:
        poller._delete(succeeded)
    back = [m for m in messages if m["MessageId"] in failed]
    if back:
        poller.client.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(back)
            ],
        )
        r.figures[f"{kind}_messages_retried"] += len(back)
    if kind == "webhook" or f.scope is None:
        _discover_workflows(r)
    return True


def _worker_module(kind: str) -> Any:
    if kind == "send":
        from backinstock.workers import send

        return send
    from backinstock.workers import webhooks

    return webhooks


def _nested_consumer(kind: str, message: dict[str, Any]) -> None:
    """The message's visibility timeout expired while the first consumer still works on it: another consumer
    receives it and runs it to the end, in the middle of the first one's work."""
    module = _worker_module(kind)
    with contextlib.suppress(Exception):
        module.handle_message(json.loads(message["Body"]))


def _delayed_messages(r: Run) -> int:
    from backinstock import aws

    total = 0
    for name in ("SEND_QUEUE_URL", "WEBHOOK_QUEUE_URL"):
        attributes = aws.client("sqs").get_queue_attributes(
            QueueUrl=os.environ[name],
            AttributeNames=["ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        total += sum(int(v) for v in attributes.values())
    return total


# ----------------------------------------------------------------------------------------------- workflows
def _discover_workflows(r: Run) -> None:
    """Executions started since the last look: moto records them (not executing them); their tasks run here."""
    from backinstock import aws

    sfn = aws.client("stepfunctions")
    for variable, target in (("CAMPAIGN_STATE_MACHINE_ARN", r.campaigns), ("EXPORT_STATE_MACHINE_ARN", r.exports)):
        executions = sfn.list_executions(stateMachineArn=os.environ[variable])["executions"]
        for e in sorted(executions, key=lambda e: e["name"]):
            if e["executionArn"] in r.known_executions:
                continue
            r.known_executions.add(e["executionArn"])
            state = json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])
            target.append({"state": state, "attempts": 0})


def _task(r: Run, module: str, event: dict[str, Any], allowed: bool) -> dict[str, Any]:
    from backinstock import dispatch

    handler = dispatch.handler_for(module)
    with r.faults.invocation("workflow", allowed, kill="workflow_task_killed"):
        result: dict[str, Any] = handler(event, dispatch.LambdaContext(module))
        return result


def _campaign_tick(r: Run) -> bool:
    """One SendBatch of the campaign workflow; Retry on any task failure (States.TaskFailed, 4 attempts), then
    the Catch: Abandon."""
    _discover_workflows(r)
    if not r.campaigns:
        return False
    run_ = r.campaigns[0]
    state = run_["state"]
    try:
        state = _task(
            r, "workflows.campaign_step", {"phase": "batch", "campaign": state}, run_["attempts"] < FAULTED_ATTEMPTS
        )
    except (Exception, Killed) as exc:
        run_["attempts"] += 1
        r.figures["campaign_step_retries"] += 1
        if run_["attempts"] > 4:
            error = {"Error": type(exc).__name__, "Cause": str(exc)}
            with contextlib.suppress(Exception, Killed):
                _task(r, "workflows.campaign_step", {"phase": "abandon", "campaign": {**state, "error": error}}, False)
            r.campaigns.pop(0)
            r.figures["campaigns_abandoned"] += 1
        return True
    run_["attempts"] = 0
    run_["state"] = state
    r.figures["campaign_steps"] += 1
    if state.get("done"):
        r.campaigns.pop(0)
    return True


def _export_tick(r: Run) -> bool:
    """One step of the export workflow. Its Retry covers only Lambda service errors: a failed task goes to the
    Catch (RecordFailure, retried 3 times), which records the failure and aborts the upload."""
    _discover_workflows(r)
    if not r.exports:
        return False
    run_ = r.exports.pop(0)
    job = run_["state"]
    try:
        result = _task(r, "workflows.export_step", {"phase": "run", "job": job}, True)
    except (Exception, Killed) as exc:
        failed = {**job, "error": {"Error": type(exc).__name__, "Cause": str(exc)}}
        for _ in range(4):
            try:
                _task(r, "workflows.export_step", {"phase": "fail", "job": failed}, False)
                break
            except (Exception, Killed):  # noqa: S112 (RecordFailure's own Retry: the next attempt)
                continue
        r.figures["exports_failed"] += 1
        return True
    if not result.get("done"):
        r.exports.append({"state": result, "attempts": 0})
    else:
        r.figures["exports_done"] += 1
    return True


# ------------------------------------------------------------------------------------------------ the stream
def _read_stream(r: Run) -> None:
    """The records written since the last read, filtered as the event source's filter does. Read from moto's shard
    in process: its GetRecords answer is the same list, but moto's response serializer costs ~0.4 s a call."""
    from backinstock import infra_spec

    items = _shard().items
    for record in items[r.stream_offset :]:
        body = record.to_json()
        image = body["dynamodb"].get("NewImage") or body["dynamodb"].get("OldImage") or {}
        if image.get("entity", {}).get("S") in infra_spec.ROLLUP_CONSUMER.entities:
            copied = copy.deepcopy(body)
            created = copied["dynamodb"].get("ApproximateCreationDateTime")
            if created is not None and not isinstance(created, int | float):
                copied["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
            r.stream_pending.append(copied)
    r.stream_offset = len(items)


def _shard() -> Any:
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    from backinstock_tools.local import backend

    return get_backend("dynamodb")[DEFAULT_ACCOUNT_ID][backend.REGION].tables[os.environ["TABLE_NAME"]].stream_shard


def _stream_arn() -> str:
    from backinstock import aws

    return str(aws.client("dynamodb").describe_table(TableName=os.environ["TABLE_NAME"])["Table"]["LatestStreamArn"])


def _shop_of(record: dict[str, Any]) -> str:
    return str(record["dynamodb"].get("Keys", {}).get("PK", {}).get("S", "")).split("#")[1:2][0]


def _stream_tick(r: Run) -> bool:
    """One stream batch to the aggregator: in order, or one shop's records ahead of another's (as shards of
    different partitions are read in any order), bisected, replayed; killed mid-batch."""
    from backinstock import infra_spec

    _read_stream(r)
    if not r.stream_pending:
        return False
    f, rng = r.faults, r.rng
    size = infra_spec.ROLLUP_CONSUMER.batch_size
    order = [s.shop_id for s in r.shops]
    shops = sorted({_shop_of(x) for x in r.stream_pending}, key=lambda shop: order.index(shop) if shop in order else -1)
    if len(shops) > 1 and f.chance("stream_reordered"):
        chosen = rng.choice(shops)
        if chosen != _shop_of(r.stream_pending[0]):
            f.hit("stream_reordered")
        batch = [x for x in r.stream_pending if _shop_of(x) == chosen][:size]
    else:
        batch = r.stream_pending[:size]
    taken = {id(x) for x in batch}
    r.stream_pending = [x for x in r.stream_pending if id(x) not in taken]
    if len(batch) > 1 and f.chance("stream_bisected"):
        f.hit("stream_bisected")
        cut = rng.randint(1, len(batch) - 1)
        _deliver(r, batch[:cut])
        _deliver(r, batch[cut:])
    else:
        _deliver(r, batch)
    if f.chance("stream_replayed"):
        f.hit("stream_replayed")
        _deliver(r, batch)
    r.figures["stream_records"] += len(batch)
    return True


def _deliver(r: Run, records: list[dict[str, Any]]) -> None:
    """Lambda's stream event source: retry from the first failed record, up to the consumer's retry limit; then
    the record is given up (in AWS: described on the on-failure queue, alarmed)."""
    from backinstock import dispatch, infra_spec
    from backinstock_tools.local.pollers import failures_of, stream_event

    spec = infra_spec.ROLLUP_CONSUMER
    handler = dispatch.handler_for(spec.handler)
    attempts = 0
    while records:
        sequence = [x["dynamodb"]["SequenceNumber"] for x in records]
        cause = ""
        with r.faults.invocation("stream", attempts < FAULTED_ATTEMPTS, kill="stream_killed"):
            try:
                response = handler(stream_event(records, r.stream_arn), dispatch.LambdaContext(spec.handler))
                failed = failures_of(response, set(sequence))
                cause = "batchItemFailures"
            except Killed as killed:
                failed, cause = set(sequence), f"Killed: {killed}"
            except Exception as error:  # a function error: Lambda retries the whole batch
                failed, cause = set(sequence), f"function error: {type(error).__name__}"
        r.figures["stream_invocations"] += 1
        if not failed:
            return
        start = min(sequence.index(s) for s in failed)
        attempts += 1
        if attempts > spec.retry_attempts:
            r.stream_failures.append(f"{records[start]['eventID']} ({_shop_of(records[start])}): {cause}")
            records, attempts = records[start + 1 :], 0
        else:
            records = records[start:]


# ------------------------------------------------------------------------------------------------- invariants
def _check(r: Run) -> tuple[list[Invariant], list[str]]:
    from backinstock import aws, config, deps
    from backinstock.services import rollup_audit

    c = r.config
    out: list[Invariant] = []
    alerts: dict[str, list[int]] = defaultdict(list)
    for tick, to, subject in r.faults.delivered:
        if "back in stock" in subject:
            alerts[to.lower()].append(tick)
    notifications = _notifications(r)
    by_signup: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for n in notifications:
        by_signup[n["signup_id"]].append(n)

    # 1. every signup eligible at its restock: exactly one restock message, or a blocked row with its reason
    bad: list[str] = []
    sent = blocked = excused = 0
    for eligible in r.eligible.values():
        for signup_id in sorted(eligible):
            g = r.signups[signup_id]
            rows = by_signup.get(signup_id, [])
            messages = len(alerts.get(g.contact.lower(), []))
            if g.gone_tick is not None:
                excused += 1
                continue
            if messages == 1 and [x["status"] for x in rows] == ["sent"]:
                sent += 1
            elif messages == 0 and len(rows) == 1 and rows[0]["status"] == "blocked" and rows[0].get("blocked_reason"):
                blocked += 1
            else:
                bad.append(f"{signup_id}: {messages} messages, rows {[x['status'] for x in rows]}")
    total = sum(len(e) for e in r.eligible.values())
    out.append(
        Invariant(
            "every eligible signup got exactly one restock message or a blocked row with its reason",
            not bad and bool(r.eligible),
            f"{total} eligible at the restocks: {sent} sent once, {blocked} blocked, {excused} deleted or unsubscribed "
            f"during the run" + (f"; {len(bad)} broken, e.g. {bad[:3]}" if bad else ""),
        )
    )

    # 2. nothing sent after a delete or an unsubscribe
    late = [
        f"{g.signup_id} ({g.how} at step {g.gone_tick}, message at {t})"
        for g in r.signups.values()
        if g.gone_tick is not None
        for t in alerts.get(g.contact.lower(), [])
        if t > g.gone_tick
    ]
    gone = sum(1 for g in r.signups.values() if g.gone_tick is not None)
    out.append(
        Invariant(
            "nothing was sent to a signup after it was deleted or unsubscribed",
            not late,
            f"{gone} signups deleted or unsubscribed"
            + (f"; {len(late)} messages after, e.g. {late[:3]}" if late else ""),
        )
    )

    # 3. no message twice
    twice = sorted(to for to, ticks in alerts.items() if len(ticks) > 1)
    out.append(
        Invariant(
            "no message was sent twice",
            not twice,
            f"{sum(len(t) for t in alerts.values())} alerts to {len(alerts)} recipients"
            + (f"; {len(twice)} recipients got more than one, e.g. {twice[:3]}" if twice else ""),
        )
    )

    # 4. every Shopify event reached the worker as one queue message (intake's dedupe; SQS redeliveries aside)
    doubled = sorted(e for e, m in r.webhook_messages.items() if len(m) > 1)
    out.append(
        Invariant(
            "every Shopify event was queued once (redeliveries dropped at intake)",
            not doubled,
            f"{len(r.webhook_messages)} events" + (f"; {len(doubled)} queued more than once" if doubled else ""),
        )
    )

    # 5. nothing in flight; dead letters listed with their cause
    sqs = aws.client("sqs")
    in_flight = {}
    dead: list[str] = []
    for name in ("SEND_QUEUE_URL", "WEBHOOK_QUEUE_URL"):
        url = os.environ[name]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        in_flight[name] = sum(
            int(attributes[a])
            for a in (
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            )
        )
        dlq_arn = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
        dlq_url = sqs.get_queue_url(QueueName=dlq_arn.rsplit(":", 1)[1])["QueueUrl"]
        while messages := sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=300).get(
            "Messages", []
        ):
            for m in messages:
                body = json.loads(m["Body"])
                what = body.get("kind") or body.get("topic")
                dead.append(
                    f"{dlq_arn.rsplit(':', 1)[1]}: {what} message {m['MessageId']}: "
                    f"{r.causes.get(m['MessageId'], 'cause unknown')}"
                )
    campaigns_open = len(r.campaigns) + len(r.exports)
    unexpected = [d for d in dead if POISON["kind"] not in d]
    out.append(
        Invariant(
            "nothing is left in flight; dead letters are listed with their cause",
            not any(in_flight.values()) and not r.stream_pending and not campaigns_open and not unexpected,
            f"queues {in_flight}, stream records unread {len(r.stream_pending)}, workflows running {campaigns_open}, "
            f"dead letters {len(dead)} ({len(dead) - len(unexpected)} the planted poison message)",
        )
    )

    # 6. exports ended ready or failed with a message; no multipart upload left open
    states: Counter[Any] = Counter()
    wrong = []
    for _shop, api_key, job_id in r.export_jobs:
        status, job = _request(r, "GET", f"/back_in_stock/reports/exports/{job_id}", api_key)
        states[job.get("status") if isinstance(job, dict) else status] += 1
        if (
            status != 200
            or job.get("status") not in ("ready", "failed")
            or (job.get("status") == "failed" and not job.get("error"))
        ):
            wrong.append(f"{job_id}: {job}")
    uploads = aws.client("s3").list_multipart_uploads(Bucket=config.export_bucket()).get("Uploads", [])
    out.append(
        Invariant(
            "every export finished ready or failed with a message; no multipart upload is open",
            not wrong and not uploads and bool(r.export_jobs),
            f"{len(r.export_jobs)} exports: {dict(states)}; open uploads {len(uploads)}"
            + (f"; {wrong[:2]}" if wrong else ""),
        )
    )

    # 7. reports verify clean for every shop
    differences = []
    records = 0
    for s in r.shops:
        verification = rollup_audit.verify(deps.rollups(), s.shop_id)
        records += verification.records
        differences += [f"{s.domain} {d.as_dict()}" for d in verification.differences]
    out.append(
        Invariant(
            "reports verify is clean for every shop",
            not differences,
            f"{len(r.shops)} shops, {records} base records"
            + (f"; {len(differences)} differences, e.g. {differences[:3]}" if differences else ""),
        )
    )
    # 8. contention is settled where it happens: no transaction cancelled by a concurrent one reached its caller
    # (so no retry, and no dead letter, came of it)
    escaped = r.faults.contention_escaped
    out.append(
        Invariant(
            "no transaction cancelled by contention reached its caller",
            not escaped,
            f"{r.faults.counts['contention']} transactions cancelled by a concurrent one"
            + (f"; {len(escaped)} not tried again, e.g. {escaped[:3]}" if escaped else ""),
        )
    )
    # 9. the pace kept to the provider's limit; no dead letter from throttling
    from backinstock_tools.local import provider_limits

    refused, calls = provider_limits.refused(), r.faults.provider_calls
    throttled_dead = [d for d in dead if "Throttl" in d or "Maximum sending rate" in d]
    out.append(
        Invariant(
            f"the sends kept to the provider's limit of {c.provider_rate:g}/s (no dead letter from throttling)",
            refused <= REFUSED_SHARE * max(calls, 1) and not throttled_dead,
            f"{calls} provider calls, {refused} refused for the rate (at most {REFUSED_SHARE:.0%}), "
            f"{len(throttled_dead)} dead letters from throttling",
        )
    )

    # 10. the pace is the provider's: sends per (virtual) second once the restock is under way
    rate, span = _send_rate(r.faults.sent_at, r.idle, r.faults.send_kills)
    out.append(
        Invariant(
            f"the alerts went out at >= {MIN_RATE_SHARE:.0%} of the provider's rate once the restock was under way",
            rate >= MIN_RATE_SHARE * c.provider_rate,
            f"{len(r.faults.sent_at)} alerts in {span:.1f} virtual seconds with sends queued, "
            f"{r.faults.send_kills} tokens lost with killed send invocations: {rate:.1f}/s (R = {c.provider_rate:g}/s)",
        )
    )
    r.figures["alerts_delivered"] = sum(len(t) for t in alerts.values())
    r.figures["provider_refused_for_rate"] = refused
    return out, dead


def _send_rate(times: list[float], idle: list[float], killed: int) -> tuple[float, float]:
    """Alerts per virtual second from the first alert to the last ((n - 1) / span: n alerts, n - 1 intervals),
    leaving out the seconds the driver waited with nothing visible to send (only a fault's delayed retry queued:
    the pace was not what held the sends then), and counting the token each killed send invocation took with it
    (a crash between the token and the provider call wastes it; nothing in the process survives to give it
    back). Fewer than two alerts: no rate to fall short of."""
    if len(times) < 2:
        return math.inf, 0.0
    first, last = min(times), max(times)
    span = last - first - sum(1 for t in idle if first <= t < last)
    return ((len(times) - 1 + killed) / span if span > 0 else math.inf), span


def _notifications(r: Run) -> list[dict[str, Any]]:
    from backinstock import aws, config
    from backinstock.repositories.base import from_item

    client = aws.client("dynamodb")
    out: list[dict[str, Any]] = []
    for s in r.shops:
        paginator = client.get_paginator("query")
        for page in paginator.paginate(
            TableName=config.table_name(),
            KeyConditionExpression="PK = :pk AND begins_with(SK, :notif)",
            ExpressionAttributeValues={":pk": {"S": f"SHOP#{s.shop_id}"}, ":notif": {"S": "NOTIF#"}},
        ):
            out += [from_item(i) for i in page["Items"]]
    return out


# --------------------------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaos", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("CHAOS_SEED") or 1))
    parser.add_argument("--signups", type=int, default=Config.restock_signups)
    parser.add_argument("--ops", type=int, default=Config.client_ops)
    parser.add_argument("--fault-rate", type=float, default=Config.fault_rate)
    parser.add_argument(
        "--provider-rate", type=float, default=Config.provider_rate, help="SES and SNS messages a second (R)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    config = Config(
        seed=args.seed,
        restock_signups=args.signups,
        client_ops=args.ops,
        fault_rate=args.fault_rate,
        provider_rate=args.provider_rate,
    )
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):  # the functions' JSON log lines and metrics
        result = run(config, progress=lambda line: print(line, file=sys.stderr, flush=True))
    if args.json:
        print(
            json.dumps(
                {
                    "ok": result.ok,
                    "faults": result.faults,
                    "seconds": round(result.seconds, 1),
                    "cpu_seconds": round(result.cpu_seconds, 1),
                    "invariants": [vars(i) for i in result.invariants],
                    "dead_letters": result.dead_letters,
                    "figures": result.figures,
                },
                indent=2,
            )
        )
    else:
        print(result.report())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
