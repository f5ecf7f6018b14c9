"""The aggregator's writes: a batch of one source partition's stream records applied exactly once (`apply_batch`,
the package's docstring, "Exactly once, per batch"), its high-water mark, once-keys and max-counters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from backinstock.models.rollups import Change, Deltas, entity_of
from backinstock.repositories.base import Repository, key, serialize
from backinstock.repositories.rollups.keys import (
    MARK_RETENTION,
    MAX_TRANSACTION,
    ONCE_RETENTION,
    marks_pk,
    once_pk,
    rollup_key,
)


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
    """A transaction of a batch failed: records before `seq` are applied (the mark says so), `seq` and after not.
    Over several source partitions, `seqs` are every record not applied (of each source, its records from one on)."""

    def __init__(self, seq: int, cause: BaseException, seqs: Sequence[int] | None = None) -> None:
        super().__init__(f"rollups applied up to (not including) sequence number {seq}: {cause!r}")
        self.seq = seq
        self.seqs = frozenset(seqs if seqs is not None else (seq,))


class MarkMoved(Exception):
    """The mark changed between its read and the transaction: another invocation applied records of the same
    source partition meanwhile (never expected: Lambda runs one batch per partition key at a time)."""


class RollupWrites(Repository):
    # ------------------------------------------------------------------------------------------------- writes
    def mark(self, shop_id: str, source: str) -> Mark | None:
        item = self.read(marks_pk(shop_id), source)
        return Mark(int(item["seq"]), int(item.get("part", 0))) if item else None

    def marks(self, shop_id: str, sources: Sequence[str]) -> dict[str, Mark | None]:
        """The marks of a batch's source partitions: one GetItem for one source, else one BatchGetItem (100 a call)."""
        if len(sources) == 1:
            return {sources[0]: self.mark(shop_id, sources[0])}
        found = {
            str(item["SK"]): Mark(int(item["seq"]), int(item.get("part", 0)))
            for item in self.batch_get([key(marks_pk(shop_id), source) for source in sources])
        }
        return {source: found.get(source) for source in sources}

    def apply_batch(
        self,
        shop_id: str,
        source: str,
        records: Sequence[Record],
        now: datetime,
        committed: Callable[[list[Change]], None] | None = None,
    ) -> BatchResult:
        """Apply the records of one source partition (in stream order) exactly once: `apply_sources` of one."""
        return self.apply_sources(shop_id, {source: records}, now, committed)

    def apply_sources(
        self,
        shop_id: str,
        sources: dict[str, Sequence[Record]],
        now: datetime,
        committed: Callable[[list[Change]], None] | None = None,
    ) -> BatchResult:
        """Apply one shop's records of a batch, by source partition (each in stream order), exactly once: see the
        module's docstring. The sources' records are summed together, so a counter item is written once per
        transaction whatever the number of partitions the records come from (a restock's: 16 signup and 16 log
        shards); each transaction moves the mark of every source it covers, each on the condition that it still
        holds the value read. `committed` is called after each transaction with the changes it applied (the
        threshold alert). Raises `ApplyFailed` with the records not applied when a transaction fails."""
        result = BatchResult()
        every = [r.seq for records in sources.values() for r in records]
        try:  # a failed read of the marks or a failed max-counter applies nothing: retried from the first record
            marks = self.marks(shop_id, list(sources))
        except Exception as exc:
            raise ApplyFailed(min(every), exc, every) from exc
        todo: dict[str, list[Record]] = {}
        for source, records in sources.items():
            mark = marks[source]
            for record in records:
                if mark is not None and (record.seq < mark.seq or (record.seq == mark.seq and not mark.part)):
                    result.replayed += 1
                else:
                    todo.setdefault(source, []).append(record)
        if not todo:
            return result
        pending = [r.seq for records in todo.values() for r in records]
        try:
            self._raise_all(shop_id, [r.change for records in todo.values() for r in records if r.change is not None])
        except Exception as exc:
            raise ApplyFailed(min(pending), exc, pending) from exc
        transactions = _combined(
            [(source, chunk) for source, records in todo.items() for chunk in _chunks(records, marks[source])]
        )
        for index, transaction in enumerate(transactions):
            moves = {
                source: Mark(
                    chunk.records[-1].seq, 0 if chunk.part is None or chunk.part + 1 == chunk.parts else chunk.part + 1
                )
                for source, chunk in transaction
            }
            try:
                self._commit(shop_id, {s: marks[s] for s in moves}, moves, [c for _, c in transaction], now)
            except Exception as exc:
                left = [r.seq for later in transactions[index:] for _, c in later for r in c.records]
                raise ApplyFailed(min(left), exc, left) from exc
            result.transactions += 1
            changes: list[Change] = []
            for source, chunk in transaction:
                marks[source] = moves[source]
                if chunk.part is None or chunk.part + 1 == chunk.parts:
                    result.applied += sum(1 for r in chunk.records if r.change is not None)
                if chunk.part is None:
                    changes += [r.change for r in chunk.records if r.change is not None]
                else:
                    changes.append(Change(shop_id, plain=chunk.updates or {}))
            if committed is not None:
                committed(changes)
        return result

    def _commit(
        self,
        shop_id: str,
        expected: dict[str, Mark | None],
        new: dict[str, Mark],
        chunks: list[_Chunk],
        now: datetime,
    ) -> None:
        """One transaction: the marks of its sources (each conditional on `expected`), the once-keys, the counter
        updates of its chunks summed. A once-key already claimed drops its counters and the transaction is retried
        without them."""
        plains: list[Deltas] = []
        groups: dict[str, Deltas] = {}
        for chunk in chunks:
            if chunk.updates is not None:
                plains.append(chunk.updates)
                continue
            plain, own = _chunk_deltas(chunk.records)
            plains.append(plain)
            for once_key, deltas in own.items():
                groups.setdefault(once_key, deltas)
        marks = len(new)
        while True:
            once_keys = list(groups)
            updates = _merge(*plains, *groups.values())
            items = [
                *(self.mark_put(shop_id, source, expected[source], mark, now) for source, mark in new.items()),
                *(self._once_put(shop_id, k, now) for k in once_keys),
                *(self.counter_update(shop_id, slot, counters) for slot, counters in sorted(updates.items())),
            ]
            if len(items) > MAX_TRANSACTION:
                raise ValueError(f"a rollup chunk of {len(items)} writes exceeds one transaction")
            try:
                self.transact(items)
                return
            except self.client.exceptions.TransactionCanceledException as exc:
                codes = self.cancellation_codes(exc)
                if "ConditionalCheckFailed" in codes[:marks]:
                    if self.marks(shop_id, list(new)) == new:
                        # This very transaction committed: the client retried it after a timeout (DynamoDB answers
                        # a retry with the same ClientRequestToken as a success; moto does not)
                        return
                    raise MarkMoved(f"the marks of {', '.join(new)} moved") from exc
                taken = [
                    k
                    for i, k in enumerate(once_keys)
                    if len(codes) > i + marks and codes[i + marks] == "ConditionalCheckFailed"
                ]
                if not taken:
                    raise
                for once_key in taken:
                    groups.pop(once_key)

    def mark_put(self, shop_id: str, source: str, expected: Mark | None, new: Mark, now: datetime) -> dict[str, Any]:
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

    def counter_update(self, shop_id: str, slot: tuple[str, str], counters: dict[str, Decimal]) -> dict[str, Any]:
        """The Update (for a transaction) adding `counters` to a rollup item of the shop."""
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
            self.raise_to(shop_id, dimension, bucket, name, value)

    def raise_to(self, shop_id: str, dimension: str, bucket: str, name: str, value: int) -> None:
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


