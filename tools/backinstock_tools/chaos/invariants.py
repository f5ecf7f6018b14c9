"""The invariants checked after the run drains (docs/RELIABILITY.md, "Invariants")."""

from __future__ import annotations

import json
import math
import os
from collections import Counter, defaultdict
from typing import Any

from backinstock_tools.chaos.model import MIN_RATE_SHARE, POISON, REFUSED_SHARE, Invariant, Run
from backinstock_tools.chaos.operations import _request


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
