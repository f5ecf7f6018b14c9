"""Rollup items of the reports, written by the stream aggregator and read by the report actions.

Items (docs/DATA_MODEL.md, "Report rollups"):
- `SHOP#<id>#ROLLUP#<shard> / <dimension>#<G>#<bucket start>`: counters (`ADD`) of one dimension in one bucket; and
  `<dimension>#TOTAL` for the all-time counters (a variant's pending count, which the merchant alerts watch; the
  list counts of `meta.total_count`). A dimension lives in one of `SHARDS` partitions of the shop, chosen by a
  stable hash of its name (`rollup_pk`): a report reads one dimension, so one Query of one partition (buckets + a
  constant), while one shop's burst spreads over `SHARDS` partition keys instead of one (1,000 WCU/s each).
- `SHOP#<id>#ROLLUP#MARKS / <source partition key>`: the high-water mark of the stream records of one base
  partition (`SHOP#<id>`, or a rollup shard for the customer rows the aggregator writes itself): the sequence
  number of the last record applied, and `part` (the parts of that record applied, 0: all of it).
- `SHOP#<id>#ROLLUP#ONCE / ORDER#<order_id>` and `CONVERTED#<signup_id>`: an order or a conversion was counted.

Exactly once, per batch (`apply_batch`): DynamoDB Streams delivers the records of one partition key in order, in
one shard (Lambda keeps that order with a parallelization factor above 1). The aggregator sums the changes of a
batch's records of one source partition in memory and writes each counter item once, in one `TransactWriteItems`
with the mark, moved to the last record it covers, on the condition that the mark still holds the value read
before. Records at or below the mark are replays (retries, bisected halves, a re-delivered batch) and count
nothing. A batch bigger than one transaction (100 items) is split into chunks of consecutive records, each moving
the mark to its own last record: a crash between two chunks leaves the mark after the first, and the retry applies
the rest. One record too big for a transaction (a preorder order touches dozens of dimensions in three bucket
sizes; it has no once-keys) is applied in parts of fixed content, the mark saying how many parts are in.

Once-keys (orders, conversions) are conditional Puts in the same transaction: a key already claimed (by an
earlier chunk, batch or record) drops its counters, and the transaction is retried without them; within a
chunk the first record claiming a key keeps it. Max-counters (`latest`) are conditional updates outside the
transaction, idempotent and order-free.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from backinstock.models.rollups import CUSTOMER_ROW_ENTITY, Change, Deltas, entity_of
from backinstock.repositories.base import Repository, from_item, key, serialize

_NOT_COUNTERS = frozenset({"PK", "SK", "entity", "rebuilt"})
_EXACT = TypeDeserializer()

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


@dataclass(frozen=True)
class Mark:
    """How far the records of one source partition are applied: through `seq` (all of it when `part` is 0, else
    its first `part` parts)."""

    seq: int
    part: int = 0


@dataclass
class Record:
    """One stream record of a source partition, as the aggregator hands it over: its sequence number (an integer)
    and its change (None: it counts nothing, but it still moves the mark)."""

    seq: int
    change: Change | None


@dataclass
class _Chunk:
    records: list[Record] = field(default_factory=list)
    part: int | None = None  # a part of one big record: its index
    parts: int = 0  # the big record's number of parts
    updates: Deltas | None = None  # the part's own updates


@dataclass
class BatchResult:
    """What `apply_batch` did: records applied now, replays skipped, transactions written."""

    applied: int = 0
    replayed: int = 0
    transactions: int = 0


class ApplyFailed(Exception):
    """A transaction of a batch failed: records before `seq` are applied (the mark says so), `seq` and after not."""

    def __init__(self, seq: int, cause: BaseException) -> None:
        super().__init__(f"rollups applied up to (not including) sequence number {seq}: {cause!r}")
        self.seq = seq


class MarkMoved(Exception):
    """The mark changed between its read and the transaction: another invocation applied records of the same
    source partition meanwhile (never expected: Lambda runs one batch per partition key at a time)."""


class RollupRepository(Repository):
    # ------------------------------------------------------------------------------------------------- writes
    def mark(self, shop_id: str, source: str) -> Mark | None:
        item = self.read(marks_pk(shop_id), source)
        return Mark(int(item["seq"]), int(item.get("part", 0))) if item else None

    def apply_batch(
        self,
        shop_id: str,
        source: str,
        records: Sequence[Record],
        now: datetime,
        committed: Callable[[list[Change]], None] | None = None,
    ) -> BatchResult:
        """Apply the records of one source partition (in stream order) exactly once: see the module's docstring.
        `committed` is called after each transaction with the changes it applied (the threshold alert). Raises
        `ApplyFailed` with the first record not applied when a transaction fails."""
        result = BatchResult()
        try:  # a failed read of the mark or a failed max-counter applies nothing: retried from the first record
            mark = self.mark(shop_id, source)
        except Exception as exc:
            raise ApplyFailed(records[0].seq, exc) from exc
        todo: list[Record] = []
        for record in records:
            if mark is not None and (record.seq < mark.seq or (record.seq == mark.seq and not mark.part)):
                result.replayed += 1
            else:
                todo.append(record)
        if not todo:
            return result
        try:
            self._raise_all(shop_id, [r.change for r in todo if r.change is not None])
        except Exception as exc:
            raise ApplyFailed(todo[0].seq, exc) from exc
        for chunk in _chunks(todo, mark):
            first = chunk.records[0].seq
            last = chunk.records[-1].seq
            new_mark = Mark(last, 0 if chunk.part is None or chunk.part + 1 == chunk.parts else chunk.part + 1)
            try:
                self._commit(shop_id, source, mark, new_mark, chunk, now)
            except Exception as exc:
                raise ApplyFailed(first, exc) from exc
            result.transactions += 1
            if chunk.part is None or chunk.part + 1 == chunk.parts:
                result.applied += sum(1 for r in chunk.records if r.change is not None)
            mark = new_mark
            if committed is not None:
                changes = [r.change for r in chunk.records if r.change is not None]
                committed(changes if chunk.part is None else [Change(shop_id, plain=chunk.updates or {})])
        return result

    def _commit(
        self, shop_id: str, source: str, expected: Mark | None, new: Mark, chunk: _Chunk, now: datetime
    ) -> None:
        """One chunk's transaction: the mark (conditional on `expected`), the once-keys, the counter updates. A
        once-key already claimed drops its counters and the transaction is retried without them."""
        groups: dict[str, Deltas] = {}
        if chunk.updates is not None:
            plain = chunk.updates
        else:
            plain, groups = _chunk_deltas(chunk.records)
        while True:
            once_keys = list(groups)
            updates = _merge(plain, *groups.values())
            items = [
                self._mark_update(shop_id, source, expected, new, now),
                *(self._once_put(shop_id, k, now) for k in once_keys),
                *(self._update(shop_id, slot, counters) for slot, counters in sorted(updates.items())),
            ]
            if len(items) > MAX_TRANSACTION:
                raise ValueError(f"a rollup chunk of {len(items)} writes exceeds one transaction")
            try:
                self.transact(items)
                return
            except self.client.exceptions.TransactionCanceledException as exc:
                codes = self.cancellation_codes(exc)
                if codes and codes[0] == "ConditionalCheckFailed":
                    if self.mark(shop_id, source) == new:
                        # This very transaction committed: the client retried it after a timeout (DynamoDB answers
                        # a retry with the same ClientRequestToken as a success; moto does not)
                        return
                    raise MarkMoved(f"the mark of {source} moved") from exc
                taken = [
                    k
                    for i, k in enumerate(once_keys)
                    if len(codes) > i + 1 and codes[i + 1] == "ConditionalCheckFailed"
                ]
                if not taken:
                    raise
                for once_key in taken:
                    groups.pop(once_key)

    def _mark_update(
        self, shop_id: str, source: str, expected: Mark | None, new: Mark, now: datetime
    ) -> dict[str, Any]:
        """The Put of a source partition's mark, on the condition that it still holds what was read."""
        put: dict[str, Any] = {
            "Item": {
                **key(marks_pk(shop_id), source),
                "entity": {"S": "rollup_mark"},
                "seq": {"S": str(new.seq)},
                "part": {"N": str(new.part)},
                "expires_at": {"N": str(int((now + MARK_RETENTION).timestamp()))},
            }
        }
        if expected is None:
            put["ConditionExpression"] = "attribute_not_exists(PK)"
        else:
            put["ConditionExpression"] = "seq = :seq AND #part = :part"
            put["ExpressionAttributeNames"] = {"#part": "part"}
            put["ExpressionAttributeValues"] = {":seq": {"S": str(expected.seq)}, ":part": {"N": str(expected.part)}}
        return {"Put": put}

    def _once_put(self, shop_id: str, once_key: str, now: datetime) -> dict[str, Any]:
        return {
            "Put": {
                "Item": {
                    **key(once_pk(shop_id), once_key),
                    "entity": {"S": "rollup_once"},
                    "expires_at": {"N": str(int((now + ONCE_RETENTION).timestamp()))},
                },
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _update(self, shop_id: str, slot: tuple[str, str], counters: dict[str, Decimal]) -> dict[str, Any]:
        dimension, bucket = slot
        names = {f"#c{i}": name for i, name in enumerate(sorted(counters))}
        values = {f":c{i}": serialize(counters[name]) for i, name in enumerate(sorted(counters))}
        adds = ", ".join(f"#c{i} :c{i}" for i in range(len(names)))
        return {
            "Update": {
                "Key": rollup_key(shop_id, dimension, bucket),
                "UpdateExpression": f"ADD {adds} SET entity = :entity",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {**values, ":entity": {"S": entity_of(dimension)}},
            }
        }

    def _raise_all(self, shop_id: str, changes: list[Change]) -> None:
        """The batch's max-counters, each raised once to the batch's highest value."""
        highest: dict[tuple[str, str, str], int] = {}
        for change in changes:
            for (dimension, bucket), values in change.latest.items():
                for name, value in values.items():
                    slot = (dimension, bucket, name)
                    highest[slot] = max(highest.get(slot, value), value)
        for (dimension, bucket, name), value in sorted(highest.items()):
            self._raise_to(shop_id, dimension, bucket, name, value)

    def _raise_to(self, shop_id: str, dimension: str, bucket: str, name: str, value: int) -> None:
        """`name = max(name, value)`: a conditional update, idempotent and order-free."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=rollup_key(shop_id, dimension, bucket),
                UpdateExpression="SET #n = :v, entity = :entity",
                ConditionExpression="attribute_not_exists(#n) OR #n < :v",
                ExpressionAttributeNames={"#n": name},
                ExpressionAttributeValues={":v": {"N": str(value)}, ":entity": {"S": "rollup"}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return

    # -------------------------------------------------------------------------------------------------- reads
    def range(
        self, shop_id: str, dimension: str, first: str, last: str, attributes: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Rollup items of one dimension with bucket keys in [first, last], eventually consistent (the reports'
        "read replicas"). `attributes`: only these counters (and the key) come back."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
            "ExpressionAttributeValues": {
                ":pk": {"S": rollup_pk(shop_id, dimension)},
                ":first": {"S": f"{dimension}#{first}"},
                ":last": {"S": f"{dimension}#{last}"},
            },
            "ConsistentRead": False,
        }
        if attributes is not None:
            names = {f"#a{i}": a for i, a in enumerate(["SK", *attributes])}
            request["ProjectionExpression"] = ", ".join(names)
            request["ExpressionAttributeNames"] = names
        return [from_item(item) for item in self.query(**request)]

    def customer_rows(self, shop_id: str, dimension: str, first: str, last: str) -> list[dict[str, Any]]:
        """The per-customer rows (`<dimension>#<bucket>#<customer key>`) of the buckets with keys in [first, last]
        of one granularity, eventually consistent."""
        return [
            from_item(item)
            for item in self.query(
                KeyConditionExpression="PK = :pk AND SK BETWEEN :first AND :last",
                ExpressionAttributeValues={
                    ":pk": {"S": rollup_pk(shop_id, dimension)},
                    ":first": {"S": f"{dimension}#{first}#"},
                    ":last": {"S": f"{dimension}#{last}#~"},
                },
                ConsistentRead=False,
            )
        ]

    # ------------------------------------------------------------------------- verify and rebuild (issue 17)
    # The audit (services/rollup_audit.py) sees the rollups only as a logical counter map, (dimension, bucket) ->
    # counter -> value, through the four methods below. A slot is one item, `<dimension>#<bucket>` in its dimension's
    # shard; a layout that spreads a slot over several items changes these methods, not the audit.
    def source_page(
        self, shop_id: str, prefix: str, start_key: dict[str, Any] | None, limit: int | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One Query page of a shop's base records of one kind (`SIGNUP#`, `NOTIF#`, `ATTR#`, `PREORDER#`), strongly
        consistent, and the key to resume after it (None: the last page)."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": f"SHOP#{shop_id}"}, ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        if start_key:
            request["ExclusiveStartKey"] = start_key
        if limit:
            request["Limit"] = limit
        response = self.client.query(**request)
        return [from_item(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey")

    def counter_map(self, shop_id: str) -> dict[tuple[str, str], dict[str, Decimal]]:
        """Every stored counter of the shop: (dimension, bucket) -> counter -> value (strongly consistent). Customer
        rows' buckets carry their customer key (`D#2026-06-01#<key>`), as the aggregator's deltas do."""
        out: dict[tuple[str, str], dict[str, Decimal]] = {}
        for shard in range(SHARDS):
            for raw in self.query(
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": shard_pk(shop_id, shard)}},
                ConsistentRead=True,
            ):
                item = _deserialize_exact(raw)
                dimension, bucket = str(item.pop("SK")).split("#", 1)
                out[(dimension, bucket)] = {k: v for k, v in item.items() if k not in _NOT_COUNTERS}
        return out

    def correct(
        self, shop_id: str, slot: tuple[str, str], values: dict[str, tuple[Decimal, Decimal]], created: bool
    ) -> bool:
        """Set counters of one slot from their stored to their expected value, `{name: (stored, expected)}`, only if
        each still holds the stored value (a stored 0 may be absent): a stream record applied meanwhile makes it
        fail (False) and the rebuild looks again. `created`: the slot did not exist; a customer row made here is
        marked `rebuilt`, so that its creation is not counted again as a new customer by the aggregator (the
        rebuild sets `customers` itself)."""
        dimension, bucket = slot
        names: dict[str, str] = {"#entity": "entity"}
        expression_values: dict[str, Any] = {":entity": {"S": entity_of(dimension)}}
        sets, conditions = ["#entity = :entity"], []
        for i, (name, (stored, expected)) in enumerate(sorted(values.items())):
            names[f"#c{i}"] = name
            expression_values[f":e{i}"] = serialize(expected)
            sets.append(f"#c{i} = :e{i}")
            if stored:
                expression_values[f":s{i}"] = serialize(stored)
                conditions.append(f"#c{i} = :s{i}")
            else:
                expression_values[":zero"] = {"N": "0"}
                conditions.append(f"(attribute_not_exists(#c{i}) OR #c{i} = :zero)")
        if created:
            conditions.append("attribute_not_exists(PK)")
            if entity_of(dimension) == CUSTOMER_ROW_ENTITY:
                sets.append("rebuilt = :true")
                expression_values[":true"] = {"BOOL": True}
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=rollup_key(shop_id, dimension, bucket),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=expression_values,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def remove(self, shop_id: str, slot: tuple[str, str], stored: dict[str, Decimal]) -> bool:
        """Delete a slot that should not exist (a customer row no ledger order makes), only if its counters still
        hold `stored`. False when they moved."""
        names = {f"#c{i}": name for i, name in enumerate(sorted(stored))}
        values = {f":s{i}": serialize(stored[name]) for i, name in enumerate(sorted(stored))}
        conditions = ["attribute_exists(PK)", *(f"#c{i} = :s{i}" for i in range(len(names)))]
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": rollup_key(shop_id, *slot),
            "ConditionExpression": " AND ".join(conditions),
        }
        if names:
            request["ExpressionAttributeNames"] = names
            request["ExpressionAttributeValues"] = values
        try:
            self.client.delete_item(**request)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def missing_once(self, shop_id: str, once_keys: list[str]) -> list[str]:
        """The once-keys (`ORDER#<id>`, `CONVERTED#<signup>`) not claimed yet (BatchGetItem, 100 keys a call)."""
        pk = once_pk(shop_id)
        found = {str(i["SK"]) for i in self.batch_get([key(pk, k) for k in once_keys], consistent=True)}
        return [k for k in once_keys if k not in found]

    def claim_once(self, shop_id: str, once_keys: list[str], now: datetime) -> int:
        """Claim once-keys whose counts a rebuild wrote, so that a late replay of their record counts nothing.
        Returns how many were claimed here (a conditional Put each)."""
        claimed = 0
        expires = str(int((now + ONCE_RETENTION).timestamp()))
        for once_key in once_keys:
            item = {
                **key(once_pk(shop_id), once_key),
                "entity": {"S": "rollup_once"},
                "expires_at": {"N": expires},
            }
            claimed += int(self.put_if(item))
        return claimed

    def counters(self, shop_id: str, dimensions: list[str], bucket: str = "TOTAL") -> dict[str, dict[str, Any]]:
        """Every counter of one bucket of each dimension (BatchGetItem, eventually consistent): dimension ->
        {counter: value}; a dimension nothing has counted yet is absent."""
        keys = [rollup_key(shop_id, d, bucket) for d in dict.fromkeys(dimensions)]
        out: dict[str, dict[str, Any]] = {}
        for item in self.batch_get(keys, consistent=False):
            dimension = str(item["SK"]).rsplit("#", 1)[0]
            out[dimension] = {k: v for k, v in item.items() if k not in _NOT_COUNTERS}
        return out

    def total(self, shop_id: str, dimension: str, counter: str, consistent: bool = True) -> int:
        """An all-time counter (strongly consistent by default: read right after the change that moved it)."""
        item = self.read(rollup_pk(shop_id, dimension), f"{dimension}#TOTAL", consistent=consistent)
        return int(item.get(counter, 0)) if item else 0


def _chunk_deltas(records: list[Record]) -> tuple[Deltas, dict[str, Deltas]]:
    """The plain deltas of records summed, and their once groups (the first record claiming a key keeps it)."""
    plain: list[Deltas] = []
    groups: dict[str, Deltas] = {}
    for record in records:
        if record.change is None:
            continue
        plain.append(record.change.plain)
        for once_key, deltas in record.change.once.items():
            groups.setdefault(once_key, deltas)
    return _merge(*plain), groups


def _slots(change: Change) -> set[tuple[str, str]]:
    slots = set(change.plain)
    for deltas in change.once.values():
        slots |= set(deltas)
    return slots


def _chunks(todo: list[Record], mark: Mark | None) -> list[_Chunk]:
    """Consecutive records grouped so that each chunk's transaction (mark, once-keys, one update per counter item)
    fits in `MAX_TRANSACTION`; a record too big alone becomes parts of `MAX_TRANSACTION - 1` updates in sorted
    order (the same parts on every retry), those the mark says are in skipped. Sizes are counted before zero sums
    cancel out: an over-estimate, never an under-estimate."""
    chunks: list[_Chunk] = []
    current = _Chunk()
    slots: set[tuple[str, str]] = set()
    once: set[str] = set()
    for record in todo:
        change = record.change
        if change is not None:
            own_slots, own_once = _slots(change), set(change.once)
            if len(own_slots) + len(own_once) + 1 > MAX_TRANSACTION:
                if own_once:
                    raise ValueError(f"a rollup change of {len(own_slots)} items with once-keys exceeds a transaction")
                if current.records:
                    chunks.append(current)
                    current, slots, once = _Chunk(), set(), set()
                ordered = sorted(_merge(change.plain).items())
                size = MAX_TRANSACTION - 1
                parts = [dict(ordered[i : i + size]) for i in range(0, len(ordered), size)]
                done = mark.part if mark is not None and mark.seq == record.seq else 0
                for index in range(done, len(parts)):
                    chunks.append(_Chunk([record], part=index, parts=len(parts), updates=parts[index]))
                continue
            if current.records and len(slots | own_slots) + len(once | own_once) + 1 > MAX_TRANSACTION:
                chunks.append(current)
                current, slots, once = _Chunk(), set(), set()
            slots |= own_slots
            once |= own_once
        current.records.append(record)
    if current.records:
        chunks.append(current)
    return chunks


def _merge(*groups: Deltas) -> Deltas:
    out: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for group in groups:
        for slot, counters in group.items():
            for name, value in counters.items():
                out[slot][name] += value
    return {slot: {k: v for k, v in c.items() if v} for slot, c in out.items() if any(c.values())}


def _deserialize_exact(item: dict[str, Any]) -> dict[str, Any]:
    """A rollup item with its numbers as Decimal (counters compare exactly; `from_item` turns integral ones into
    int)."""
    return {k: _EXACT.deserialize(v) for k, v in item.items()}


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
