"""A preorder history of any size, cheaply: a shop's ledger copied under new orders and customers, its rollups
computed by the aggregator's own rules (`order_change`, `customer_row_change`) and written once per rollup item; and
a counter of what DynamoDB answers a report read. Used by the preorder read-cost test and `bench/preorders.py`."""

from __future__ import annotations

import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

from backinstock import aws, deps
from backinstock.models.rollups import CUSTOMER_ROWS, entity_of
from backinstock.repositories.base import from_item, serialize, to_item
from backinstock.repositories.preorders import CUSTOMER, ORDER, _shop_pk
from backinstock.repositories.rollups import rollup_key
from backinstock.services.preorder_rollups import customer_row_change, order_change
from tests.helpers import call


def replicate(shop_id: str, copies: int) -> None:
    """`copies` more of every stored ledger order and customer profile of the shop, under new order ids and new
    customer keys (copy k of customer c is another customer): the shop then has (1 + copies) x the orders."""
    repo = deps.rollups()
    client, table = repo.client, repo.table_name
    pages = client.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": _shop_pk(shop_id)}},
    )
    stored = [from_item(raw) for page in pages for raw in page["Items"]]
    orders = [i for i in stored if str(i["SK"]).startswith(ORDER) and i.get("placed_at")]
    profiles = [i for i in stored if str(i["SK"]).startswith(CUSTOMER)]
    copied = []
    for k in range(1, copies + 1):
        for order in orders:
            order_id = f"{order['order_id']}{k:03d}"
            customer = f"{order['customer_key']}~{k}"
            copied.append({**order, "SK": ORDER + order_id, "order_id": order_id, "customer_key": customer})
        for profile in profiles:
            customer = f"{profile['customer_key']}~{k}"
            copied.append({**profile, "SK": CUSTOMER + customer, "customer_key": customer})
    for start in range(0, len(copied), 25):
        batch = [{"PutRequest": {"Item": to_item(item)}} for item in copied[start : start + 25]]
        client.batch_write_item(RequestItems={table: batch})


def write_rollups(shop_id: str) -> int:
    """The shop's preorder rollups from its stored ledger items, by the aggregator's rules; returns the items."""
    repo = deps.rollups()
    client = repo.client
    summed: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))

    def add(change: Any) -> None:
        for slot, counters in (change.plain if change else {}).items():
            for name, value in counters.items():
                summed[slot][name] += value

    pages = client.get_paginator("query").paginate(
        TableName=repo.table_name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
        ExpressionAttributeValues={":pk": {"S": _shop_pk(shop_id)}, ":sk": {"S": ORDER}},
    )
    for page in pages:
        for raw in page["Items"]:
            add(order_change(None, from_item(raw)))
    # A customer row's creation counts one distinct customer in its dimension and bucket (the stream's INSERT).
    for dimension, bucket in [slot for slot in summed if entity_of(slot[0]) != "rollup"]:
        key = rollup_key(shop_id, dimension, bucket)
        add(customer_row_change(None, {"PK": key["PK"]["S"], "SK": key["SK"]["S"]}))
    items = [
        {
            **rollup_key(shop_id, dimension, bucket),
            "entity": {"S": entity_of(dimension)},
            **{name: serialize(value) for name, value in counters.items() if value},
        }
        for (dimension, bucket), counters in summed.items()
    ]
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        client.batch_write_item(RequestItems={repo.table_name: batch})
    return len(items)


class DynamoReads:
    """Counts what DynamoDB answers while it is registered: items (Query `Count`, GetItem, BatchGetItem), of which
    per-customer rows, calls, response bytes (what read capacity is charged on), and the seconds inside the calls."""

    def __init__(self) -> None:
        self.client = aws.client("dynamodb")
        self.items = self.customer_rows = self.calls = self.bytes = 0
        self.seconds = 0.0
        self._started = 0.0

    def _before(self, **_: Any) -> None:
        self._started = time.perf_counter()

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.seconds += time.perf_counter() - self._started
        self.calls += 1
        self.bytes += len(http_response.content or b"")
        name = model.name
        assert name != "Scan", "a report read scanned"
        if name == "Query":
            self.items += parsed.get("Count", 0)
            self.customer_rows += sum(
                1 for i in parsed.get("Items", []) if i.get("SK", {}).get("S", "").startswith(CUSTOMER_ROWS)
            )
        elif name == "GetItem":
            self.items += 1 if parsed.get("Item") else 0
        elif name == "BatchGetItem":
            self.items += sum(len(v) for v in parsed.get("Responses", {}).values())

    def __enter__(self) -> DynamoReads:
        self.client.meta.events.register("before-call.dynamodb", self._before)
        self.client.meta.events.register("after-call.dynamodb", self._after)
        return self

    def __exit__(self, *_: Any) -> None:
        self.client.meta.events.unregister("before-call.dynamodb", self._before)
        self.client.meta.events.unregister("after-call.dynamodb", self._after)


def measure(key: str, path: str) -> tuple[DynamoReads, dict[str, Any]]:
    """A GET through its handler, with what DynamoDB answered it."""
    with DynamoReads() as reads:
        status, body = call("GET", path, key)
    assert status == 200, body
    return reads, body