def _combined(chunks: list[tuple[str, _Chunk]]) -> list[list[tuple[str, _Chunk]]]:
    """Chunks of several source partitions put together in transactions, in order, as many as fit in
    `MAX_TRANSACTION` (a mark each, the once-keys, one update per counter item: the same counters of different
    sources are one update): at most one chunk of a source a transaction (its mark moves once), a part of a big
    record alone. A source's chunks stay in order: its later chunk is in a later transaction."""
    out: list[list[tuple[str, _Chunk]]] = []
    current: list[tuple[str, _Chunk]] = []
    slots: set[tuple[str, str]] = set()
    once: set[str] = set()
    for source, chunk in chunks:
        if chunk.part is not None:
            own_slots, own_once = set(chunk.updates or {}), set[str]()
        else:
            own_slots, own_once = set(), set()
            for record in chunk.records:
                if record.change is not None:
                    own_slots |= _slots(record.change)
                    own_once |= set(record.change.once)
        full = len(current) + 1 + len(slots | own_slots) + len(once | own_once) > MAX_TRANSACTION
        alone = chunk.part is not None or any(c.part is not None for _, c in current)
        if current and (full or alone or any(s == source for s, _ in current)):
            out.append(current)
            current, slots, once = [], set(), set()
        current.append((source, chunk))
        slots |= own_slots
        once |= own_once
    if current:
        out.append(current)
    return out


def _merge(*groups: Deltas) -> Deltas:
    out: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for group in groups:
        for slot, counters in group.items():
            for name, value in counters.items():
                out[slot][name] += value
    return {slot: {k: v for k, v in c.items() if v} for slot, c in out.items() if any(c.values())}
