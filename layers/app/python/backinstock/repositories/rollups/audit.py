"""What `reports verify` and `reports rebuild` (services/rollup_audit.py, issue 17) read and write: the base
records, the stored counters as one map, conditional corrections, once-keys.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from backinstock.models.rollups import CUSTOMER_ROW_ENTITY, entity_of
from backinstock.repositories.base import Repository, from_item, key, serialize
from backinstock.repositories.notifications import NOTIF, notification_partitions
from backinstock.repositories.rollups.keys import _NOT_COUNTERS, ONCE_RETENTION, SHARDS, once_pk, rollup_key, shard_pk
from backinstock.repositories.signups import SIGNUP, shop_pk, signup_partitions

_EXACT = TypeDeserializer()
# The base records the rollups are a function of, by entity (`services.rollups.ENTITIES`, but for the customer rows,
# which the counters of ledger orders make): the sort-key prefix of each, one Query range in each of the partitions
# that hold them (`source_page`): a shop's 16 signup partitions, its 16 log partitions, else the shop's partition.
SOURCES = {"signup": SIGNUP, "notification": NOTIF, "attribution": "ATTR#", "preorder": "PREORDER#"}
_PARTITIONS: dict[str, Callable[[str], list[str]]] = {SIGNUP: signup_partitions, NOTIF: notification_partitions}


def source_partitions(shop_id: str, prefix: str) -> list[str]:
    """The partition keys holding a shop's base records of one kind (`SOURCES`), in the order a scan reads them.
    Signups and log rows: their 16 partitions, then the shop's own, where a table written before issue 23 keeps the
    rows `migrate keys` has not moved yet (one more Query, empty once they are; a row being moved is marked
    `relocated` at one place or the other, and counts once through `change_of`). Without it a rebuild before the
    move would take the unmoved rows' counts away."""
    partitions = _PARTITIONS.get(prefix)
    return [*partitions(shop_id), shop_pk(shop_id)] if partitions else [shop_pk(shop_id)]


class RollupAudit(Repository):
    # ------------------------------------------------------------------------- verify and rebuild (issue 17)
    # The audit (services/rollup_audit.py) sees the rollups only as a logical counter map, (dimension, bucket) ->
    # counter -> value, through the four methods below. A slot is one item, `<dimension>#<bucket>` in its dimension's
    # shard; a layout that spreads a slot over several items changes these methods, not the audit.
    def source_page(
        self, shop_id: str, prefix: str, start_key: dict[str, Any] | None, limit: int | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of a shop's base records of one kind (`SIGNUP#`, `NOTIF#`, `ATTR#`, `PREORDER#`): up to `limit`
        items (all of them without one) read strongly consistent from its partitions (`source_partitions`) one after
        the other, and the key to resume after it (None: the last page). The key is opaque to the caller: a Query's
        `LastEvaluatedKey` (its `PK` names the partition), or `{"PK": ...}` alone for the start of the next
        partition."""
        partitions = source_partitions(shop_id, prefix)
        at = 0
        if start_key:
            pk = start_key["PK"]["S"]
            if pk not in partitions:
                raise ValueError("the resume key is not in this source's partitions (a state saved before they moved)")
            at = partitions.index(pk)
            if "SK" not in start_key:
                start_key = None
        items: list[dict[str, Any]] = []
        while True:
            request: dict[str, Any] = {
                "TableName": self.table_name,
                "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                "ExpressionAttributeValues": {":pk": {"S": partitions[at]}, ":prefix": {"S": prefix}},
                "ConsistentRead": True,
            }
            if start_key:
                request["ExclusiveStartKey"] = start_key
            if limit:
                request["Limit"] = limit - len(items)
            response = self.client.query(**request)
            items += [from_item(i) for i in response.get("Items", [])]
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                at += 1
                if at == len(partitions):
                    return items, None
                start_key = None
                if limit and len(items) >= limit:
                    return items, {"PK": {"S": partitions[at]}}
            elif limit and len(items) >= limit:
                return items, start_key

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


def _deserialize_exact(item: dict[str, Any]) -> dict[str, Any]:
    """A rollup item with its numbers as Decimal (counters compare exactly; `from_item` turns integral ones into
    int)."""
    return {k: _EXACT.deserialize(v) for k, v in item.items()}
