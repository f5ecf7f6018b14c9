"""The tables are the ones `infra_spec` describes: the main table, protected like production data, and the
idempotency table, a day-long replay cache."""

from __future__ import annotations

import pytest

from backinstock import infra_spec
from tests.infra.template import Synth

pytestmark = pytest.mark.infra


def test_table_keys_indexes_ttl_stream_and_protection(synth: Synth) -> None:
    spec = infra_spec.MAIN_TABLE
    table = synth.template["Resources"][spec.logical_id]  # logical ID pinned: moving the construct never replaces it
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": spec.partition_key, "KeyType": "HASH"},
        {"AttributeName": spec.sort_key, "KeyType": "RANGE"},
    ]
    indexes = {i["IndexName"]: i for i in props["GlobalSecondaryIndexes"]}
    assert set(indexes) == {i.name for i in spec.indexes}
    for index in spec.indexes:
        assert indexes[index.name]["KeySchema"] == [
            {"AttributeName": index.partition_key, "KeyType": "HASH"},
            {"AttributeName": index.sort_key, "KeyType": "RANGE"},
        ]
        assert indexes[index.name]["Projection"] == {"ProjectionType": "ALL"}
    key_names = {spec.partition_key, spec.sort_key} | {k for i in spec.indexes for k in (i.partition_key, i.sort_key)}
    assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == dict.fromkeys(
        key_names, "S"
    )
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": infra_spec.TTL_ATTRIBUTE, "Enabled": True}
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["DeletionProtectionEnabled"] is True
    assert len(synth.resources("AWS::DynamoDB::Table")) == len(infra_spec.TABLES)


def test_idempotency_table_keys_ttl_and_lifecycle(synth: Synth) -> None:
    spec = infra_spec.IDEMPOTENCY_TABLE
    table = synth.template["Resources"][spec.logical_id]  # logical ID pinned, like the main table's
    assert table["Type"] == "AWS::DynamoDB::Table"
    props = table["Properties"]
    # Powertools' DynamoDB persistence layer: partition key `id`, no sort key, TTL on `expiration`.
    assert spec.partition_key == "id" and spec.sort_key is None and spec.ttl_attribute == "expiration"
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert "GlobalSecondaryIndexes" not in props
    assert "StreamSpecification" not in props
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    # Records replay a response for at most a day: the table goes with the stack (see stacks/constructs/data.py).
    assert table["DeletionPolicy"] == "Delete"
    assert props.get("DeletionProtectionEnabled", False) is False
