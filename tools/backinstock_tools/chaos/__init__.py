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

The parts: `model` (the fault kinds and rates, `Config`, the run's state, `Result`), `faults` (the botocore hooks),
`operations` (clients' requests, Shopify's webhooks, the client operations), `drivers` (the queues, workflows and
stream as event sources), `invariants` (one check each, `INVARIANTS`), `seeded` (ids, keys and the clocks that steer
code paths from the seed: a seed replays in any process), `runner` (`run`: set-up, drive, check) and `cli` (`main`,
`python -m backinstock_tools.chaos`).
"""

from __future__ import annotations

from backinstock_tools.chaos.cli import main
from backinstock_tools.chaos.faults import Faults
from backinstock_tools.chaos.model import (
    BASE_RATES,
    CONTENTION_WINDOW,
    FAULTED_ATTEMPTS,
    MIN_RATE_SHARE,
    POISON,
    PROVIDER_CALL_SECONDS,
    REFUSED_SHARE,
    START,
    WEBHOOK_SECRET,
    WRITES,
    Config,
    Invariant,
    Killed,
    Result,
    Run,
    ShopRun,
    Signup,
    VirtualClock,
)
from backinstock_tools.chaos.runner import run

__all__ = [
    "BASE_RATES",
    "CONTENTION_WINDOW",
    "FAULTED_ATTEMPTS",
    "MIN_RATE_SHARE",
    "POISON",
    "PROVIDER_CALL_SECONDS",
    "REFUSED_SHARE",
    "START",
    "WEBHOOK_SECRET",
    "WRITES",
    "Config",
    "Faults",
    "Invariant",
    "Killed",
    "Result",
    "Run",
    "ShopRun",
    "Signup",
    "VirtualClock",
    "main",
    "run",
]
