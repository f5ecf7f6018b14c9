"""What a code path costs DynamoDB in write units, and on which partition keys of the table and of its indexes.

Attached to a client's `provide-client-params` event (the call's own parameters, before it is sent), it counts
every item write the way DynamoDB bills it: 1 write unit a standard write, 2 an item of `TransactWriteItems`
(`ConditionCheck` too), plus 1 per index entry the write touches. The main table's indexes (`GSI1`, `GSI2`) project
every attribute, so any write of an item that has (or gets) an index key writes that index: a Put carries its
index keys; for an Update or a Delete the item's stored index keys are read first, through a second client that
is not metered. Items are assumed under 1 KB (a signup or a send-log row is ~0.7 KB): 1 unit an entry.

Keys are counted as `PK` values for the table and `GSI1:<GSI1PK>` / `GSI2:<GSI2PK>` for the indexes: the busiest
key's share of a path's writes is the figure docs/ARCHITECTURE.md holds to 1/16 in a big restock.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

INDEXES = ("GSI1", "GSI2")
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")


class WriteMeter:
    def __init__(self, client: Any, table_name: str, lookup: Any) -> None:
        """`client`: the application's DynamoDB client (metered); `lookup`: another client on the same backend, used
        to read an updated item's index keys."""
        self.table_name = table_name
        self.lookup = lookup
        self.calls: Counter[str] = Counter()
        self.units: Counter[str] = Counter()  # write units by key (table PK, or GSIn:<index PK>)
        self.items: Counter[tuple[str, str]] = Counter()  # writes by item (PK, SK)
        client.meta.events.register("provide-client-params.dynamodb", self._count)

    def reset(self) -> None:
        self.calls.clear()
        self.units.clear()
        self.items.clear()

    @property
    def write_units(self) -> int:
        return sum(self.units.values())

    def busiest(self) -> tuple[str, int]:
        [(name, units)] = self.units.most_common(1) or [("", 0)]
        return name, units

    def _index_keys(self, item_key: dict[str, Any], item: dict[str, Any] | None = None) -> list[str]:
        if item is None:
            stored = self.lookup.get_item(TableName=self.table_name, Key=item_key, ConsistentRead=True).get("Item")
            item = stored or {}
        return [f"{name}:{item[f'{name}PK']['S']}" for name in INDEXES if f"{name}PK" in item]

    def _write(self, body: dict[str, Any], kind: str, units: int) -> None:
        target = body["Item"] if kind == "Put" else body["Key"]
        self.items[(target["PK"]["S"], target["SK"]["S"])] += 1
        if kind == "Put":
            item = body["Item"]
            self.units[item["PK"]["S"]] += units
            for index in self._index_keys({}, item):
                self.units[index] += 1
            return
        self.units[body["Key"]["PK"]["S"]] += units
        if kind in ("Update", "Delete"):
            for index in self._index_keys(body["Key"]):
                self.units[index] += 1

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
                self._write(body, kind, 2)
        elif operation == "BatchWriteItem":
            for request in params["RequestItems"].get(self.table_name, []):
                if "PutRequest" in request:
                    self._write(request["PutRequest"], "Put", 1)
                else:
                    self._write(request["DeleteRequest"], "Delete", 1)


def attach(client: Any) -> WriteMeter:
    """A meter on `client` (the application's DynamoDB client) for the main table."""
    import boto3

    from backinstock import config

    lookup = boto3.client("dynamodb", region_name=client.meta.region_name, endpoint_url=client.meta.endpoint_url)
    return WriteMeter(client, config.table_name(), lookup)
