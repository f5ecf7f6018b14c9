"""The report actions' reads of the rollups: a dimension's buckets, its customer rows, a bucket's counters."""

from __future__ import annotations

from typing import Any

from backinstock.repositories.base import Repository, from_item
from backinstock.repositories.rollups.keys import _NOT_COUNTERS, rollup_key, rollup_pk


class RollupReads(Repository):
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
