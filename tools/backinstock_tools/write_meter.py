"""What a code path costs DynamoDB in write units, and on which partition keys of the table and of its indexes.

Attached to a client's `provide-client-params` event (the call's own parameters, before it is sent), it counts
every item write the way DynamoDB bills it: 1 write unit a standard write, 2 an item of `TransactWriteItems`
(`ConditionCheck` too), plus the index entries the write touches, read from `infra_spec.MAIN_TABLE.indexes`:
- an item enters an index (it gets the index's key attributes) or leaves it: 1 entry written;
- its index key changes (partition or sort key): 2 (the old entry deleted, the new one put);
- it stays under the same index key: 1 for an index projecting every attribute (`ALL`: the entry is a copy of the
  item), none for a `KEYS_ONLY` index (its entry holds keys only, and they did not change).
A Put carries its index keys; for an Update or a Delete, and a Put that may replace an item (no
`attribute_not_exists(PK)` condition), the item's stored index keys are read first, through a second client that
is not metered; an Update's new keys come from its expression (`SET k = :v`, `SET k = if_not_exists(k, :v)`,
`REMOVE k`; any other expression that names a key attribute counts as changing it). Items are assumed under 1 KB (a
signup or a send-log row is ~0.7 KB): 1 unit an entry.

Keys are counted as `PK` values for the table and `<index>:<index PK>` (`GSI1:SHOP#<id>#VARIANT#101#NOTIF#07`) for
the indexes: the busiest key's share of a path's writes is the figure docs/ARCHITECTURE.md holds to 1/16 in a big
restock.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from backinstock.infra_spec import MAIN_TABLE, Index

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
_UNKNOWN = object()  # an index key attribute an update expression sets to something we do not evaluate
_CLAUSE = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b", re.IGNORECASE)


def entries_written(index: Index, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[tuple[str, int]]:
    """The index entries one item write makes in `index`, as (index partition key, entries): `old` and `new` the
    item before and after (None: absent), typed attribute values."""
    before = _index_key(index, old)
    after = _index_key(index, new)
    if before is None and after is None:
        return []
    if before is None:
        return [(_pk_of(after), 1)]
    if after is None:
        return [(_pk_of(before), 1)]
    if before != after:
        return [(_pk_of(before), 1), (_pk_of(after), 1)]
    return [(_pk_of(before), 1)] if index.projection == "ALL" else []


def _index_key(index: Index, item: dict[str, Any] | None) -> tuple[Any, Any] | None:
    if not item or index.partition_key not in item or index.sort_key not in item:
        return None
    return item[index.partition_key], item[index.sort_key]


def _pk_of(key: tuple[Any, Any] | None) -> str:
    assert key is not None
    value = key[0]
    return value["S"] if isinstance(value, dict) else "?"  # an expression we did not evaluate: its new key unknown


def updated(stored: dict[str, Any] | None, body: dict[str, Any], attributes: Sequence[str]) -> dict[str, Any]:
    """The item after an Update, as far as `attributes` (the index key attributes) go: the others are left as
    stored (they decide no index entry)."""
    item = dict(stored or {})
    names: dict[str, str] = body.get("ExpressionAttributeNames") or {}
    values: dict[str, Any] = body.get("ExpressionAttributeValues") or {}
    expression = body.get("UpdateExpression") or ""
    parts = _CLAUSE.split(expression)
    for verb, text in zip(parts[1::2], parts[2::2], strict=True):
        for action in _top_level(text):
            path = re.split(r"[\s=]", action.strip(), maxsplit=1)[0]
            attribute = names.get(path, path)
            if attribute not in attributes:
                continue
            if verb.upper() == "REMOVE" or verb.upper() == "DELETE":
                item.pop(attribute, None)
                continue
            value_text = action.split("=", 1)[1].strip() if verb.upper() == "SET" and "=" in action else ""
            item[attribute] = _value(value_text, attribute, item, names, values)
    return item


def _value(text: str, attribute: str, item: dict[str, Any], names: dict[str, str], values: dict[str, Any]) -> Any:
    if text in values:
        return values[text]
    match = re.fullmatch(r"if_not_exists\(\s*([^,\s]+)\s*,\s*(:\w+)\s*\)", text)
    if match and names.get(match.group(1), match.group(1)) == attribute and match.group(2) in values:
        return item.get(attribute, values[match.group(2)])
    return {"?": _UNKNOWN}


def _top_level(text: str) -> list[str]:
    """A clause's actions: split at commas outside parentheses."""
    out, depth, current = [], 0, ""
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            out.append(current)
            current = ""
        else:
            current += char
    return [a for a in [*out, current] if a.strip()]


