"""What every repository shares: the lazily created client, item (de)serialization, and the batched calls with
their AWS limits (BatchGetItem 100 keys, BatchWriteItem 25 requests) and unprocessed-item retries.

boto3's paginator is used for Query; batch calls are chunked here because boto3 has no helper for the low-level
client (the resource layer's `batch_writer` would hide the call count the benchmarks and tests assert on).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from backinstock import aws

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
_RETRIES = 8
# A transaction cancelled only because another one touched one of its items at the same moment (TransactionConflict,
# no condition failed) wrote nothing and is tried again here, up to 5 times with jittered backoff: contention is
# settled in place, never by an SQS redelivery (docs/RELIABILITY.md, "contention").
CONFLICT_RETRIES = 5


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _native(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: integral ones become int."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, list):
        return [_native(v) for v in value]
    if isinstance(value, dict):
        return {k: _native(v) for k, v in value.items()}
    return value


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """Serialize; `None` values are left out (an absent attribute, never a NULL: `attribute_exists` stays honest)."""
    return {k: _serializer.serialize(_plain(v)) for k, v in values.items() if v is not None}


def serialize(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = _serializer.serialize(_plain(value))
    return out


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _native(_deserializer.deserialize(v)) for k, v in item.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


class Repository:
    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("dynamodb")
        return self._client

    def read(self, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table_name, Key=key(pk, sk), ConsistentRead=consistent)
        item = response.get("Item")
        return from_item(item) if item else None

    def put_if(
        self,
        item: dict[str, Any],
        condition: str = "attribute_not_exists(PK)",
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> bool:
        """A conditional PutItem of a raw item. False (nothing written) when the condition fails: the domain answer
        of "already there" / "older than what is stored", never an error."""
        request: dict[str, Any] = {"TableName": self.table_name, "Item": item, "ConditionExpression": condition}
        if names:
            request["ExpressionAttributeNames"] = names
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            self.client.put_item(**request)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def update_if(self, **request: Any) -> bool:
        """A conditional UpdateItem (`request` without the table name). False (nothing written) when its condition
        fails, as `put_if`."""
        try:
            self.client.update_item(TableName=self.table_name, **request)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def query(self, **request: Any) -> Iterator[dict[str, Any]]:
        """Every raw item of a Query, page after page (boto3's paginator)."""
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(TableName=self.table_name, **request):
            yield from page.get("Items", [])

    def batch_get(self, keys: list[dict[str, Any]], consistent: bool = True) -> list[dict[str, Any]]:
        """Items for the keys (missing ones are simply absent), 100 keys per call, unprocessed keys retried."""
        return [from_item(i) for i in self.batch_get_raw(keys, consistent)]

    def batch_get_in_order(self, keys: list[dict[str, Any]], consistent: bool = True) -> list[dict[str, Any]]:
        """`batch_get_raw`'s items in the order of `keys` (a listing's order: a keys-only index page read back); a key
        whose item is gone is left out."""
        found = {(i["PK"]["S"], i["SK"]["S"]): i for i in self.batch_get_raw(keys, consistent)}
        return [item for k in keys if (item := found.get((k["PK"]["S"], k["SK"]["S"]))) is not None]

    def batch_get_raw(self, keys: list[dict[str, Any]], consistent: bool = True) -> list[dict[str, Any]]:
        """`batch_get`'s items as DynamoDB returns them (typed attribute values), in no particular order."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            pending: dict[str, Any] = {
                self.table_name: {"Keys": keys[start : start + BATCH_GET_LIMIT], "ConsistentRead": consistent}
            }
            for attempt in range(_RETRIES):
                response = self.client.batch_get_item(RequestItems=pending)
                found.extend(response.get("Responses", {}).get(self.table_name, []))
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise RuntimeError("BatchGetItem left keys unprocessed after retries")
        return found

    def batch_write(self, requests: list[dict[str, Any]]) -> None:
        """PutRequest / DeleteRequest entries, 25 per call, unprocessed items retried with backoff."""
        for start in range(0, len(requests), BATCH_WRITE_LIMIT):
            pending: dict[str, Any] = {self.table_name: requests[start : start + BATCH_WRITE_LIMIT]}
            for attempt in range(_RETRIES):
                response = self.client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise RuntimeError("BatchWriteItem left items unprocessed after retries")

    def transact(self, items: list[dict[str, Any]]) -> None:
        """TransactWriteItems; each entry is `{"Put"|"Update"|"Delete"|"ConditionCheck": {...}}` without the
        table name, which is added here. Retried when a concurrent transaction cancelled it (`CONFLICT_RETRIES`)."""
        request = [{op: {"TableName": self.table_name, **body} for op, body in entry.items()} for entry in items]
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                self.client.transact_write_items(TransactItems=request)
                return
            except self.client.exceptions.TransactionCanceledException as exc:
                if attempt == CONFLICT_RETRIES or not self.conflict_only(exc):
                    raise
                time.sleep(random.random() * min(0.02 * 2**attempt, 0.5))

    def conflict_only(self, exc: Exception) -> bool:
        """Cancelled by a concurrent transaction alone: no condition of its own failed."""
        codes = self.cancellation_codes(exc)
        return "TransactionConflict" in codes and "ConditionalCheckFailed" not in codes

    def cancellation_codes(self, exc: Exception) -> list[str | None]:
        reasons = getattr(exc, "response", {}).get("CancellationReasons", [])
        return [r.get("Code") if r.get("Code") != "None" else None for r in reasons]
