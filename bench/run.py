"""`make bench`: cold-import time of every action's handler and warm per-action latency in process against moto.

Cold import: a fresh `python -c "import <handler module>"` per run, timed from inside the child around the import
alone (interpreter start-up excluded), median of 9, against the baseline `import boto3, pydantic` plus Powertools'
event handler. Warm latency: each action's handler invoked in process (moto's `mock_aws` as AWS), after one warm-up
call, median and p95 of N calls, with the AWS calls each invocation makes.

Results go to stdout as a markdown table and to bench/results/latest.json; docs/PERFORMANCE.md quotes them.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUNS = int(os.environ.get("BENCH_COLD_RUNS", "9"))
WARM_CALLS = int(os.environ.get("BENCH_WARM_CALLS", "50"))
BASELINE = "import boto3, pydantic; import aws_lambda_powertools.event_handler"
# `import pydantic` is lazy: it does not load BaseModel. Any module that defines a model pays for that too.
BASELINE_WITH_MODEL = BASELINE + "; from pydantic import BaseModel"
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

# Import, then the first invocation (the rest of a cold start) against moto: the backend is set up untimed.
_FIRST_CALL = """
import contextlib, io, json, os, sys, time
sys.path.insert(0, {functions!r})
t0 = time.perf_counter()
import {module} as target
import_ms = (time.perf_counter() - t0) * 1000
from moto import mock_aws
from backinstock import dispatch, registry, deps
from backinstock.local import backend
from backinstock.services import shops
env = backend.local_environment("http://unused"); env.pop("AWS_ENDPOINT_URL"); os.environ.update(env)
with mock_aws():
    backend.create_resources()
    shop = shops.create_shop(deps.shops(), "cold-start.myshopify.com")
    import boto3
    deps.reset()  # the function's own session and client are created during its first invocation, as in Lambda
    boto3.DEFAULT_SESSION = None
    action = registry.by_name({action!r})
    body = {body!r}
    event = dispatch.proxy_event(action, action.method, action.gateway_path(), body=body, shop_id=shop["shop_id"])
    with contextlib.redirect_stdout(io.StringIO()):
        t1 = time.perf_counter()
        response = target.handler(event, dispatch.LambdaContext(action.name))
        first_ms = (time.perf_counter() - t1) * 1000
