"""The invariants checked after the run drains (docs/RELIABILITY.md, "Invariants").

Each invariant is one entry of `INVARIANTS`: its number (the one docs/RELIABILITY.md gives it), the line the report
prints, and one function that reads the drained run (`Observed`) and answers whether it held and the figures that
show it. A new invariant is a new function, a new entry and a new item of the documentation's list (a unit test
holds the two numberings together).
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backinstock_tools.chaos.model import MIN_RATE_SHARE, POISON, REFUSED_SHARE, Invariant, Run
from backinstock_tools.chaos.operations import _request

Verdict = tuple[bool, str]  # held, and the figures that show it


@dataclass
class Observed:
    """A drained run and what the checks read of it: each read once, when a check first asks for it."""

    r: Run

    @functools.cached_property
    def alerts(self) -> dict[str, list[int]]:
        """The restock alerts the providers accepted, by recipient (lower case): the driver's ticks they came at."""
        alerts: dict[str, list[int]] = defaultdict(list)
        for tick, to, subject in self.r.faults.delivered:
            if "back in stock" in subject:
                alerts[to.lower()].append(tick)
        return alerts

    @functools.cached_property
    def by_signup(self) -> dict[str, list[dict[str, Any]]]:
        """The notification rows of both shops, by signup."""
        by_signup: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for n in _notifications(self.r):
            by_signup[n["signup_id"]].append(n)
        return by_signup

    @functools.cached_property
    def queues(self) -> tuple[dict[str, int], list[str]]:
        """The messages left in each queue (visible, in flight, delayed), and the dead letters with their last
        failure (read off the dead-letter queues: once)."""
        from backinstock import aws

        r = self.r
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
        return in_flight, dead

    @property
    def dead(self) -> list[str]:
        return self.queues[1]


# ---------------------------------------------------------------------------------------------- the checks
def eligible_signups_alerted_once(o: Observed) -> Verdict:
    """Every signup eligible at its restock: exactly one restock message and one `sent` row, or no message and one
    `blocked` row with its reason; signups deleted or unsubscribed during the run are excused (see 2)."""
    r, alerts, by_signup = o.r, o.alerts, o.by_signup
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
    return (
        not bad and bool(r.eligible),
        f"{total} eligible at the restocks: {sent} sent once, {blocked} blocked, {excused} deleted or unsubscribed "
        f"during the run" + (f"; {len(bad)} broken, e.g. {bad[:3]}" if bad else ""),
    )


def nothing_sent_after_gone(o: Observed) -> Verdict:
    """Nothing sent to a signup after its delete or unsubscribe was answered."""
    r, alerts = o.r, o.alerts
    late = [
        f"{g.signup_id} ({g.how} at step {g.gone_tick}, message at {t})"
        for g in r.signups.values()
        if g.gone_tick is not None
        for t in alerts.get(g.contact.lower(), [])
        if t > g.gone_tick
    ]
    gone = sum(1 for g in r.signups.values() if g.gone_tick is not None)
    return (
        not late,
        f"{gone} signups deleted or unsubscribed" + (f"; {len(late)} messages after, e.g. {late[:3]}" if late else ""),
    )


def no_message_twice(o: Observed) -> Verdict:
    """No recipient got a restock or notify message twice."""
    alerts = o.alerts
    twice = sorted(to for to, ticks in alerts.items() if len(ticks) > 1)
    return (
        not twice,
        f"{sum(len(t) for t in alerts.values())} alerts to {len(alerts)} recipients"
        + (f"; {len(twice)} recipients got more than one, e.g. {twice[:3]}" if twice else ""),
    )


def events_queued_once(o: Observed) -> Verdict:
    """Every Shopify event reached the worker as one queue message (intake's dedupe; SQS redeliveries aside)."""
    r = o.r
    doubled = sorted(e for e, m in r.webhook_messages.items() if len(m) > 1)
    return (
        not doubled,
        f"{len(r.webhook_messages)} events" + (f"; {len(doubled)} queued more than once" if doubled else ""),
    )


def nothing_in_flight(o: Observed) -> Verdict:
    """Nothing left in flight (queues, stream, workflows); the dead letters listed with their cause, only the
    planted poison message expected."""
    r = o.r
    in_flight, dead = o.queues
    campaigns_open = len(r.campaigns) + len(r.exports)
    unexpected = [d for d in dead if POISON["kind"] not in d]
    return (
        not any(in_flight.values()) and not r.stream_pending and not campaigns_open and not unexpected,
        f"queues {in_flight}, stream records unread {len(r.stream_pending)}, workflows running {campaigns_open}, "
        f"dead letters {len(dead)} ({len(dead) - len(unexpected)} the planted poison message)",
    )


def exports_ended(o: Observed) -> Verdict:
    """Every export ended `ready`, or `failed` with its error; no multipart upload left open."""
    from backinstock import aws, config

    r = o.r
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
    return (
        not wrong and not uploads and bool(r.export_jobs),
        f"{len(r.export_jobs)} exports: {dict(states)}; open uploads {len(uploads)}"
        + (f"; {wrong[:2]}" if wrong else ""),
    )


