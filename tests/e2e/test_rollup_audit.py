"""`backinstock --local reports verify|rebuild` against `backinstock serve`: clean once the local stream poller has
aggregated a seeded history; a counter changed behind the aggregator's back is printed and exits 1; rebuild (while
the poller runs) makes verify clean again, and a second rebuild writes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import cli, eventually

pytestmark = pytest.mark.e2e


def test_verify_and_rebuild_through_the_cli(server: dict[str, Any], tmp_path: Any) -> None:
    import boto3

    from backinstock.config import DEFAULT_TABLE_NAME

    created = cli(server, "shops", "create", "--domain", "e2e-verify.myshopify.com", "--plan", "growth")
    assert created.returncode == 0, created.stderr
    shop_id = json.loads(created.stdout)["shop_id"]
    seeded = cli(server, "seed", "--shop-id", shop_id, "--signups", "4", "--days", "5", "--preorders", "1")
    assert seeded.returncode == 0, seeded.stderr

    def clean() -> bool:
        return cli(server, "reports", "verify", "--shop-id", shop_id, "--quiet").returncode == 0

    eventually(clean, "the stream poller to aggregate the seeded history", timeout=120, interval=1)

    # A counter moved behind the aggregator's back
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=server["aws_endpoint"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    table = server.get("environment", {}).get("TABLE_NAME", DEFAULT_TABLE_NAME)
    rows = dynamodb.query(
        TableName=table,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :all)",
        ExpressionAttributeValues={":pk": {"S": f"SHOP#{shop_id}#ROLLUP"}, ":all": {"S": "all#M#"}},
    )["Items"]
    bucket = rows[0]["SK"]["S"].removeprefix("all#")
    signups = int(rows[0]["signups"]["N"])
    dynamodb.update_item(
        TableName=table,
        Key={"PK": {"S": f"SHOP#{shop_id}#ROLLUP"}, "SK": {"S": f"all#{bucket}"}},
        UpdateExpression="ADD signups :n",
        ExpressionAttributeValues={":n": {"N": "5"}},
    )

    found = cli(server, "reports", "verify", "--shop-id", shop_id)
    assert found.returncode == 1, found.stderr
    lines = found.stdout.splitlines()
    assert lines[0] == "report\tdimension\tbucket\tcounter\tstored\texpected"
    assert lines[1] == f"back_in_stock\tall\t{bucket}\tsignups\t{signups + 5}\t{signups}"
    assert lines[-1].endswith("1 differences")
    assert "base records" in found.stderr  # progress

    state = tmp_path / "rebuild.json"
    fixed = cli(server, "reports", "rebuild", "--shop-id", shop_id, "--settle", "1", "--state", str(state))
    assert fixed.returncode == 0, fixed.stderr
    result = json.loads(fixed.stdout)
    assert result["clean"] and result["counters_written"] == 1 and not state.exists()
    assert cli(server, "reports", "verify", "--shop-id", shop_id, "--quiet").returncode == 0

    again = cli(server, "reports", "rebuild", "--shop-id", shop_id, "--settle", "1", "--state", str(state))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["counters_written"] == 0 and json.loads(again.stdout)["passes"] == 1

    bad = cli(server, "reports", "verify", "--shop-id", shop_id, "--from", "2026-13-01")
    assert bad.returncode == 2 and "not a date" in bad.stderr
