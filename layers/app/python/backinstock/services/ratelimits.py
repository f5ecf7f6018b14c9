"""Per-shop rate limits: each plan's points per rolling 60 seconds (a GET costs 1 point, any other method 2: the
action's `points`, `registry.py`).

The algorithm is GCRA, the generic cell rate algorithm: a token bucket of `limit` points refilled continuously at
`limit / 60` points per second, kept as one number, the bucket's theoretical arrival time `tat` (the moment it
would be full again). Why this and not a sliding-window approximation over two fixed windows: GCRA is exact (no
estimate, so "the 181st write within a minute is refused" holds to the tick, and a full bucket is never an
approximation), refusals cost the shop nothing (the failed condition writes nothing), and its state is one number
of one item, so one conditional UpdateItem both checks and takes (`repositories/ratelimits.py`). A two-window
counter needs `prev * weight + current` in its condition, which a DynamoDB condition cannot compute.

Time is counted in ticks, `milliseconds * limit`, so that every quantity is an integer: a point is 60,000 ticks
(60 s / limit, times limit), the bucket's depth `tau` is `60,000 * limit`. A request of cost `c` at `now` passes
when `max(tat, now) + c * 60,000 <= now + tau`, and moves `tat` there.

What the client sees (every answer of a limited route): `X-RateLimit-Limit` (points per 60 s), `X-RateLimit-Remaining`
(points left now), `X-RateLimit-Reset` (seconds until the bucket is full again); past the limit, 429 with
`Retry-After` (seconds until this request would pass).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from backinstock.repositories.ratelimits import StoreFailed, Taken

PERIOD_SECONDS = 60
PERIOD_MS = PERIOD_SECONDS * 1000
# Points per rolling 60 s, per plan. The platform's promise is 360 for every shop; `enterprise` is the high-limit
# plan (negotiated traffic, the contract fuzzer and the suites that drive hundreds of requests through one shop).
PLAN_LIMITS: dict[str, int] = {"free": 360, "starter": 360, "growth": 360, "pro": 360, "enterprise": 36_000}
DEFAULT_LIMIT = PLAN_LIMITS["free"]  # a plan this code does not know (a key item written before plans were)
BUCKET_SECONDS = 2 * PERIOD_SECONDS  # an idle bucket's item expires (TTL) once it would be full anyway
_SEEN_LIMIT = 10_000  # buckets whose last `tat` a container remembers (to pick the update form)


def limit_for(plan: str | None) -> int:
    return PLAN_LIMITS.get(plan or "", DEFAULT_LIMIT)


class Store(Protocol):
    def take(self, key: str, *, now: int, inc: int, latest: int, expires_at: int, busy: bool) -> Taken: ...


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int  # points left after this request (allowed) or now (refused)
    reset: int  # seconds until the bucket is full again
    retry_after: int = 0  # refused: seconds until this request would pass
    calls: int = 0  # UpdateItem calls this decision cost
    failed_open: bool = False  # the store failed: the request runs unlimited

    def headers(self) -> dict[str, str]:
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out


@dataclass
class Limiter:
    """Decides one request. `clock` (seconds since the epoch) is injectable: tests move time, never sleep."""

    store: Store
    clock: Callable[[], float] = time.time
    _seen: dict[str, int] = field(default_factory=dict)

    def check(self, shop_id: str, plan: str | None, cost: int) -> Decision:
        limit = limit_for(plan)
        now_ms = int(self.clock() * 1000)
        now, tau, inc = now_ms * limit, PERIOD_MS * limit, cost * PERIOD_MS
        key = f"{shop_id}#{limit}"  # a tick's length depends on the limit: a plan change starts a fresh bucket
        try:
            taken = self.store.take(
                key,
                now=now,
                inc=inc,
                latest=now + tau - inc,
                expires_at=now_ms // 1000 + BUCKET_SECONDS,
                busy=self._seen.get(key, 0) > now,
            )
        except StoreFailed:
            # Fail open: a limiter outage must not become an API outage. The caller counts it (metric, alarm);
            # the headers say what a full bucket would.
            return Decision(True, limit, max(limit - cost, 0), 0, failed_open=True)
        if len(self._seen) >= _SEEN_LIMIT:
            self._seen.clear()
        self._seen[key] = taken.tat
        remaining = max(0, (now + tau - taken.tat) // PERIOD_MS)
        reset = _seconds(max(0, taken.tat - now), limit)
        if taken.allowed:
            return Decision(True, limit, remaining, reset, calls=taken.calls)
        retry_after = max(1, _seconds(taken.tat + inc - tau - now, limit))
        return Decision(False, limit, remaining, reset, retry_after, calls=taken.calls)


def _seconds(ticks: int, limit: int) -> int:
    """Ticks -> whole seconds, rounded up (a client that waits that long is never early)."""
    return math.ceil(ticks / (limit * 1000))
