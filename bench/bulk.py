"""Bulk notify of 1000 signups and the send worker's throughput, in process against moto.

1. Seed `BULK_IDS` pending email signups through `services.signups.create_signup` (customer, guard and signup, as
   the API writes them), with moto's per-transaction table copy switched off while seeding (see
   `cases.moto_transactions`; no transaction is cancelled, checked).
2. Bulk notify all of them through the action's Lambda handler: one warm-up, then `BULK_RUNS` timed runs (the queue
   is drained between runs, untimed). AWS calls by service and operation, and the time spent inside them.
3. Bulk notify once more and run the queued messages through the worker (`workers.send.handle_message`) with
   stub providers: the first `RAW_SENDS` sends against moto as it is, the rest with moto's table copy switched off.
   Sends per second and DynamoDB calls per send.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from bench import cases

BULK_IDS = int(os.environ.get("BENCH_BULK_IDS", "1000"))
BULK_RUNS = int(os.environ.get("BENCH_BULK_RUNS", "7"))
RAW_SENDS = int(os.environ.get("BENCH_RAW_SENDS", "10"))


def _by_op(counter: Mapping[str, float], scale: float = 1.0, digits: int = 2) -> dict[str, float]:
    return {k: round(v * scale, digits) for k, v in sorted(counter.items())}


def run() -> dict[str, Any]:
    from moto import mock_aws

    from backinstock import dispatch, registry
    from backinstock.workers import send
    from backinstock_tools.local import backend

    cases.use_local_environment(log_level="WARNING")
    with mock_aws():
        backend.create_resources()
        shop = cases.new_shop("bulk-bench.myshopify.com")
        shop_id = shop["shop_id"]
        meter = cases.Meter()

        started = time.perf_counter()
        with cases.moto_transactions(snapshots=False) as seeding:
            signup_ids = [cases.new_signup(shop_id) for _ in range(BULK_IDS)]
        seed_s = time.perf_counter() - started
        assert seeding["cancelled"] == 0, seeding
        items_after_seed = cases.table_items()

        action = registry.by_name("bulk_notify_signups")
        event = cases.event(action, cases.Call(action.path, body={"signup_ids": signup_ids}), shop_id)

        def bulk_notify() -> float:
            """One request; returns its wall time in ms (the handler's invocation alone)."""
            with contextlib.redirect_stdout(io.StringIO()):  # EMF metric lines
                t0 = time.perf_counter()
                response = dispatch.invoke(action, event)
                elapsed = (time.perf_counter() - t0) * 1000
            assert response["statusCode"] == 200, response
            result = json.loads(response["body"])
            assert len(result["success"]) == BULK_IDS and not result["failed"], result["failed"][:3]
            return elapsed

        bulk_notify()  # warm-up: imports, models, first clients
        cases.drain_queue()
        runs: list[dict[str, Any]] = []
        for _ in range(BULK_RUNS):
            meter.reset()
            wall_ms = bulk_notify()
            runs.append(
                {
                    "ms": wall_ms,
                    "inside_aws_ms": meter.inside_ms(),
                    "calls": dict(meter.calls),
                    "ms_by_operation": _by_op(meter.seconds, 1000, 1),
                }
            )
            cases.drain_queue()
        calls = runs[0]["calls"]
        assert all(r["calls"] == calls for r in runs), "call counts differ between runs"
        walls = [r["ms"] for r in runs]
        insides = [r["inside_aws_ms"] for r in runs]
        by_operation = {
            op: round(statistics.median(r["ms_by_operation"].get(op, 0.0) for r in runs), 1) for op in sorted(calls)
        }

        # ---- the worker, on the messages of one more bulk notify
        bulk_notify()
        messages = cases.drain_queue()
        assert sum(len(m["sends"]) for m in messages) == BULK_IDS
        sender = cases.stub_sender()
        items_before_worker = cases.table_items()
        first, rest = messages[0], messages[1:]
        raw_message = {**first, "sends": first["sends"][:RAW_SENDS]}
        rest = [{**first, "sends": first["sends"][RAW_SENDS:]}, *rest]
        outcomes: Counter[str] = Counter()

        def work(batch: list[dict[str, Any]], snapshots: bool) -> dict[str, Any]:
            meter.reset()
            with cases.moto_transactions(snapshots=snapshots) as tx:
                t0 = time.perf_counter()
                for message in batch:
                    outcomes.update(send.handle_message(message, sender))
                wall = time.perf_counter() - t0
            assert tx["cancelled"] == 0, tx
            sends = sum(len(m["sends"]) for m in batch)
            inside = meter.inside_ms() / 1000
            return {
                "messages": len(batch),
                "sends": sends,
                "seconds": round(wall, 2),
                "sends_per_second": round(sends / wall, 1),
                "ms_per_send": round(wall * 1000 / sends, 2),
                "inside_aws_ms_per_send": round(inside * 1000 / sends, 2),
                "own_code_ms_per_send": round((wall - inside) * 1000 / sends, 2),
                "moto_table_copy_ms_per_send": round(tx["snapshot_seconds"] * 1000 / sends, 2),
                "dynamodb_calls_per_send": _by_op(meter.of("dynamodb"), 1 / sends),
                "dynamodb_calls_total": dict(meter.of("dynamodb")),
                "other_calls_total": {k: v for k, v in meter.calls.items() if not k.startswith("dynamodb.")},
                "ms_per_send_by_operation": _by_op(meter.seconds, 1000 / sends, 2),
            }

        raw = work([raw_message], snapshots=True)
        fast = work(rest, snapshots=False)
        assert outcomes == Counter({"sent": BULK_IDS}), outcomes
        assert sender.providers.email.sent == BULK_IDS  # type: ignore[attr-defined]
        items_after_worker = cases.table_items()

    return {
        "bulk_notify": {
            "ids": BULK_IDS,
            "runs": BULK_RUNS,
            "seed_seconds": round(seed_s, 1),
            "table_items": items_after_seed,
            "calls": calls,
            "median_ms": round(statistics.median(walls), 1),
            "p95_ms": round(cases.percentile(walls, 0.95), 1),
            "median_inside_aws_ms": round(statistics.median(insides), 1),
            "median_ms_by_operation": by_operation,
        },
        "worker": {
            "messages": len(messages),
            "sends": BULK_IDS,
            "table_items_before": items_before_worker,
            "table_items_after": items_after_worker,
            "moto_as_is": raw,
            "moto_without_table_copy": fast,
        },
    }


def markdown(results: dict[str, Any]) -> str:
    b, w = results["bulk_notify"], results["worker"]
    lines = [
        f"### Bulk notify of {b['ids']} signups (in process against moto, {b['runs']} runs after a warm-up)\n",
        f"Seeded through `create_signup` in {b['seed_seconds']} s; table: {b['table_items']} items.\n",
        "| AWS calls per request | count |",
        "|---|---:|",
        *(f"| {op} | {n} |" for op, n in sorted(b["calls"].items())),
        "",
        "| median ms | p95 ms | median ms inside AWS calls | of which, by operation |",
        "|---:|---:|---:|---|",
        f"| {b['median_ms']} | {b['p95_ms']} | {b['median_inside_aws_ms']} | "
        + ", ".join(f"{op} {ms}" for op, ms in b["median_ms_by_operation"].items())
        + " |",
        "",
        f"### Send worker, stub providers ({w['sends']} sends in {w['messages']} messages; table "
        f"{w['table_items_before']} -> {w['table_items_after']} items)\n",
        "| run | sends | sends/s | ms/send | inside AWS calls ms/send | of which moto's table copy | "
        "own code ms/send |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, key in (("moto as is", "moto_as_is"), ("moto without its table copy", "moto_without_table_copy")):
        r = w[key]
        lines.append(
            f"| {label} | {r['sends']} | {r['sends_per_second']} | {r['ms_per_send']} | "
            f"{r['inside_aws_ms_per_send']} | {r['moto_table_copy_ms_per_send']} | {r['own_code_ms_per_send']} |"
        )
    fast = w["moto_without_table_copy"]
    lines += [
        "",
        "DynamoDB calls per send: "
        + ", ".join(f"{op} {n:g}" for op, n in fast["dynamodb_calls_per_send"].items())
        + f" (total {round(sum(fast['dynamodb_calls_per_send'].values()), 2):g}); other AWS calls: "
        + (", ".join(f"{op} {n}" for op, n in fast["other_calls_total"].items()) or "none"),
    ]
    return "\n".join(lines)
