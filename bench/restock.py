"""Webhook intake latency and a restock of a variant with `RESTOCK_SIGNUPS` (10,000) waiting signups, in process
against moto.

1. Intake: `INTAKE_CALLS` signed `inventory_levels/update` deliveries (a new event id each) through the intake
   action's Lambda handler after one warm-up; median, p95, p99 and the AWS calls per request.
2. Restock: seed the waitlist through `services.signups.create_signup` (moto's per-transaction table copy off while
   seeding, as in bench/bulk.py), then one inventory webhook through intake and the webhook worker. The campaign's
   steps run in process (`services.campaigns.step`, what the workflow's Lambda task runs; moto's Step Functions
   would add its own thread and polling, not our code), batching off: 1,000 signups a step. Then the send worker
   runs every queued message with stub providers (moto's table copy off; no transaction is cancelled, checked).
   Figures: steps, their time and calls; sends per second of the worker; the whole restock, webhook to last send.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
from collections import Counter
from typing import Any

from bench import cases

INTAKE_CALLS = int(os.environ.get("BENCH_INTAKE_CALLS", "300"))
RESTOCK_SIGNUPS = int(os.environ.get("BENCH_RESTOCK_SIGNUPS", "10000"))


def run() -> dict[str, Any]:
    cases.use_local_environment(log_level="WARNING")  # before the imports: loggers read it when created
    os.environ["CAMPAIGN_SECONDS_PER_HOUR"] = "0"

    from backinstock import deps, dispatch, registry
    from backinstock.workers import send, webhooks
    from backinstock_tools.testkit.sqs import receive_all

    with cases.local_aws():
        shop = cases.new_shop("restock-bench.myshopify.com")
        shop_id = shop["shop_id"]
        cases.connect(shop_id)
        meter = cases.Meter(services=("dynamodb", "sqs", "secretsmanager", "stepfunctions"))

        # ---- 1. intake
        action = registry.by_name("receive_shopify_webhook")
        level = {"inventory_item_id": cases.INVENTORY_ITEM, "location_id": 1, "available": 0}

        def signed(payload: dict[str, Any]) -> dict[str, Any]:
            return cases.event(action, cases.webhook_call(shop_id, "inventory_levels/update", payload), shop_id)

        own_ms: list[float] = []

        def deliver(event: dict[str, Any]) -> float:
            before = meter.inside_ms()
            t0 = time.perf_counter()
            response = dispatch.invoke(action, event)
            elapsed = (time.perf_counter() - t0) * 1000
            own_ms.append(elapsed - (meter.inside_ms() - before))
            assert response["statusCode"] == 200 and json.loads(response["body"])["status"] == "queued", response
            return elapsed

        deliver(signed({**level, "updated_at": "2026-01-01T00:00:00Z"}))  # warm-up: imports, clients, secret cache
        stamps = [f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z" for i in range(1, INTAKE_CALLS + 1)]
        events = [signed({**level, "updated_at": stamp}) for stamp in stamps]  # signed untimed, uncounted
        meter.reset()
        own_ms.clear()
        intake_ms = [deliver(event) for event in events]
        intake_own_ms = list(own_ms)
        intake_calls = {k: round(v / INTAKE_CALLS, 2) for k, v in sorted(meter.calls.items())}
        with contextlib.suppress(Exception):
            deps.webhook_queue().client.purge_queue(QueueUrl=deps.webhook_queue().url)

        # ---- 2. restock of a variant with RESTOCK_SIGNUPS waiting
        started = time.perf_counter()
        with cases.moto_transactions(snapshots=False) as seeding:
            for _ in range(RESTOCK_SIGNUPS):
                cases.new_signup(shop_id)
        seed_s = time.perf_counter() - started
        assert seeding["cancelled"] == 0, seeding

        # the webhook, through intake and the webhook worker; the campaign it starts is stopped and its steps run here
        timeline: dict[str, float] = {}
        t_start = time.perf_counter()
        deliver(signed({**level, "available": 500, "updated_at": "2026-02-01T00:00:00Z"}))
        intake = deps.webhook_queue()
        [message] = [json.loads(m["Body"]) for m in receive_all(intake.client, intake.url, delete=True)]
        meter.reset()
        outcome = webhooks.handle_message(message)
        timeline["webhook_worker_s"] = time.perf_counter() - t_start
        inside = {"webhook_worker_s": meter.inside_ms() / 1000}
        assert outcome == "restocked", outcome
        worker_calls = dict(meter.calls)
        state = cases.stopped_campaign()

        meter.reset()
        t0 = time.perf_counter()
        state, steps = cases.step_to_the_end(state)
        timeline["campaign_steps_s"] = time.perf_counter() - t0
        inside["campaign_steps_s"] = meter.inside_ms() / 1000
        step_calls = dict(meter.calls)
        assert state["queued"] == RESTOCK_SIGNUPS, state

        messages = cases.drain_queue()
        sender = cases.stub_sender()
        outcomes: Counter[str] = Counter()
        meter.reset()
        with cases.moto_transactions(snapshots=False) as tx:
            t0 = time.perf_counter()
            for body in messages:
                outcomes.update(send.handle_message(body, sender))
            timeline["send_worker_s"] = time.perf_counter() - t0
        inside["send_worker_s"] = meter.inside_ms() / 1000
        assert tx["cancelled"] == 0 and outcomes == Counter({"sent": RESTOCK_SIGNUPS}), (tx, outcomes)
        send_calls = meter.of("dynamodb")
        timeline["total_s"] = time.perf_counter() - t_start

    sends_s = timeline["send_worker_s"]
    return {
        "intake": {
            "calls": INTAKE_CALLS,
            "median_ms": round(statistics.median(intake_ms), 2),
            "p95_ms": round(cases.percentile(intake_ms, 0.95), 2),
            "p99_ms": round(cases.percentile(intake_ms, 0.99), 2),
            "max_ms": round(max(intake_ms), 2),
            "own_code_median_ms": round(statistics.median(intake_own_ms), 2),
            "own_code_p99_ms": round(cases.percentile(intake_own_ms, 0.99), 2),
            "aws_calls_per_request": intake_calls,
        },
        "restock": {
            "signups": RESTOCK_SIGNUPS,
            "seed_seconds": round(seed_s, 1),
            "webhook_worker_calls": worker_calls,
            "campaign_steps": steps,
            "campaign_step_calls": step_calls,
            "send_messages": len(messages),
            "send_dynamodb_calls_per_send": {k: round(v / RESTOCK_SIGNUPS, 2) for k, v in sorted(send_calls.items())},
            "seconds": {k: round(v, 2) for k, v in timeline.items()},
            "seconds_inside_aws_calls": {k: round(v, 2) for k, v in inside.items()},
            "worker_sends_per_second": round(RESTOCK_SIGNUPS / sends_s, 1),
            "end_to_end_sends_per_second": round(RESTOCK_SIGNUPS / timeline["total_s"], 1),
        },
    }


def markdown(r: dict[str, Any]) -> str:
    intake, restock = r["intake"], r["restock"]
    seconds = restock["seconds"]
    inside = restock.get("seconds_inside_aws_calls", {k: "-" for k in seconds})
    return "\n".join(
        [
            f"### Webhook intake, warm, in process against moto ({intake['calls']} signed deliveries)\n",
            "| median ms | p95 ms | p99 ms | max ms | our code (outside AWS calls): median / p99 ms "
            "| AWS calls / request |",
            "|---:|---:|---:|---:|---:|---|",
            f"| {intake['median_ms']} | {intake['p95_ms']} | {intake['p99_ms']} | {intake['max_ms']} | "
            f"{intake.get('own_code_median_ms', '-')} / {intake.get('own_code_p99_ms', '-')} | "
            + ", ".join(f"{k} {v:g}" for k, v in intake["aws_calls_per_request"].items())
            + " |",
            f"\n### A restock of a variant with {restock['signups']:,} waiting signups\n",
            f"Seeded through `create_signup` in {restock['seed_seconds']} s. Batching off: "
            f"{restock['campaign_steps']} campaign steps queued {restock['send_messages']} send messages.\n",
            "| stage | seconds | of which inside AWS calls (moto) | AWS calls |",
            "|---|---:|---:|---|",
            f"| webhook worker (detect, start the campaign) | {seconds['webhook_worker_s']} | "
            f"{inside['webhook_worker_s']} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(restock["webhook_worker_calls"].items()))
            + " |",
            f"| campaign steps (pick and queue every signup) | {seconds['campaign_steps_s']} | "
            f"{inside['campaign_steps_s']} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(restock["campaign_step_calls"].items()))
            + " |",
            f"| send worker, stub providers | {seconds['send_worker_s']} | {inside['send_worker_s']} | "
            "DynamoDB per send: "
            + ", ".join(f"{k} {v:g}" for k, v in restock["send_dynamodb_calls_per_send"].items())
            + " |",
            f"| **webhook to last send** | **{seconds['total_s']}** | | |",
            "",
            f"Send worker: **{restock['worker_sends_per_second']} sends/s** in one process; end to end "
            f"**{restock['end_to_end_sends_per_second']} sends/s**.",
        ]
    )


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