assert response["statusCode"] < 300, response
print(json.dumps({{"import_ms": import_ms, "first_call_ms": first_ms}}))
"""


PATCH_BODIES = {
    "update_settings": {"delivery": {"stock_threshold": 2}, "compliance": {"optin_required": True}},
    "update_channels_settings": {"push": {"enabled": False}},
    "update_delivery_settings": {"batching": {"enabled": True, "mode": "fixed", "batch_size": 50}},
    "update_compliance_settings": {"optin_required": True},
    "update_tagging_settings": {"order_tags": {"enabled": True}},
    "update_alerts_settings": {"scheduled_reports": {"weekly": True}},
}


def body_for(action_name: str) -> str | None:
    body = PATCH_BODIES.get(action_name)
    return json.dumps(body) if body is not None else None


def _child(statement: str, template: str = _CHILD, **fields: Any) -> dict[str, Any]:
    code = template.format(functions=str(ROOT / "functions"), statement=statement, heavy=HEAVY, **fields)
    env = {**os.environ, "TABLE_NAME": "bench", "PYTHONDONTWRITEBYTECODE": "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{statement} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_imports() -> dict[str, Any]:
    from backinstock import registry

    _child(BASELINE)  # warm the OS page cache and .pyc files once, for every measurement alike
    baseline = statistics.median(_child(BASELINE)["ms"] for _ in range(RUNS))
    with_model = statistics.median(_child(BASELINE_WITH_MODEL)["ms"] for _ in range(RUNS))
    rows = []
    for action in registry.actions():
        if action.name == "mcp":
            continue  # measured separately: it loads the handlers of the tools it runs
        module = action.handler
        heavy = _child(f"import {module}")["heavy"]
        samples = [
            _child("", _FIRST_CALL, module=module, action=action.name, body=body_for(action.name)) for _ in range(RUNS)
        ]
        imported = statistics.median(s["import_ms"] for s in samples)
        first = statistics.median(s["first_call_ms"] for s in samples)
        rows.append(
            {
                "module": module,
                "import_ms": round(imported, 1),
                "ratio_to_baseline": round(imported / baseline, 2),
                "ratio_to_baseline_with_model": round(imported / with_model, 2),
                "first_call_ms": round(first, 1),
                "heavy_modules": heavy,
            }
        )
    auth = statistics.median(_child("import auth.authorizer")["ms"] for _ in range(RUNS))
    rows.append(
        {
            "module": "auth.authorizer",
            "import_ms": round(auth, 1),
            "ratio_to_baseline": round(auth / baseline, 2),
            "ratio_to_baseline_with_model": round(auth / with_model, 2),
            "first_call_ms": None,
            "heavy_modules": [],
        }
    )
    return {
        "baseline_statement": BASELINE,
        "baseline_median_ms": round(baseline, 1),
        "baseline_with_model_statement": BASELINE_WITH_MODEL,
        "baseline_with_model_median_ms": round(with_model, 1),
        "runs": RUNS,
        "rows": rows,
    }


def warm_latency() -> list[dict[str, Any]]:
    from moto import mock_aws

    from backinstock import deps, dispatch, registry
    from backinstock.local import backend
    from backinstock.services import shops

    os.environ.update(backend.local_environment("http://unused"))
    os.environ.pop("AWS_ENDPOINT_URL")
    os.environ["LOG_LEVEL"] = "WARNING"
    deps.reset()
    rows = []
    with mock_aws():
        backend.create_resources()
        shop = shops.create_shop(deps.shops(), "bench-shop.myshopify.com")
        calls = {"n": 0}
        deps.shops().client.meta.events.register(
            "before-call.dynamodb", lambda **_: calls.__setitem__("n", calls["n"] + 1)
        )
        for action in registry.actions():
            if action.name == "mcp":
                continue
            event = dispatch.proxy_event(
                action, action.method, action.gateway_path(), body=body_for(action.name), shop_id=shop["shop_id"]
            )
            with contextlib.redirect_stdout(io.StringIO()):  # EMF metric lines
                response = dispatch.invoke(action, event)  # warm-up: imports, first client
                assert response["statusCode"] < 300, (action.name, response)
                samples = []
                calls["n"] = 0
                for _ in range(WARM_CALLS):
                    t0 = time.perf_counter()
                    dispatch.invoke(action, event)
                    samples.append((time.perf_counter() - t0) * 1000)
            samples.sort()
            rows.append(
                {
                    "action": action.name,
                    "median_ms": round(statistics.median(samples), 2),
                    "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 2),
                    "dynamodb_calls_per_request": calls["n"] / WARM_CALLS,
                }
            )
    return rows


def main() -> None:
    cold = cold_imports()
    warm = warm_latency()
    results = {"python": sys.version.split()[0], "cold_import": cold, "warm": warm}
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")

    print(f"## Cold import (fresh process, median of {cold['runs']})\n")
    print(f"Baseline `{BASELINE}`: **{cold['baseline_median_ms']} ms**; ")
    print(f"with `from pydantic import BaseModel`: **{cold['baseline_with_model_median_ms']} ms**\n")
    print("| handler module | import ms | x baseline | x baseline+BaseModel | first call ms | heavy modules |")
    print("|---|---:|---:|---:|---:|---|")
    for row in cold["rows"]:
        heavy = ", ".join(row["heavy_modules"]) or "none"
        first = row["first_call_ms"] if row["first_call_ms"] is not None else "-"
        print(
            f"| `{row['module']}` | {row['import_ms']} | {row['ratio_to_baseline']} | "
            f"{row['ratio_to_baseline_with_model']} | {first} | {heavy} |"
        )
    print(f"\n## Warm latency in process against moto ({WARM_CALLS} calls each)\n")
    print("| action | median ms | p95 ms | DynamoDB calls / request |")
    print("|---|---:|---:|---:|")
    for row in warm:
        print(f"| {row['action']} | {row['median_ms']} | {row['p95_ms']} | {row['dynamodb_calls_per_request']:g} |")


if __name__ == "__main__":
    main()
