"""The chaos run's settings and state: the fault kinds and their rates, `Config`, the virtual clock, what the
run knows of its shops and signups (`Run`), and its `Result`.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backinstock_tools.chaos.faults import Faults


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
# trade-off of services/sending.py, which invariant 1 would report); nor the write that releases a claim after the
# provider did not take the message (`faults._releases_a_claim`: the same window, closed late); the kill after the
# provider accepted is `send_killed_after_provider`.
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


START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


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
