"""The rollup items' keys (the package's docstring, "Items"): a dimension's shard partition, the once-keys' and the
marks' partitions, and how long marks and once-keys are kept.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from backinstock.repositories.base import key

_NOT_COUNTERS = frozenset({"PK", "SK", "entity", "rebuilt"})
MARK_RETENTION = timedelta(days=2)  # a stream keeps records 24 hours: an older mark guards nothing
ONCE_RETENTION = timedelta(days=400)
MAX_TRANSACTION = 100
SHARDS = 16  # partitions of a shop's counters (a restock's dimensions spread over them: docs/PERFORMANCE.md)


def shard_pk(shop_id: str, shard: int) -> str:
    return f"SHOP#{shop_id}#ROLLUP#{shard:02d}"


def shard_of(dimension: str) -> int:
    """The shard of a dimension: a stable hash (crc32, not Python's salted `hash`), the same in every process."""
    return zlib.crc32(dimension.encode()) % SHARDS


def rollup_pk(shop_id: str, dimension: str) -> str:
    return shard_pk(shop_id, shard_of(dimension))


def once_pk(shop_id: str) -> str:
    return f"SHOP#{shop_id}#ROLLUP#ONCE"


def marks_pk(shop_id: str) -> str:
    return f"SHOP#{shop_id}#ROLLUP#MARKS"


def shop_partitions() -> list[Callable[[str], str]]:
    """The partitions outside `SHOP#<id>` that hold a shop's rollup data (for the privacy purge)."""
    shards: list[Callable[[str], str]] = [lambda s, n=n: shard_pk(s, n) for n in range(SHARDS)]  # type: ignore[misc]
    return [*shards, once_pk, marks_pk]


def rollup_key(shop_id: str, dimension: str, bucket: str) -> dict[str, Any]:
    return key(rollup_pk(shop_id, dimension), f"{dimension}#{bucket}")


def row_key(shop_id: str, dimension: str, bucket: str) -> dict[str, str]:
    """`rollup_key` as plain strings: the key of a rollup item as a stream image or `from_item` shows it."""
    return {"PK": rollup_pk(shop_id, dimension), "SK": f"{dimension}#{bucket}"}


# -------------------------------------------------------------------------- reading keys back (issue 27, part 2)
# The services never parse a rollup key: what a key says comes from these.
def bucket_day(item: dict[str, Any]) -> date:
    """The first day of a rollup item's bucket (`<dimension>#<G>#<bucket start>`)."""
    return date.fromisoformat(str(item["SK"]).rsplit("#", 1)[1])


@dataclass(frozen=True)
class CustomerRowKey:
    """What the key of a per-customer row (`SHOP#<id>#ROLLUP#<shard> / <dimension>#<G>#<bucket start>#<customer>`)
    says."""

    shop_id: str
    dimension: str
    bucket: str  # `<G>#<bucket start>`, as `rollup_key` takes it
    customer: str


def customer_row_key(item: dict[str, Any]) -> CustomerRowKey:
    dimension, granularity, start, customer = str(item["SK"]).split("#", 3)
    return CustomerRowKey(str(item["PK"]).split("#")[1], dimension, f"{granularity}#{start}", customer)