def reports_verify_clean(o: Observed) -> Verdict:
    """`reports verify` (`services/rollup_audit.verify`) is clean for every shop."""
    from backinstock import deps
    from backinstock.services import rollup_audit

    r = o.r
    differences = []
    records = 0
    for s in r.shops:
        verification = rollup_audit.verify(deps.rollups(), s.shop_id)
        records += verification.records
        differences += [f"{s.domain} {d.as_dict()}" for d in verification.differences]
    return (
        not differences,
        f"{len(r.shops)} shops, {records} base records"
        + (f"; {len(differences)} differences, e.g. {differences[:3]}" if differences else ""),
    )


def contention_settled(o: Observed) -> Verdict:
    """Contention is settled where it happens: no transaction cancelled by a concurrent one reached its caller (so
    no retry, and no dead letter, came of it)."""
    r = o.r
    escaped = r.faults.contention_escaped
    return (
        not escaped,
        f"{r.faults.counts['contention']} transactions cancelled by a concurrent one"
        + (f"; {len(escaped)} not tried again, e.g. {escaped[:3]}" if escaped else ""),
    )


def sends_within_provider_limit(o: Observed) -> Verdict:
    """The pace kept to the provider's limit: at most `REFUSED_SHARE` of provider calls refused for the rate, no
    dead letter from throttling."""
    from backinstock_tools.local import provider_limits

    r, dead = o.r, o.dead
    refused, calls = provider_limits.refused(), r.faults.provider_calls
    throttled_dead = [d for d in dead if "Throttl" in d or "Maximum sending rate" in d]
    return (
        refused <= REFUSED_SHARE * max(calls, 1) and not throttled_dead,
        f"{calls} provider calls, {refused} refused for the rate (at most {REFUSED_SHARE:.0%}), "
        f"{len(throttled_dead)} dead letters from throttling",
    )


def alerts_at_provider_rate(o: Observed) -> Verdict:
    """The pace is the provider's: alerts per (virtual) second once the restock is under way, at least
    `MIN_RATE_SHARE` of R (`_send_rate`)."""
    r = o.r
    c = r.config
    rate, span = _send_rate(r.faults.sent_at, r.idle, r.faults.send_kills)
    return (
        rate >= MIN_RATE_SHARE * c.provider_rate,
        f"{len(r.faults.sent_at)} alerts in {span:.1f} virtual seconds with sends queued, "
        f"{r.faults.send_kills} tokens lost with killed send invocations: {rate:.1f}/s (R = {c.provider_rate:g}/s)",
    )


# ----------------------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Check:
    number: int  # as docs/RELIABILITY.md numbers it
    name: str  # the report's line; `{field}` is the run's `Config` field (`str.format`)
    check: Callable[[Observed], Verdict]


INVARIANTS: tuple[Check, ...] = (
    Check(
        1,
        "every eligible signup got exactly one restock message or a blocked row with its reason",
        eligible_signups_alerted_once,
    ),
    Check(2, "nothing was sent to a signup after it was deleted or unsubscribed", nothing_sent_after_gone),
    Check(3, "no message was sent twice", no_message_twice),
    Check(4, "every Shopify event was queued once (redeliveries dropped at intake)", events_queued_once),
    Check(5, "nothing is left in flight; dead letters are listed with their cause", nothing_in_flight),
    Check(6, "every export finished ready or failed with a message; no multipart upload is open", exports_ended),
    Check(7, "reports verify is clean for every shop", reports_verify_clean),
    Check(8, "no transaction cancelled by contention reached its caller", contention_settled),
    Check(
        9,
        "the sends kept to the provider's limit of {provider_rate:g}/s (no dead letter from throttling)",
        sends_within_provider_limit,
    ),
    Check(
        10,
        f"the alerts went out at >= {MIN_RATE_SHARE:.0%} of the provider's rate once the restock was under way",
        alerts_at_provider_rate,
    ),
)


def _check(r: Run) -> tuple[list[Invariant], list[str]]:
    """Every invariant of `INVARIANTS`, in order, and the dead letters (with their cause)."""
    from backinstock_tools.local import provider_limits

    observed = Observed(r)
    out = [Invariant(c.name.format_map(vars(r.config)), *c.check(observed)) for c in INVARIANTS]
    r.figures["alerts_delivered"] = sum(len(t) for t in observed.alerts.values())
    r.figures["provider_refused_for_rate"] = provider_limits.refused()
    return out, observed.dead


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
    """Every send-log row of the run's shops, read from each shop's 16 log partitions (`notification_partitions`)."""
    from backinstock import aws, config
    from backinstock.repositories.base import from_item
    from backinstock.repositories.notifications import NOTIF, notification_partitions

    client = aws.client("dynamodb")
    out: list[dict[str, Any]] = []
    for s in r.shops:
        for partition in notification_partitions(s.shop_id):
            paginator = client.get_paginator("query")
            for page in paginator.paginate(
                TableName=config.table_name(),
                KeyConditionExpression="PK = :pk AND begins_with(SK, :notif)",
                ExpressionAttributeValues={":pk": {"S": partition}, ":notif": {"S": NOTIF}},
            ):
                out += [from_item(i) for i in page["Items"]]
    return out
