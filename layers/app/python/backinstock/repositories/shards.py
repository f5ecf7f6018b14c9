"""Partition keys spread over `SHARDS` shards, and the reads that put them back together (issue 23, part 2).

A restock sends to every signup of one variant of one shop. Each send writes its signup (the claim) and its send-log
row, so when signups and log rows live under one partition key (`SHOP#<id>`, or one index key per variant) that key
takes every send's writes and DynamoDB's ~1,000 write units a second per key bounds the restock. Signups and log
rows live under `<key>#<nn>` instead, `nn = crc32(id) % 16` (`shard_of`): a read by id computes its key (one
GetItem), and a list reads the 16 keys (`partitions`) and merges them (`merged`).

Ids are UUIDv7, so every shard's sort keys (`SIGNUP#<uuid7>`, `NOTIF#<uuid7>`) are in creation order and the merge
of 16 newest-first Queries is the listing newest first: one "last id" cursor applied to every shard keeps pages
stable. The first page of each shard is read in parallel (boto3 clients are thread-safe), so a listing costs 16
Queries but about one Query's latency.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

SHARDS = 16


def shard_of(item_id: str) -> str:
    """The shard (`00`..`15`) of an id: stable across processes and languages (CRC-32, not Python's hash)."""
    return f"{zlib.crc32(item_id.encode()) % SHARDS:02d}"


def sharded(prefix: str, item_id: str) -> str:
    """`<prefix>#<nn>`: the partition key of an item of `item_id` under `prefix`."""
    return f"{prefix}#{shard_of(item_id)}"


def partitions(prefix: str) -> list[str]:
    """The `SHARDS` partition keys under `prefix`, in shard order."""
    return [f"{prefix}#{n:02d}" for n in range(SHARDS)]


def _pages(client: Any, request: dict[str, Any], first: dict[str, Any]) -> Iterator[dict[str, Any]]:
    page = first
    while True:
        yield from page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return
        page = client.query(**{**request, "ExclusiveStartKey": start})


def merged(client: Any, requests: list[dict[str, Any]], sort_key: str = "SK") -> Iterator[dict[str, Any]]:
    """The raw items of several Queries (each complete with its `TableName`, all in the same direction), merged
    into one sequence in that direction by `sort_key` (a string attribute every item carries). Lazy: a shard's
    next page is read only when the merge reaches its end, so taking the first n items reads about n items per
    shard, never the whole listing."""
    if not requests:
        return iter(())
    if len(requests) == 1:
        return _pages(client, requests[0], client.query(**requests[0]))
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        firsts = list(pool.map(lambda r: client.query(**r), requests))
    newest_first = requests[0].get("ScanIndexForward", True) is False
    streams = [_pages(client, r, f) for r, f in zip(requests, firsts, strict=True)]
    return heapq.merge(*streams, key=lambda item: item[sort_key]["S"], reverse=newest_first)
