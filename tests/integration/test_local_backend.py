"""The local run's moto: a cancelled transaction undoes exactly what it wrote, without copying whole tables."""

from __future__ import annotations

import os
from typing import Any

import pytest

from backinstock import aws as boto

pytestmark = pytest.mark.integration


def _stream_records(table: str) -> int:
    streams = boto.client("dynamodbstreams")
    arn = boto.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return len(streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"])


def test_a_cancelled_transaction_leaves_the_items_and_the_stream_as_they_were(aws: None) -> None:
    client = boto.client("dynamodb")
    table = os.environ["TABLE_NAME"]

    def key(sk: str) -> dict[str, Any]:
        return {"PK": {"S": "TEST#journal"}, "SK": {"S": sk}}

    client.put_item(TableName=table, Item={**key("kept"), "n": {"N": "1"}, "tags": {"SS": ["a"]}})
    client.put_item(TableName=table, Item={**key("deleted"), "n": {"N": "5"}})
    records = _stream_records(table)
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": key("kept"),
                        "UpdateExpression": "SET n = :two ADD tags :b",
                        "ExpressionAttributeValues": {":two": {"N": "2"}, ":b": {"SS": ["b"]}},
                    }
                },
                {"Put": {"TableName": table, "Item": {**key("new"), "n": {"N": "3"}}}},
                {"Delete": {"TableName": table, "Key": key("deleted")}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": key("missing"),
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
            ]
        )
    kept = client.get_item(TableName=table, Key=key("kept"))["Item"]
    assert (kept["n"], kept["tags"]) == ({"N": "1"}, {"SS": ["a"]})
    assert "Item" not in client.get_item(TableName=table, Key=key("new"))
    assert client.get_item(TableName=table, Key=key("deleted"))["Item"]["n"] == {"N": "5"}
    assert _stream_records(table) == records  # DynamoDB never emits a cancelled transaction's records

    # And a transaction that goes through writes all of it, with its stream records
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {**key("new"), "n": {"N": "3"}}}},
            {"Delete": {"TableName": table, "Key": key("deleted")}},
        ]
    )
    assert client.get_item(TableName=table, Key=key("new"))["Item"]["n"] == {"N": "3"}
    assert "Item" not in client.get_item(TableName=table, Key=key("deleted"))
    assert _stream_records(table) == records + 2
