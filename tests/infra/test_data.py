"""The tables are the ones `infra_spec` describes: the main table, protected like production data, and the
idempotency table, a day-long replay cache."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from backinstock import infra_spec
from tests.infra.template import SKIP_BUNDLING, Synth, load_synth

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
        assert indexes[index.name]["Projection"] == {"ProjectionType": index.projection}
    # the send path's signup indexes (issue 23): keys only, so a send's claim writes no index entry
    assert {name: (i["KeySchema"][0]["AttributeName"], i["Projection"]) for name, i in indexes.items()} == {
        "GSI1": ("GSI1PK", {"ProjectionType": "ALL"}),
        "GSI2": ("GSI2PK", {"ProjectionType": "ALL"}),
        "GSI3": ("GSI3PK", {"ProjectionType": "KEYS_ONLY"}),
        "GSI4": ("GSI4PK", {"ProjectionType": "KEYS_ONLY"}),
    }
    assert [k["AttributeName"] for k in indexes["GSI3"]["KeySchema"] + indexes["GSI4"]["KeySchema"]] == [
        "GSI3PK",
        "GSI3SK",
        "GSI4PK",
        "GSI4SK",
    ]
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


def _without_table_indexes(template: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(template)
    props = out["Resources"][infra_spec.MAIN_TABLE.logical_id]["Properties"]
    props.pop("GlobalSecondaryIndexes")
    props.pop("AttributeDefinitions")
    return out


def test_an_upgrades_first_deploy_adds_exactly_one_index(synth: Synth, tmp_path: Path) -> None:
    """A stack made before issue 23 has GSI1 and GSI2; CloudFormation creates one global secondary index per table
    update, so `cdk deploy -c upgrade_indexes=1` (docs/DEPLOY.md) synthesizes those and GSI3 only, and the next
    plain deploy (the default synth) adds GSI4. Nothing else differs between the two templates."""
    from stacks.application import build_app

    app, stack = build_app(
        outdir=str(tmp_path), validation=False, checks=False, context={**SKIP_BUNDLING, "upgrade_indexes": "1"}
    )
    app.synth()
    step_one = load_synth(tmp_path, stack.artifact_id)
    table = step_one.template["Resources"][infra_spec.MAIN_TABLE.logical_id]["Properties"]
    names = [i["IndexName"] for i in table["GlobalSecondaryIndexes"]]
    before = set(infra_spec.MAIN_TABLE_INDEXES_BEFORE_23)
    assert before == {"GSI1", "GSI2"} and len(set(names) - before) == 1 and set(names) >= before
    assert names == ["GSI1", "GSI2", "GSI3"]
    gsi3 = table["GlobalSecondaryIndexes"][2]
    assert gsi3["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert {a["AttributeName"] for a in table["AttributeDefinitions"]} == {
        "PK",
        "SK",
        "GSI1PK",
        "GSI1SK",
        "GSI2PK",
        "GSI2SK",
        "GSI3PK",
        "GSI3SK",
    }
    # the second deploy (the default synth) adds exactly the other one
    full = synth.template["Resources"][infra_spec.MAIN_TABLE.logical_id]["Properties"]
    assert {i["IndexName"] for i in full["GlobalSecondaryIndexes"]} - set(names) == {"GSI4"}
    # and nothing else changes between the steps: the same functions, grants (every index's ARN) and resources
    assert _without_table_indexes(step_one.template) == _without_table_indexes(synth.template)


@pytest.mark.parametrize("value", ["2", "yes", "GSI3"])
def test_an_unknown_upgrade_indexes_value_fails_the_synth(value: str) -> None:
    from stacks.application import upgrade_indexes

    with pytest.raises(ValueError, match="upgrade_indexes"):
        upgrade_indexes(value)
    assert upgrade_indexes(None) is False and upgrade_indexes("0") is False and upgrade_indexes("1") is True
