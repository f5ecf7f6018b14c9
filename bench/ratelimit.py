"""The per-shop rate limiter (services/ratelimits.py), in process against moto: `.venv/bin/python bench/run.py
ratelimit` runs this part alone.

What it adds to a request: AWS calls (UpdateItem on the limiter's table) per request, in three traffic shapes, and the
modelled latency those calls add in AWS (`LATENCY_S` per call, as bench/audit.py models a conditional UpdateItem);
plus our own CPU time per decision (moto's time excluded: the store is the test kit's in-memory one). The
shapes:
- `busy`: one shop, back to back (the bucket is never full between requests): the busy form every time;
- `sparse`: one shop, a request every 2 s (the bucket is full again each time): the full form every time;
- `two_containers`: one shop, alternating between two containers (two limiters), two requests 10 ms apart, then
  2 s of silence: the second of each pair reaches a container whose last view is stale (a full bucket), which
  guesses the full form, is wrong, and pays a second update (the worst case of the guess).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench import cases

REQUESTS = 200
LATENCY_S = 0.008  # a conditional UpdateItem, single-digit ms in the same region (bench/audit.py's figure)


def run() -> dict[str, Any]:
    from moto import mock_aws

    from backinstock import deps
    from backinstock.repositories.ratelimits import RateLimitStore
    from backinstock.services.ratelimits import Limiter
    from backinstock_tools.local import backend

    cases.use_local_environment(log_level="WARNING")
    out: dict[str, Any] = {"requests": REQUESTS, "latency_s": LATENCY_S, "shapes": {}}
    with mock_aws():
        backend.create_resources()
        table = deps.rate_limiter().store.table_name  # type: ignore[attr-defined]
        meter = cases.Meter(("dynamodb",))
        for shape, containers, steps in (
            ("busy", 1, (0.01,)),
            ("sparse", 1, (2.0,)),
            ("two_containers", 2, (0.01, 2.0)),
        ):
            now = [1_800_000_000.0]
            clock = _Clock(now)
            limiters = [Limiter(RateLimitStore(table), clock=clock) for _ in range(containers)]
            meter.reset()
            refused = 0
            for i in range(REQUESTS):
                decision = limiters[i % containers].check(f"bench-{shape}", "growth", 1 if i % 3 else 2)
                refused += not decision.allowed
                now[0] += steps[i % len(steps)]
            calls = meter.of("dynamodb")["UpdateItem"]
            out["shapes"][shape] = {
                "update_item_per_request": round(calls / REQUESTS, 3),
                "modelled_aws_ms_per_request": round(calls / REQUESTS * LATENCY_S * 1000, 2),
                "refused": refused,
            }
    out["decision_cpu_us"] = _cpu_per_decision()
    return out


class _Clock:
    def __init__(self, now: list[float]) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now[0]


def _cpu_per_decision() -> float:
    from backinstock.services.ratelimits import Limiter
    from backinstock_tools.testkit.fakes import MemoryRateLimitStore

    now = [1_800_000_000.0]
    limiter = Limiter(MemoryRateLimitStore(), clock=lambda: now[0])
    timings = []
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(10_000):
            limiter.check("cpu", "growth", 1).headers()
            now[0] += 0.2
        timings.append((time.process_time() - t0) / 10_000 * 1e6)
    return round(statistics.median(timings), 1)


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"### Rate limiter: added AWS calls per request ({results['requests']} requests a shape, against moto)\n",
        "| traffic | UpdateItem / request | modelled added AWS latency / request | refused |",
        "|---|---:|---:|---:|",
        *(
            f"| {shape} | {r['update_item_per_request']:g} | {r['modelled_aws_ms_per_request']} ms | {r['refused']} |"
            for shape, r in results["shapes"].items()
        ),
        "",
        f"Our CPU time per decision (in-memory store): {results['decision_cpu_us']} µs. Modelled AWS latency: "
        f"{results['latency_s'] * 1000:g} ms per UpdateItem.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
