"""Rollup items of the reports, written by the stream aggregator and read by the report actions.

Items (docs/DATA_MODEL.md, "Report rollups"):
- `SHOP#<id>#ROLLUP#<shard> / <dimension>#<G>#<bucket start>`: counters (`ADD`) of one dimension in one bucket; and
  `<dimension>#TOTAL` for the all-time counters (a variant's pending count, which the merchant alerts watch; the
  list counts of `meta.total_count`). A dimension lives in one of `SHARDS` partitions of the shop, chosen by a
  stable hash of its name (`rollup_pk`): a report reads one dimension, so one Query of one partition (buckets + a
  constant), while one shop's burst spreads over `SHARDS` partition keys instead of one (1,000 WCU/s each).
- `SHOP#<id>#ROLLUP#MARKS / <source partition key>`: the high-water mark of the stream records of one base
  partition (one of the shop's 16 signup or 16 log partitions, `SHOP#<id>` for attributions and ledger orders, or a
  rollup shard for the customer rows the aggregator writes itself): the sequence number of the last record applied,
  and `part` (the parts of that record applied, 0: all of it).
- `SHOP#<id>#ROLLUP#ONCE / ORDER#<order_id>` and `CONVERTED#<signup_id>`: an order or a conversion was counted.

Exactly once, per batch (`apply_sources`; `apply_batch` for one source): DynamoDB Streams delivers the records of one
partition key in order, in one shard (Lambda keeps that order with a parallelization factor above 1). The aggregator
sums the changes of a batch's records of one shop, from every source partition (a shop's signup and log shards), in
memory and writes each counter item once, in one `TransactWriteItems` with the mark of each source it covers, moved to
that source's last record in it, on the condition that each mark still holds the value read before (the marks read
with one `BatchGetItem`). Records at or below their source's mark are replays (retries, bisected halves, a
re-delivered batch) and count nothing. A batch bigger than one transaction (100 items) is split into chunks of
consecutive records of each source, each moving its source's mark to its own last record: a crash between two
transactions leaves each mark after the records in, and the retry applies the rest. One record too big for a
transaction (a preorder order touches dozens of dimensions in three bucket sizes; it has no once-keys) is applied in
parts of fixed content, the mark saying how many parts are in.

Once-keys (orders, conversions) are conditional Puts in the same transaction: a key already claimed (by an
earlier chunk, batch or record) drops its counters, and the transaction is retried without them; within a
chunk the first record claiming a key keeps it. Max-counters (`latest`) are conditional updates outside the
transaction, idempotent and order-free.

The parts: `keys` (the items' keys and retentions), `apply` (the aggregator's writes: `apply_batch`, the marks,
once-keys and max-counters), `reads` (the report actions' reads) and `audit` (what verify and rebuild read and
correct). `RollupRepository` is the three together; every name is importable from here, as before the split.
"""

from __future__ import annotations

from backinstock.repositories.rollups.apply import ApplyFailed, BatchResult, Mark, MarkMoved, Record, RollupWrites
from backinstock.repositories.rollups.audit import RollupAudit
from backinstock.repositories.rollups.keys import (
    MARK_RETENTION,
    MAX_TRANSACTION,
    ONCE_RETENTION,
    SHARDS,
    CustomerRowKey,
    bucket_day,
    customer_row_key,
    marks_pk,
    once_pk,
    rollup_key,
    rollup_pk,
    row_key,
    shard_of,
    shard_pk,
    shop_partitions,
)
from backinstock.repositories.rollups.reads import RollupReads


class RollupRepository(RollupWrites, RollupReads, RollupAudit):
    """The rollups' repository: the aggregator's writes (`apply`), the reports' reads (`reads`), and verify and
    rebuild's reads and corrections (`audit`)."""


__all__ = [
    "MARK_RETENTION",
    "MAX_TRANSACTION",
    "ONCE_RETENTION",
    "SHARDS",
    "ApplyFailed",
    "BatchResult",
    "CustomerRowKey",
    "Mark",
    "MarkMoved",
    "Record",
    "RollupAudit",
    "RollupReads",
    "RollupRepository",
    "RollupWrites",
    "bucket_day",
    "customer_row_key",
    "marks_pk",
    "once_pk",
    "rollup_key",
    "rollup_pk",
    "row_key",
    "shard_of",
    "shard_pk",
    "shop_partitions",
]
