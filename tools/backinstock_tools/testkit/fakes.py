"""Stand-ins for what unit tests and benches must not reach."""

from __future__ import annotations

from typing import Any


class MemoryRateLimitStore:
    """The limiter's store in memory, answering as the table's conditional updates would (one call a take): for
    unit tests, which reach no AWS. The table's behaviour itself is tests/integration/test_rate_limits.py's."""

    def __init__(self) -> None:
        self.tat: dict[str, int] = {}

    def take(self, key: str, *, now: int, inc: int, latest: int, expires_at: int, busy: bool) -> Any:
        from backinstock.repositories.ratelimits import Taken

        tat = max(self.tat.get(key, now), now)
        if tat > latest:
            return Taken(False, tat, 1)
        self.tat[key] = tat + inc
        return Taken(True, tat + inc, 1)
