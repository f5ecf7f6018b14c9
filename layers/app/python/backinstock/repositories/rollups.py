"""Rollup items of the reports, written by the stream aggregator and read by the report actions.

Items (docs/DATA_MODEL.md, "Report rollups"):
- `SHOP#<id>#ROLLUP / <dimension>#<G>#<bucket start>`: counters (`ADD`) of one dimension in one bucket; and
  `<dimension>#TOTAL` for the all-time counters (a variant's pending count, which the merchant alerts watch). One
  partition per shop, so a shop's rollups are one Query away from the privacy purge.
- `SHOP#<id>#ROLLUP#APPLIED / EVENT#<stream eventID>`: the stream record was applied (expires after 2 days: a
  stream keeps records 24 hours).
- `SHOP#<id>#ROLLUP#ONCE / ORDER#<order_id>` and `CONVERTED#<signup_id>`: an order or a conversion was counted.

A change is one `TransactWriteItems`: the record's marker (`attribute_not_exists`), the once-keys it claims, the
counter updates. A replayed record fails on its marker and changes nothing; a once-key already claimed drops its
counters from the transaction, which is retried without them.

A change too big for one transaction (a preorder order touches dozens of dimensions per line, in three bucket sizes)
and without once-keys is applied in parts of at most 99 updates, in a fixed order, each part a transaction with its
own marker `EVENT#<eventID>#<part>`: a record retried after a crash between parts skips the parts already applied
and applies the rest, so every part still counts exactly once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from backinstock.models.rollups import CUSTOMER_ROW_ENTITY, Change, Deltas, entity_of
from backinstock.repositories.base import Repository, from_item, key, serialize

_NOT_COUNTERS = frozenset({"PK", "SK", "entity", "rebuilt"})
_EXACT = TypeDeserializer()

MARKER_RETENTION = timedelta(days=2)
ONCE_RETENTION = timedelta(days=400)
MAX_TRANSACTION = 100


ROLLUP = "ROLLUP"


def rollup_pk(shop_id: str, partition: str = ROLLUP) -> str:
    return f"SHOP#{shop_id}#{partition}"


def shop_partitions() -> list[Any]:
    """The partitions outside `SHOP#<id>` that hold a shop's rollup data (for the privacy purge)."""
    return [lambda s: rollup_pk(s), lambda s: rollup_pk(s, "ROLLUP#APPLIED"), lambda s: rollup_pk(s, "ROLLUP#ONCE")]


def rollup_key(shop_id: str, dimension: str, bucket: str) -> dict[str, Any]:
    return key(rollup_pk(shop_id), f"{dimension}#{bucket}")


