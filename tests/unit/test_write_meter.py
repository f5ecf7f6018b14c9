"""The write meter (`backinstock_tools.write_meter`) counts index entries by each index's projection
(`infra_spec.MAIN_TABLE.indexes`): the send path's figures (docs/PERFORMANCE.md, tests/integration/
test_send_path_keys.py) are only as right as these rules."""

from __future__ import annotations

from typing import Any

import pytest

from backinstock.infra_spec import MAIN_TABLE, Index
from backinstock_tools.write_meter import WriteMeter, entries_written

TABLE = "t"
ALL = Index("GSI1", "GSI1PK", "GSI1SK")
KEYS = Index("GSI3", "GSI3PK", "GSI3SK", projection="KEYS_ONLY")


def s(value: str) -> dict[str, str]:
    return {"S": value}


class Events:
    def __init__(self) -> None:
        self.handler: Any = None

    def register(self, event: str, handler: Any) -> None:
        assert event == "provide-client-params.dynamodb"
        self.handler = handler


class Client:
    """Just enough of a boto3 client: the metered one (events) and the lookup (stored items by (PK, SK))."""

    def __init__(self, stored: dict[tuple[str, str], dict[str, Any]] | None = None) -> None:
        self.meta = type("Meta", (), {"events": Events()})()
        self.stored = stored or {}
        self.reads = 0

    def get_item(self, TableName: str, Key: dict[str, Any], ConsistentRead: bool) -> dict[str, Any]:
        self.reads += 1
        item = self.stored.get((Key["PK"]["S"], Key["SK"]["S"]))
        return {"Item": item} if item else {}

    def call(self, operation: str, **params: Any) -> None:
        self.meta.events.handler(params=params, event_name=f"provide-client-params.dynamodb.{operation}")


SIGNUP = {
    "PK": s("SHOP#1#SIGNUP#03"),
    "SK": s("SIGNUP#a"),
    "GSI3PK": s("SHOP#1#VARIANT#101"),
    "GSI3SK": s("SIGNUP#a"),
    "GSI1PK": s("SHOP#1#X"),
    "GSI1SK": s("SIGNUP#a"),
}


def metered(stored: dict[str, Any] | None = None) -> tuple[WriteMeter, Client]:
    client = Client()
    lookup = Client({(stored["PK"]["S"], stored["SK"]["S"]): stored} if stored else {})
    return WriteMeter(client, TABLE, lookup, indexes=(ALL, KEYS)), client


def test_the_meter_reads_the_tables_indexes_and_their_projections_from_the_infra_spec() -> None:
    meter = WriteMeter(Client(), TABLE, Client())
    assert meter.indexes == MAIN_TABLE.indexes
    assert {i.name: i.projection for i in meter.indexes}["GSI3"] == "KEYS_ONLY"


def test_an_update_that_changes_no_index_key_writes_no_keys_only_entry_and_one_all_entry() -> None:
    meter, client = metered(SIGNUP)
    client.call(
        "UpdateItem",
        TableName=TABLE,
        Key={"PK": SIGNUP["PK"], "SK": SIGNUP["SK"]},
        UpdateExpression="SET last_send = :c, notified_at = if_not_exists(notified_at, :at) REMOVE send_outstanding",
        ExpressionAttributeValues={":c": {"M": {}}, ":at": s("2026-01-01T00:00:00.000Z")},
    )
    # the table 1, GSI1 (ALL) 1: its entry is a copy of the item; GSI3 (KEYS_ONLY) none
    assert dict(meter.units) == {"SHOP#1#SIGNUP#03": 1, "GSI1:SHOP#1#X": 1}
    assert meter.index_units("GSI3") == 0 and meter.write_units == 2


def test_a_key_change_is_a_delete_and_a_put_and_a_removed_key_one_delete() -> None:
    meter, client = metered(SIGNUP)
    client.call(
        "UpdateItem",
        TableName=TABLE,
        Key={"PK": SIGNUP["PK"], "SK": SIGNUP["SK"]},
        UpdateExpression="SET #v = :v REMOVE GSI1PK",
        ExpressionAttributeNames={"#v": "GSI3PK"},
        ExpressionAttributeValues={":v": s("SHOP#1#VARIANT#102")},
    )
    assert meter.units["GSI3:SHOP#1#VARIANT#101"] == 1 and meter.units["GSI3:SHOP#1#VARIANT#102"] == 1
    assert meter.units["GSI1:SHOP#1#X"] == 1  # the entry deleted
    assert meter.write_units == 1 + 2 + 1


def test_if_not_exists_on_a_present_key_keeps_it() -> None:
    meter, client = metered(SIGNUP)
    client.call(
        "UpdateItem",
        TableName=TABLE,
        Key={"PK": SIGNUP["PK"], "SK": SIGNUP["SK"]},
        UpdateExpression="SET GSI3PK = if_not_exists(GSI3PK, :v)",
        ExpressionAttributeValues={":v": s("SHOP#1#VARIANT#999")},
    )
    assert meter.index_units("GSI3") == 0


def test_a_new_item_writes_one_entry_per_index_it_is_in_whatever_the_projection() -> None:
    meter, client = metered()
    client.call(
        "TransactWriteItems",
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": SIGNUP, "ConditionExpression": "attribute_not_exists(PK)"}},
            {"ConditionCheck": {"TableName": TABLE, "Key": {"PK": s("SHOP#1"), "SK": s("X")}}},
            {"Put": {"TableName": "other", "Item": {"PK": s("elsewhere"), "SK": s("x")}}},
        ],
    )
    # a transaction's item 2 units (the check too); the new item's GSI1 and GSI3 entries 1 each; another table
    # not this meter's
    assert dict(meter.units) == {
        "SHOP#1#SIGNUP#03": 2,
        "SHOP#1": 2,
        "GSI1:SHOP#1#X": 1,
        "GSI3:SHOP#1#VARIANT#101": 1,
    }


def test_a_delete_writes_the_entries_the_item_had() -> None:
    meter, client = metered(SIGNUP)
    client.call("DeleteItem", TableName=TABLE, Key={"PK": SIGNUP["PK"], "SK": SIGNUP["SK"]})
    assert meter.write_units == 3 and meter.index_units("GSI3") == 1


@pytest.mark.parametrize(
    ("index", "old", "new", "expected"),
    [
        (KEYS, None, None, []),
        (KEYS, SIGNUP, SIGNUP, []),
        (ALL, SIGNUP, SIGNUP, [("SHOP#1#X", 1)]),
        (KEYS, None, SIGNUP, [("SHOP#1#VARIANT#101", 1)]),
        (KEYS, SIGNUP, {**SIGNUP, "GSI3SK": s("SIGNUP#b")}, [("SHOP#1#VARIANT#101", 1), ("SHOP#1#VARIANT#101", 1)]),
    ],
)
def test_entries_written(index: Index, old: Any, new: Any, expected: list[tuple[str, int]]) -> None:
    assert entries_written(index, old, new) == expected


def test_a_put_that_may_replace_an_item_reads_what_it_replaces() -> None:
    meter, client = metered(SIGNUP)
    client.call("PutItem", TableName=TABLE, Item=SIGNUP)  # the same keys, no condition: a replacement
    assert meter.index_units("GSI3") == 0 and meter.index_units("GSI1") == 1
    assert meter.lookup.reads == 1
