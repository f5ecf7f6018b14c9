"""Report histories of any size, cheaply, and what DynamoDB answers a report read.

- The back-in-stock reports' (`write_history`): signups, sends and attributions on every day of a window, their
  rollup changes by the aggregator's own rules (`change_of`) summed per rollup item and written once per item.
- The preorder reports' (`replicate`, `write_rollups`): a shop's ledger copied under new orders and customers, its
  rollups computed by the aggregator's own rules (`order_change`, `customer_row_change`) and written once per
  rollup item.
- `items_read`, `DynamoReads` and `measure`: what DynamoDB answers a read through its handler.

Used by the read-cost tests and `bench/reports.py`, `bench/preorders.py`."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from backinstock import aws, deps, ids
from backinstock.models.rollups import CUSTOMER_ROWS, entity_of
from backinstock.repositories.base import from_item, serialize, to_item
from backinstock.repositories.preorders import CUSTOMER, ORDER, _shop_pk
from backinstock.repositories.rollups import rollup_key
from backinstock.services.preorder_rollups import customer_row_change, order_change
from backinstock.services.rollups import change_of
from backinstock_tools.testkit.gateway import call

START = datetime(2026, 3, 1, 12, tzinfo=UTC)  # the back-in-stock history's first day
DAYS = 90


def write_history(shop_id: str, per_day: int, offset: int) -> None:
    """`per_day` signups on every day of the window (each notified, one in three attributed). Their rollup changes
    are computed by the aggregator's own rules (`change_of`) and summed per rollup item before they are written
    (one UpdateItem per item): the transactional, once-only apply is tested elsewhere, and moto's transactions
    copy the whole table."""
    total: dict[tuple[str, str], Counter[str]] = {}
    latest: dict[tuple[str, str], dict[str, int]] = {}
    n = 0
    for day in range(DAYS):
        for _ in range(per_day):
            n += 1
            at = START + timedelta(days=day, minutes=n % 600)
            for change in changes(shop_id, at, n, offset):
                for group in (change.plain, *change.once.values()):
                    for slot, counters in group.items():
                        total.setdefault(slot, Counter()).update(
                            {k: int(v) if v == int(v) else v for k, v in counters.items()}
                        )
                for slot, values in change.latest.items():
                    current = latest.setdefault(slot, {})
                    for name, value in values.items():
                        current[name] = max(current.get(name, 0), value)
    repo = deps.rollups()
    for slot, counters in total.items():
        summed: dict[str, Any] = dict(counters)  # whole counts as int, fractions (revenue) as Decimal
        update = repo.counter_update(shop_id, slot, summed)["Update"]
        repo.client.update_item(TableName=repo.table_name, **update)
    for (dimension, bucket), values in latest.items():
        for name, value in values.items():
            repo.raise_to(shop_id, dimension, bucket, name, value)


def changes(shop_id: str, at: datetime, n: int, offset: int) -> list[Any]:
    signup = {
        "entity": "signup",
        "shop_id": shop_id,
        "signup_id": ids.uuid7(at),
        "variant_id": 101 + n % 3,
        "product_id": 10,
        "channel": "email",
        "created_at": ids.iso(at),
    }
    notified = {**signup, "notified_at": ids.iso(at + timedelta(hours=1))}
    send = {
        "entity": "notification",
        "shop_id": shop_id,
        "status": "sent",
        "channel": "email",
        "variant_id": signup["variant_id"],
        "product_id": 10,
        "sent_at": notified["notified_at"],
    }
    out = [change_of(None, signup), change_of(signup, notified), change_of(None, send)]
    if n % 3 == 0:
        attribution = {
            "entity": "attribution",
            "shop_id": shop_id,
            "order_id": f"o-{offset + n}",
            "line_item_id": "1",
            "signup_id": signup["signup_id"],
            "variant_id": signup["variant_id"],
            "product_id": 10,
            "channel": "email",
            "confidence": "high",
            "revenue": "10.00",
            "ordered_at": ids.iso(at + timedelta(hours=2)),
        }
        out.append(change_of(None, attribution))
    return out


def items_read(key: str, path: str) -> tuple[int, dict[str, Any]]:
    read: Counter[str] = Counter()

    def count(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        if name == "Query":
            read[name] += parsed.get("Count", 0)
        elif name == "GetItem":
            read[name] += 1 if parsed.get("Item") else 0
        elif name == "BatchGetItem":
            read[name] += sum(len(v) for v in parsed.get("Responses", {}).values())
        elif name == "Scan":
            read[name] += parsed.get("Count", 0)

    client = aws.client("dynamodb")
    client.meta.events.register("after-call.dynamodb", count)
    try:
        status, body = call("GET", path, key)
    finally:
        client.meta.events.unregister("after-call.dynamodb", count)
    assert status == 200, body
    assert "Scan" not in read
    return sum(read.values()), body


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
