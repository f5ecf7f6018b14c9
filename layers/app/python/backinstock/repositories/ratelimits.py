"""The rate limiter's store: one item per shop (and limit) in its own table, changed by conditional UpdateItems.

The state is GCRA's (the generic cell rate algorithm, a token bucket written as one number): `tat`, the theoretical
arrival time, in ticks (see `services/ratelimits.py`). Taking points is one of two conditional updates:
- busy bucket (`tat` is in the future): `SET tat = tat + :inc` if `tat` lies between now and the last allowed value;
- full bucket (`tat` is in the past or absent): `SET tat = :now + :inc` if `tat` is absent or not after now.
DynamoDB conditions cannot compute `max(tat, now)`, so a single expression cannot serve both; the caller picks the
likely one (`busy`), and a failed condition returns the item as it stood (`ReturnValuesOnConditionCheckFailure`,
no extra read): over the limit, the answer is known at once; the other form is tried only when the guess was wrong.

Nothing here is in the main table: a counter bumped on every request would otherwise flow through the main table's
stream to the rollup aggregator, and would share partitions with shop data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backinstock.repositories.base import Repository

MAX_ATTEMPTS = 3  # two forms; a third only when another request changed the item between them


class StoreFailed(Exception):
    """The store could not answer (any AWS error but the failed condition, which is an answer)."""


@dataclass(frozen=True)
class Taken:
    """The outcome of one take: `allowed`, the bucket's `tat` after it (allowed) or as it stood (refused), and the
    number of UpdateItem calls it cost."""

    allowed: bool
    tat: int
    calls: int


class RateLimitStore(Repository):
    """The limiter's table (its own, not the main table): a `Repository` for its client and table name."""

    def take(self, key: str, *, now: int, inc: int, latest: int, expires_at: int, busy: bool) -> Taken:
        """Take `inc` ticks from the bucket `key` if its `tat` is at most `latest` (= now + tau - inc). `busy`: this
        container last saw the bucket's `tat` after `now` (it only grows), so the busy form is tried first."""
        for calls in range(1, MAX_ATTEMPTS + 1):
            result = self._busy(key, now, inc, latest, expires_at) if busy else self._full(key, now, inc, expires_at)
            if isinstance(result, _Done):
                return Taken(True, result.tat, calls)
            if result is not None and result > latest:
                return Taken(False, result, calls)
            busy = result is not None and result > now  # the form that fits the item as the failure returned it
        raise RuntimeError(f"rate limit bucket {key} changed under {MAX_ATTEMPTS} attempts")  # pragma: no cover

    def _update(self, request: dict[str, Any]) -> _Done | int | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.update_item(
                TableName=self.table_name,
                ReturnValues="ALL_NEW",  # a small item; UPDATED_NEW may omit an unchanged tat (cost 0)
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **request,
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            item = exc.response.get("Item") or {}
            return int(item["tat"]["N"]) if "tat" in item else None
        except (BotoCoreError, ClientError) as exc:
            # Throttled, unreachable, misconfigured: the caller decides what a request does without its limiter.
            raise StoreFailed(type(exc).__name__) from exc
        return _Done(int(response["Attributes"]["tat"]["N"]))

    def _busy(self, key: str, now: int, inc: int, latest: int, expires_at: int) -> _Done | int | None:
        return self._update(
            {
                "Key": {"id": {"S": key}},
                "UpdateExpression": "SET tat = tat + :inc, expires_at = :exp",
                "ConditionExpression": "tat BETWEEN :now AND :latest",
                "ExpressionAttributeValues": {
                    ":inc": {"N": str(inc)},
                    ":now": {"N": str(now)},
                    ":latest": {"N": str(latest)},
                    ":exp": {"N": str(expires_at)},
                },
            }
        )

    def _full(self, key: str, now: int, inc: int, expires_at: int) -> _Done | int | None:
        return self._update(
            {
                "Key": {"id": {"S": key}},
                "UpdateExpression": "SET tat = :next, expires_at = :exp",
                "ConditionExpression": "attribute_not_exists(tat) OR tat <= :now",
                "ExpressionAttributeValues": {
                    ":next": {"N": str(now + inc)},
                    ":now": {"N": str(now)},
                    ":exp": {"N": str(expires_at)},
                },
            }
        )


@dataclass(frozen=True)
class _Done:
    tat: int