class WriteMeter:
    def __init__(
        self, client: Any, table_name: str, lookup: Any, indexes: Sequence[Index] = MAIN_TABLE.indexes
    ) -> None:
        """`client`: the application's DynamoDB client (metered); `lookup`: another client on the same backend, used
        to read a written item's stored index keys; `indexes`: the table's (their keys and projections)."""
        self.table_name = table_name
        self.lookup = lookup
        self.indexes = tuple(indexes)
        self.calls: Counter[str] = Counter()
        self.units: Counter[str] = Counter()  # write units by key (table PK, or <index>:<index PK>)
        self.items: Counter[tuple[str, str]] = Counter()  # writes by item (PK, SK)
        client.meta.events.register("provide-client-params.dynamodb", self._count)

    def reset(self) -> None:
        self.calls.clear()
        self.units.clear()
        self.items.clear()

    @property
    def write_units(self) -> int:
        return sum(self.units.values())

    def index_units(self, name: str) -> int:
        """Write units of one index (`GSI3`), over all its keys."""
        return sum(v for k, v in self.units.items() if k.startswith(f"{name}:"))

    def busiest(self) -> tuple[str, int]:
        [(name, units)] = self.units.most_common(1) or [("", 0)]
        return name, units

    def _stored(self, item_key: dict[str, Any]) -> dict[str, Any] | None:
        item = self.lookup.get_item(TableName=self.table_name, Key=item_key, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def _write(self, body: dict[str, Any], kind: str, units: int) -> None:
        target = body["Item"] if kind == "Put" else body["Key"]
        table_key = {"PK": target["PK"], "SK": target["SK"]}
        self.items[(target["PK"]["S"], target["SK"]["S"])] += 1
        self.units[target["PK"]["S"]] += units
        if kind == "ConditionCheck":
            return
        attributes = [a for i in self.indexes for a in (i.partition_key, i.sort_key)]
        if kind == "Put":
            condition = body.get("ConditionExpression") or ""
            new_item = "attribute_not_exists(PK)" in condition.replace(" ", "")
            old = None if new_item else self._stored(table_key)
            new: dict[str, Any] | None = body["Item"]
        elif kind == "Update":
            old = self._stored(table_key)
            new = updated(old, body, attributes)
        else:  # Delete
            old, new = self._stored(table_key), None
        for index in self.indexes:
            for pk, n in entries_written(index, old, new):
                self.units[f"{index.name}:{pk}"] += n

    def _count(self, params: dict[str, Any], event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        if params.get("TableName", self.table_name) != self.table_name and operation != "TransactWriteItems":
            return  # another table (the rate limiter's, idempotency records)
        self.calls[operation] += 1
        if operation == "PutItem":
            self._write(params, "Put", 1)
        elif operation == "UpdateItem":
            self._write(params, "Update", 1)
        elif operation == "DeleteItem":
            self._write(params, "Delete", 1)
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                [(kind, body)] = entry.items()
                if body.get("TableName", self.table_name) == self.table_name:
                    self._write(body, kind, 2)
        elif operation == "BatchWriteItem":
            for request in params["RequestItems"].get(self.table_name, []):
                if "PutRequest" in request:
                    self._write(request["PutRequest"], "Put", 1)
                else:
                    self._write(request["DeleteRequest"], "Delete", 1)


def attach(client: Any) -> WriteMeter:
    """A meter on `client` (the application's DynamoDB client) for the main table and its indexes."""
    import boto3

    from backinstock import config

    lookup = boto3.client("dynamodb", region_name=client.meta.region_name, endpoint_url=client.meta.endpoint_url)
    return WriteMeter(client, config.table_name(), lookup)
