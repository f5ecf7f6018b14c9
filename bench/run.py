"""`make bench`: cold start of every handler, warm per-action latency, bulk notify and the send worker, in process
against moto.

Cold import: a fresh `python -c` per run that loads a handler's entry point as Lambda does (imports the module, takes
the attribute), timed from inside the child around that alone (interpreter start-up excluded), median of 9, against
the baseline `import boto3, pydantic` plus Powertools' event handler; the same child then makes the first invocation
against moto with a valid request (`bench/cases.py`).
Warm latency: each action's handler invoked in process (moto's `mock_aws` as AWS), after one warm-up call, median
and p95 of N calls, with the AWS calls each invocation makes. Bulk notify and the worker: `bench/bulk.py`.

Results go to stdout as markdown tables and to bench/results/latest.json; docs/PERFORMANCE.md quotes them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUNS = int(os.environ.get("BENCH_COLD_RUNS", "9"))
WARM_CALLS = int(os.environ.get("BENCH_WARM_CALLS", "50"))
WARM_WRITE_CALLS = int(os.environ.get("BENCH_WARM_WRITE_CALLS", "20"))
READ_SIGNUPS = 100  # the reads' shop: 100 signups on two variants, the first 50 notified
READ_NOTIFICATIONS = 50
BASELINE = "import boto3, pydantic; import aws_lambda_powertools.event_handler"
# `import pydantic` is lazy: it does not load BaseModel. Any module that defines a model pays for that too.
BASELINE_WITH_MODEL = BASELINE + "; from pydantic import BaseModel"
NO_GC = "import gc; gc.disable(); "  # the code-only comparison: no collections in the floor or in the handler
# What a read-only action must not import (idempotency, batch processing, Step Functions, the MCP SDK).
HEAVY = (
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.utilities.batch",
    "backinstock.workflows",
    "mcp",
)

_CHILD = """
import sys, time, json
sys.path.insert(0, {functions!r})
t0 = time.perf_counter()
{statement}
elapsed = (time.perf_counter() - t0) * 1000
heavy = sorted(m for m in sys.modules if m.startswith({heavy!r}))
print(json.dumps({{"ms": elapsed, "heavy": heavy}}))
"""

# Import, then the first invocation (the rest of a cold start) against moto: resources, a shop and the data the
# request needs are set up untimed (bench/cases.py `first_call`).
_FIRST_CALL = """
import contextlib, io, json, sys, time
sys.path.insert(0, {functions!r})
t0 = time.perf_counter()
{load}
import_ms = (time.perf_counter() - t0) * 1000
heavy = sorted(m for m in sys.modules if m.startswith({heavy!r}))
sys.path.insert(0, {root!r})
from moto import mock_aws
from bench import cases
cases.use_local_environment()
first_ms, reason = None, None
with mock_aws():
    try:
        _, event, context = cases.first_call({target!r})
    except cases.NoSample as exc:
        reason = str(exc)
    else:
        import boto3, gc
        from backinstock import deps
        deps.reset()  # the function's own session and clients are created during its first invocation, as in Lambda
        boto3.DEFAULT_SESSION = None
        gc.collect()  # the setup's garbage is not the function's: collections it triggers would be timed otherwise
        with contextlib.redirect_stdout(io.StringIO()):
            t1 = time.perf_counter()
            response = handler(event, context)
            first_ms = (time.perf_counter() - t1) * 1000
        if not cases.succeeded({target!r}, response):
            first_ms, reason = None, "first call failed: " + json.dumps(response, default=str)[:300]
