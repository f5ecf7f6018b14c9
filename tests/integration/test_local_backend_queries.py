"""The local backend's faster moto Query (`backend.speed_up_moto_queries`) answers what DynamoDB answers: one
partition in key order within its key condition, forwards and backwards, paged, and index queries unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from backinstock import aws
from backinstock_tools.local import backend

pytestmark = pytest.mark.integration


def keys(client: Any, **request: Any) -> list[str]:
    out, start = [], None
    while True:
        page = client.query(**request, **({"ExclusiveStartKey": start} if start else {}))
        out += [item.get("SK", {}).get("S", "") + "|" + item["PK"]["S"] for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            return out


def test_a_query_reads_its_partition_in_key_order_within_its_condition(aws: None) -> None:
    backend.speed_up_moto_queries()
    backend.speed_up_moto_queries()  # idempotent
    client, table = aws_client(), "backinstock"
    rows = [("A", f"k#{n:03d}", f"g{n % 2}") for n in range(30)] + [("B", f"k#{n:03d}", "g0") for n in range(5)]
    rows += [("A", "j#001", "g1"), ("A", "l#001", "g1"), ("A", "k#", "g0")]
    for pk, sk, gsi in reversed(rows):
        item = {"PK": {"S": pk}, "SK": {"S": sk}, "GSI1PK": {"S": gsi}, "GSI1SK": {"S": sk}, "n": {"N": "1"}}
        client.put_item(TableName=table, Item=item)
    a_keys = sorted(sk for pk, sk, _ in rows if pk == "A")

    def q(condition: str, values: dict[str, Any], **extra: Any) -> list[str]:
        return keys(
            client,
            TableName=table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues={":pk": {"S": "A"}, **values},
            **extra,
        )

    assert q("PK = :pk", {}) == [f"{k}|A" for k in a_keys]
    assert q("PK = :pk", {}, ScanIndexForward=False, Limit=7) == [f"{k}|A" for k in reversed(a_keys)]
    assert q("PK = :pk AND begins_with(SK, :p)", {":p": {"S": "k#0"}}, Limit=4) == [f"k#{n:03d}|A" for n in range(30)]
    between = q("PK = :pk AND SK BETWEEN :a AND :b", {":a": {"S": "k#005"}, ":b": {"S": "k#011"}})
    assert between == [f"k#{n:03d}|A" for n in range(5, 12)]
    assert q("PK = :pk AND SK > :a", {":a": {"S": "k#028"}}) == ["k#029|A", "l#001|A"]
    assert q("PK = :pk AND SK <= :a", {":a": {"S": "k#"}}) == ["j#001|A", "k#|A"]
    assert q("PK = :pk AND SK = :a", {":a": {"S": "k#007"}}) == ["k#007|A"]
    assert q("PK = :pk AND SK = :a", {":a": {"S": "nothing"}}) == []
    # An index query still sees every partition of the table.
    on_index = keys(
        client,
        TableName=table,
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :g AND begins_with(GSI1SK, :p)",
        ExpressionAttributeValues={":g": {"S": "g0"}, ":p": {"S": "k#00"}},
    )
    assert sorted(on_index) == sorted(f"{sk}|{pk}" for pk, sk, gsi in rows if gsi == "g0" and sk.startswith("k#00"))
    assert len({k.split("|")[1] for k in on_index}) == 2


def aws_client() -> Any:
    return aws.client("dynamodb")


def test_a_keys_only_index_answers_its_keys_and_the_tables_only(aws: None) -> None:
    from backinstock import infra_spec

    client, table = aws_client(), "backinstock"
    keys_only = [i for i in infra_spec.MAIN_TABLE.indexes if i.projection == "KEYS_ONLY"]
    assert [i.name for i in keys_only] == ["GSI3", "GSI4"]
    item = {
        "PK": {"S": "P#01"},
        "SK": {"S": "S#1"},
        "GSI3PK": {"S": "V"},
        "GSI3SK": {"S": "S#1"},
        "GSI4PK": {"S": "W"},
        "GSI4SK": {"S": "S#1"},
        "channel": {"S": "email"},
    }
    client.put_item(TableName=table, Item=item)
    for index, pk in (("GSI3", "V"), ("GSI4", "W")):
        found = client.query(
            TableName=table,
            IndexName=index,
            KeyConditionExpression=f"{index}PK = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
        )["Items"]
        assert found == [{k: item[k] for k in ("PK", "SK", f"{index}PK", f"{index}SK")}]