class RollupRepository(Repository):
    # ------------------------------------------------------------------------------------------------- writes
    def apply(self, change: Change, event_id: str, now: datetime) -> str:
        """Apply one record's change once. Returns `applied`, `replayed` or `empty`."""
        for (dimension, bucket), values in change.latest.items():
            for name, value in values.items():
                self._raise_to(change.shop_id, dimension, bucket, name, value)
        if not change.once:
            plain = _merge(change.plain)
            if len(plain) + 1 > MAX_TRANSACTION:
                return self._apply_in_parts(change.shop_id, plain, event_id, now)
        active = dict(change.once)
        while True:
            updates = _merge(change.plain, *active.values())
            if not updates:
                return "empty"
            marker = self._marker(change.shop_id, f"EVENT#{event_id}", now)
            once_keys = list(active)
            onces = [
                {
                    "Put": {
                        "Item": {
                            **key(rollup_pk(change.shop_id, "ROLLUP#ONCE"), once_key),
                            "entity": {"S": "rollup_once"},
                            "expires_at": {"N": str(int((now + ONCE_RETENTION).timestamp()))},
                        },
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
                for once_key in once_keys
            ]
            writes = [self._update(change.shop_id, slot, counters) for slot, counters in sorted(updates.items())]
            items = [marker, *onces, *writes]
            if len(items) > MAX_TRANSACTION:
                raise ValueError(f"a rollup change of {len(items)} writes exceeds one transaction")
            try:
                self.transact(items)
                return "applied"
            except self.client.exceptions.TransactionCanceledException as exc:
                codes = self.cancellation_codes(exc)
                if codes and codes[0] == "ConditionalCheckFailed":
                    return "replayed"
                taken = [
                    k
                    for i, k in enumerate(once_keys)
                    if len(codes) > i + 1 and codes[i + 1] == "ConditionalCheckFailed"
                ]
                if not taken:
                    raise
                for once_key in taken:
                    active.pop(once_key)

    def _apply_in_parts(self, shop_id: str, updates: Deltas, event_id: str, now: datetime) -> str:
        """A change bigger than one transaction: parts of `MAX_TRANSACTION - 1` updates in sorted order (the same
        parts on every retry of the record), each with its own marker. `applied` when any part was applied now."""
        slots = sorted(updates.items())
        size = MAX_TRANSACTION - 1
        outcome = "replayed"
        for part, start in enumerate(range(0, len(slots), size)):
            writes = [self._update(shop_id, slot, counters) for slot, counters in slots[start : start + size]]
            try:
                self.transact([self._marker(shop_id, f"EVENT#{event_id}#{part}", now), *writes])
                outcome = "applied"
            except self.client.exceptions.TransactionCanceledException as exc:
                codes = self.cancellation_codes(exc)
                if not codes or codes[0] != "ConditionalCheckFailed":
                    raise
        return outcome

    def _marker(self, shop_id: str, sort_key: str, now: datetime) -> dict[str, Any]:
        """The Put that records a stream record (or one part of it) as applied; it fails once it exists."""
        return {
            "Put": {
                "Item": {
                    **key(rollup_pk(shop_id, "ROLLUP#APPLIED"), sort_key),
                    "entity": {"S": "rollup_marker"},
                    "expires_at": {"N": str(int((now + MARKER_RETENTION).timestamp()))},
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
                ":pk": {"S": rollup_pk(shop_id)},
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
                    ":pk": {"S": rollup_pk(shop_id)},
                    ":first": {"S": f"{dimension}#{first}#"},
                    ":last": {"S": f"{dimension}#{last}#~"},
                },
                ConsistentRead=False,
            )
        ]

    # ------------------------------------------------------------------------- verify and rebuild (issue 17)
    # The audit (services/rollup_audit.py) sees the rollups only as a logical counter map, (dimension, bucket) ->
    # counter -> value, through the four methods below. Today a slot is one item, `<dimension>#<bucket>`; a layout
    # that spreads a slot over several items (issue 12) changes these methods, not the audit.
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
        for raw in self.query(
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": rollup_pk(shop_id)}},
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
        pk = rollup_pk(shop_id, "ROLLUP#ONCE")
        found = {str(i["SK"]) for i in self.batch_get([key(pk, k) for k in once_keys], consistent=True)}
        return [k for k in once_keys if k not in found]

    def claim_once(self, shop_id: str, once_keys: list[str], now: datetime) -> int:
        """Claim once-keys whose counts a rebuild wrote, so that a late replay of their record counts nothing.
        Returns how many were claimed here (a conditional Put each)."""
        claimed = 0
        expires = str(int((now + ONCE_RETENTION).timestamp()))
        for once_key in once_keys:
            item = {
                **key(rollup_pk(shop_id, "ROLLUP#ONCE"), once_key),
                "entity": {"S": "rollup_once"},
                "expires_at": {"N": expires},
            }
            claimed += int(self.put_if(item))
        return claimed

    def total(self, shop_id: str, dimension: str, counter: str) -> int:
        """An all-time counter (strongly consistent: read right after the change that moved it)."""
        item = self.read(rollup_pk(shop_id), f"{dimension}#TOTAL")
        return int(item.get(counter, 0)) if item else 0


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