print(json.dumps({{"import_ms": import_ms, "heavy": heavy, "first_call_ms": first_ms, "reason": reason}}))
"""


def _child(statement: str, template: str = _CHILD, lambda_env: bool = False, **fields: Any) -> dict[str, Any]:
    code = template.format(
        functions=str(ROOT / "functions"), root=str(ROOT), statement=statement, heavy=HEAVY, **fields
    )
    env = {**os.environ, "TABLE_NAME": "bench"}
    if lambda_env:  # as Lambda runs a function: `backinstock` pauses garbage collection while the code loads
        env["AWS_LAMBDA_FUNCTION_NAME"] = "bench"
    else:
        env.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    # Cached bytecode, as a deployed layer should have: any value of PYTHONDONTWRITEBYTECODE, even "0", stops Python
    # from writing .pyc files, and every child would then compile whatever changed since the last write.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{statement or fields} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_targets() -> list[tuple[str, str]]:
    """(target, entry point): every registry action but MCP, then the authorizer and the send worker."""
    from backinstock import registry
    from bench import cases

    targets = [(a.name, a.entry_point) for a in registry.actions() if a.name != "mcp"]
    return [*targets, (cases.AUTHORIZER, f"{cases.AUTHORIZER}.handler"), (cases.WORKER, f"{cases.WORKER}.handler")]


def load(entry_point: str) -> str:
    """The statement that loads an entry point as Lambda does: import the module, take the handler attribute (a
    generic module builds a report's handler then)."""
    module, _, attribute = entry_point.rpartition(".")
    return f"import importlib; handler = getattr(importlib.import_module({module!r}), {attribute!r})"


def cold_imports() -> dict[str, Any]:
    """Each row's ratios are to floor timings taken between its own timings (paired): on a shared machine whose load
    drifts, a floor measured once at the start would make later rows look better or worse than they are.

    The floor is `BASELINE_WITH_MODEL`: what any handler that validates with pydantic imports. Two ratios per row:
    - as deployed: the handler imported as Lambda imports it (`AWS_LAMBDA_FUNCTION_NAME` set, so garbage collection
      is paused while the code loads, `backinstock/__init__.py`) against the floor imported plainly;
    - code only: both imported with the collector off, so the ratio is the cost of the modules alone."""
    _child(BASELINE)  # warm the OS page cache and .pyc files once, for every measurement alike
    pairs = [(_child(BASELINE)["ms"], _child(BASELINE_WITH_MODEL)["ms"]) for _ in range(RUNS)]
    baseline = statistics.median(b for b, _ in pairs)
    with_model = statistics.median(m for _, m in pairs)
    model_factor = statistics.median(m / b for b, m in pairs)  # what `from pydantic import BaseModel` adds, as a ratio
    rows = []
    for target, module in cold_targets():
        timings, floors, code_ratios = [], [], []
        for _ in range(RUNS):
            timings.append(_child("", _FIRST_CALL, lambda_env=True, load=load(module), target=target))
            floors.append(_child(BASELINE_WITH_MODEL)["ms"])
            bare_floor = _child(NO_GC + BASELINE_WITH_MODEL)["ms"]
            code_ratios.append(_child(NO_GC + load(module))["ms"] / bare_floor)
        imported = statistics.median(s["import_ms"] for s in timings)
        floor = statistics.median(floors)
        firsts = [s["first_call_ms"] for s in timings if s["first_call_ms"] is not None]
        reasons = sorted({s["reason"] for s in timings if s["reason"]})
        rows.append(
            {
                "target": target,
                "module": module,
                "import_ms": round(imported, 1),
                "paired_floor_ms": round(floor, 1),
                "ratio_to_floor": round(
                    statistics.median(s["import_ms"] / f for s, f in zip(timings, floors, strict=True)), 2
                ),
                "code_only_ratio_to_floor": round(statistics.median(code_ratios), 2),
                "first_call_ms": round(statistics.median(firsts), 1) if len(firsts) == len(timings) else None,
                "first_call_note": "; ".join(reasons) or None,
                "heavy_modules": timings[0]["heavy"],
            }
        )
        row = rows[-1]
        print(
            f"cold {module}: {row['import_ms']} ms (x{row['ratio_to_floor']} of the floor, code only "
            f"x{row['code_only_ratio_to_floor']}), first call {row['first_call_ms']}",
            file=sys.stderr,
        )
    return {
        "baseline_statement": BASELINE,
        "baseline_median_ms": round(baseline, 1),
        "baseline_with_model_statement": BASELINE_WITH_MODEL,
        "baseline_with_model_median_ms": round(with_model, 1),
        "model_factor": round(model_factor, 3),
        "runs": RUNS,
        "rows": rows,
    }


def _ops(counter: Counter[str], per: int) -> dict[str, float]:
    return {op.split(".", 1)[1]: round(n / per, 2) for op, n in sorted(counter.items())}


def warm_latency() -> dict[str, Any]:
    """Settings and meta actions (50 calls), the waitlist's read actions on a seeded shop (50 calls), and the
    waitlist's write actions with a fresh input per call (20 calls)."""
    from moto import mock_aws

    from backinstock import dispatch, registry
    from backinstock_tools.local import backend
    from bench import cases

    cases.use_local_environment(log_level="WARNING")
    out: dict[str, Any] = {"actions": [], "reads": [], "writes": [], "not_measured": {}}
    with mock_aws():
        backend.create_resources()
        shop_id = cases.new_shop("bench-shop.myshopify.com")["shop_id"]
        with cases.moto_transactions(snapshots=False) as seeding:
            variants = [cases.VARIANT if i % 2 == 0 else cases.OTHER_VARIANT for i in range(READ_SIGNUPS)]
            signup_ids = [cases.new_signup(shop_id, v) for v in variants]
            notification_ids = [cases.send_now(shop_id, s) for s in signup_ids[:READ_NOTIFICATIONS]]
        assert seeding["cancelled"] == 0, seeding
        out["read_table_items"] = cases.table_items()
        meter = cases.Meter()

        def timed(action: registry.Action, event: dict[str, Any]) -> tuple[float, dict[str, Any]]:
            with contextlib.redirect_stdout(io.StringIO()):  # EMF metric lines
                t0 = time.perf_counter()
                response = dispatch.invoke(action, event)
                elapsed = (time.perf_counter() - t0) * 1000
            assert response["statusCode"] < 300, (action.name, response)
            return elapsed, response

        def repeat(action: registry.Action, call: cases.Call, times: int) -> dict[str, Any]:
            event = cases.event(action, call, shop_id)
            timed(action, event)  # warm-up: imports, first client
            timings, inside = [], []
            meter.reset()
            for _ in range(times):
                before = meter.inside_ms()
                timings.append(timed(action, event)[0])
                inside.append(meter.inside_ms() - before)
            return {
                "action": action.name,
                "request": call.label or call.path.replace(shop_id, "<shop>"),
                "median_ms": round(statistics.median(timings), 2),
                "p95_ms": round(cases.percentile(timings, 0.95), 2),
                "median_inside_aws_ms": round(statistics.median(inside), 2),
                "dynamodb_calls_per_request": sum(meter.of("dynamodb").values()) / times,
                "calls_per_request": _ops(meter.calls, times),
            }

        page = f"page 1 of {READ_SIGNUPS // 50} (50 of {READ_SIGNUPS} signups)"
        reads: dict[str, list[cases.Call]] = {
            "list_signups": [
                cases.Call(cases.SIGNUPS, label=page),
                cases.Call(
                    cases.SIGNUPS,
                    query={"variant_id": str(cases.VARIANT)},
                    label=f"variant_id filter: GSI1 ({READ_SIGNUPS // 2} of {READ_SIGNUPS})",
                ),
                cases.Call(cases.SIGNUPS, query={"status": "notified"}, label="status=notified (filter expression)"),
            ],
            "get_signup": [cases.Call(f"{cases.SIGNUPS}/{signup_ids[0]}", {"id": signup_ids[0]}, label="by id")],
            "list_notifications": [cases.Call(cases.NOTIFICATIONS, label=f"page 1 (50 of {READ_NOTIFICATIONS})")],
            "get_notification": [
                cases.Call(f"{cases.NOTIFICATIONS}/{notification_ids[0]}", {"id": notification_ids[0]}, label="by id")
            ],
        }

        writes = []
        for action in registry.actions():
            if action.name == "mcp":
                out["not_measured"][action.name] = "runs other actions' handlers in process: measured through them"
            elif action.resource in ("settings", registry.META_RESOURCE):
                row = repeat(action, cases.request_for(action, shop_id), WARM_CALLS)
                out["actions"].append(row)
            elif action.read_only:
                try:
                    calls = reads.get(action.name) or [cases.request_for(action, shop_id)]
                except cases.NoSample as exc:
                    out["not_measured"][action.name] = str(exc)
                    continue
                out["reads"].extend(repeat(action, call, WARM_CALLS) for call in calls)
            else:
                writes.append(action)

        # Writes last, on the same shop: a fresh input per call (seeded untimed), moto as it is.
        out["write_table_items_before"] = cases.table_items()
        for action in writes:
            if not cases.repeatable(action):
                out["not_measured"][action.name] = "changes the shop once for good, or serves a job: measured cold"
                continue
            timings, inside, copies = [], [], []
            totals: Counter[str] = Counter()
            for attempt in range(WARM_WRITE_CALLS + 1):
                event = cases.event(action, cases.request_for(action, shop_id), shop_id)
                meter.reset()
                with cases.moto_transactions(snapshots=True) as tx:
                    elapsed, _ = timed(action, event)
                if attempt == 0:
                    continue  # warm-up
                timings.append(elapsed)
                inside.append(meter.inside_ms())
                copies.append(tx["snapshot_seconds"] * 1000)
                totals.update(meter.calls)
            cases.drain_queue()
            out["writes"].append(
                {
                    "action": action.name,
                    "median_ms": round(statistics.median(timings), 2),
                    "p95_ms": round(cases.percentile(timings, 0.95), 2),
                    "median_inside_aws_ms": round(statistics.median(inside), 2),
                    "median_moto_table_copy_ms": round(statistics.median(copies), 2),
                    "calls_per_request": _ops(totals, WARM_WRITE_CALLS),
                }
            )
        out["write_table_items_after"] = cases.table_items()
    return out


def _calls(ops: dict[str, float]) -> str:
    return ", ".join(f"{op} {n:g}" for op, n in ops.items()) or "none"


def markdown(results: dict[str, Any]) -> str:
    from bench import audit, bulk, ratelimit, restock

    cold, warm = results["cold_import"], results["warm"]
    lines = [
        f"### Cold import (fresh process, median of {cold['runs']})\n",
        f"Baseline `{BASELINE}`: **{cold['baseline_median_ms']} ms**; ",
        f"with `from pydantic import BaseModel` (the floor): **{cold['baseline_with_model_median_ms']} ms** (measured "
        "first). Ratios are to floor timings taken between each row's own timings (`paired floor ms`). `x floor`: "
        "the handler as Lambda imports it (collector paused while it loads) against the plain floor; `code only`: "
        "both with the collector off.\n",
        "| handler module | import ms | paired floor ms | x floor | x floor, code only | first call ms | heavy |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    notes = []
    for row in cold["rows"]:
        heavy = ", ".join(h for h in HEAVY if any(m == h or m.startswith(h + ".") for m in row["heavy_modules"]))
        heavy = heavy or "none"
        first = row["first_call_ms"] if row["first_call_ms"] is not None else "-"
        lines.append(
            f"| `{row['module']}` | {row['import_ms']} | {row['paired_floor_ms']} | {row['ratio_to_floor']} | "
            f"{row['code_only_ratio_to_floor']} | {first} | {heavy} |"
        )
        if row["first_call_note"]:
            notes.append(f"- `{row['module']}`: {row['first_call_note']}")
    lines += ["", *notes] if notes else []
    lines += [
        f"\n### Warm latency in process against moto ({WARM_CALLS} calls each)\n",
        "| action | median ms | p95 ms | DynamoDB calls / request |",
        "|---|---:|---:|---:|",
        *(
            f"| {r['action']} | {r['median_ms']} | {r['p95_ms']} | {r['dynamodb_calls_per_request']:g} |"
            for r in warm["actions"]
        ),
        f"\n### Waitlist reads, warm ({WARM_CALLS} calls each; {READ_SIGNUPS} signups on two variants, "
        f"{READ_NOTIFICATIONS} notifications; table {warm['read_table_items']} items)\n",
        "| action | request | median ms | p95 ms | median ms inside AWS calls | DynamoDB calls / request |",
        "|---|---|---:|---:|---:|---|",
        *(
            f"| {r['action']} | {r['request']} | {r['median_ms']} | {r['p95_ms']} | {r['median_inside_aws_ms']} | "
            f"{_calls(r['calls_per_request'])} |"
            for r in warm["reads"]
        ),
        f"\n### Waitlist writes, warm ({WARM_WRITE_CALLS} calls each, a fresh input per call, moto as it is; table "
        f"{warm['write_table_items_before']} -> {warm['write_table_items_after']} items)\n",
        "| action | median ms | p95 ms | median ms inside AWS calls | of which moto's table copy "
        "| AWS calls / request |",
        "|---|---:|---:|---:|---:|---|",
        *(
            f"| {r['action']} | {r['median_ms']} | {r['p95_ms']} | {r['median_inside_aws_ms']} | "
            f"{r['median_moto_table_copy_ms']} | {_calls(r['calls_per_request'])} |"
            for r in warm["writes"]
        ),
    ]
    if warm["not_measured"]:
        lines += ["", "Not measured warm:", *(f"- {name}: {why}" for name, why in warm["not_measured"].items())]
    lines += ["", bulk.markdown(results["bulk"]), "", restock.markdown(results["restock"])]
    lines += ["", audit.markdown(results["audit"])]
    lines += ["", ratelimit.markdown(results["ratelimit"])]
    if "rollups" in results:
        from bench import rollups

        lines += ["", rollups.markdown(results["rollups"])]
    if "send_path" in results:
        from bench import send_path

        lines += ["", send_path.markdown(results["send_path"])]
    return "\n".join(lines)


def main() -> None:
    """`python bench/run.py [cold] [warm] [bulk] [restock] [audit] [ratelimit] [rollups] [sendpath]`: all by default;
    a subset reuses the other figures of the last run (bench/results/latest.json) for the markdown."""
    from bench import audit, bulk, ratelimit, restock, rollups, send_path

    keys = {
        "cold": "cold_import",
        "warm": "warm",
        "bulk": "bulk",
        "restock": "restock",
        "audit": "audit",
        "ratelimit": "ratelimit",
        "rollups": "rollups",
        "sendpath": "send_path",
    }
    parts = [p for p in keys if p in sys.argv[1:]] or list(keys)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    latest = out / "latest.json"
    results: dict[str, Any] = json.loads(latest.read_text()) if len(parts) < len(keys) and latest.exists() else {}
    results["python"] = sys.version.split()[0]
    results["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    runners = {
        "cold": cold_imports,
        "warm": warm_latency,
        "bulk": bulk.run,
        "restock": restock.run,
        "audit": audit.run,
        "ratelimit": ratelimit.run,
        "rollups": rollups.run,
        "sendpath": send_path.run,
    }
    for part in parts:
        results[keys[part]] = runners[part]()
    if "rollups" in results:  # the figures (docs/PERFORMANCE.md, "Rollups at scale") under their own keys
        r = results["rollups"]
        results["rollups.item_writes_per_1000_records"] = r["item_writes_per_1000_records"]
        results["rollups.max_wcu_per_partition_key_per_1000_records"] = r["max_wcu_per_partition_key_per_1000_records"]
        results["lists.calls_per_page_10000_waitlist"] = r["lists"]["calls_per_page_10000_waitlist"]
        results["restock.modelled_cost_usd_100000"] = r["restock"]["modelled_cost_usd_100000"]
        results["restock.assumptions"] = r["restock"]["assumptions"]
    if "send_path" in results:  # issue 23's figures: a send's cost, its busiest key, the restock at 14/s and 1,000/s
        for name, value in results["send_path"].items():
            if name.startswith(("send.", "restock.")) and name != "restock.model":
                results[name] = value
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    latest.write_text(json.dumps(results, indent=2) + "\n")
    if set(keys.values()) <= results.keys():
        print(markdown(results))
    else:
        print(json.dumps({keys[p]: results[keys[p]] for p in parts}, indent=2))


if __name__ == "__main__":
    main()
