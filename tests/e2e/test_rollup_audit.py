"""`backinstock --local reports verify|rebuild` against `backinstock serve`: clean once the local stream poller has
aggregated a seeded history; a counter changed behind the aggregator's back is printed and exits 1; rebuild (while
the poller runs) makes verify clean again, and a second rebuild writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import cli, eventually
from tests.local_server import aws_client

pytestmark = pytest.mark.e2e


def test_verify_and_rebuild_through_the_cli(server: dict[str, Any], tmp_path: Any) -> None:

    from backinstock.config import DEFAULT_TABLE_NAME
    from backinstock.repositories.rollups import rollup_pk

    created = cli(server, "shops", "create", "--domain", "e2e-verify.myshopify.com", "--plan", "growth")
    assert created.returncode == 0, created.stderr
    shop_id = json.loads(created.stdout)["shop_id"]
    listed = cli(server, "shops", "list")
    assert listed.returncode == 0 and shop_id in listed.stdout.split(), listed.stderr
    seeded = cli(server, "seed", "--shop-id", shop_id, "--signups", "4", "--days", "5", "--preorders", "1")
    assert seeded.returncode == 0, seeded.stderr

    def clean() -> bool:
        return cli(server, "reports", "verify", "--shop-id", shop_id, "--quiet").returncode == 0

    eventually(clean, "the stream poller to aggregate the seeded history", timeout=120, interval=1)

    # A counter moved behind the aggregator's back
    dynamodb = aws_client(server, "dynamodb")
    table = server.get("environment", {}).get("TABLE_NAME", DEFAULT_TABLE_NAME)
    rows = dynamodb.query(
        TableName=table,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :all)",
        ExpressionAttributeValues={":pk": {"S": rollup_pk(shop_id, "all")}, ":all": {"S": "all#M#"}},
    )["Items"]
    bucket = rows[0]["SK"]["S"].removeprefix("all#")
    signups = int(rows[0]["signups"]["N"])
    dynamodb.update_item(
        TableName=table,
        Key={"PK": {"S": rollup_pk(shop_id, "all")}, "SK": {"S": f"all#{bucket}"}},
        UpdateExpression="ADD signups :n",
        ExpressionAttributeValues={":n": {"N": "5"}},
    )

    found = cli(server, "reports", "verify", "--shop-id", shop_id)
    assert found.returncode == 1, found.stderr
    lines = found.stdout.splitlines()
    assert lines[0] == "report\tdimension\tbucket\tcounter\tstored\texpected"
    assert lines[1] == f"back_in_stock\tall\t{bucket}\tsignups\t{signups + 5}\t{signups}"
    assert lines[-1].endswith("1 differences")
    assert "base records" in found.stderr  # progress: a line a page, naming the source read (one page each here)
    assert [found.stderr.count(f"({prefix})") for prefix in ("SIGNUP#", "NOTIF#", "ATTR#", "PREORDER#")] == [1] * 4

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
    assert bad.returncode == 2 and "--from: must be an ISO 8601 date like 2026-06-01" in bad.stderr


def test_the_deploy_runbook_runs_as_written(server: dict[str, Any], tmp_path: Any) -> None:
    """docs/DEPLOY.md's `RollupFailuresAlarm` block, as written, against the local run: `aws` answers the stack's
    outputs (a stub on PATH), the CLI talks to the local backend through the standard AWS variables (no --local),
    a failure message names a shop, which is rebuilt, and the message is cleared."""
    import os
    import re
    import stat
    import subprocess

    import boto3

    from backinstock_tools.local import backend

    root = Path(__file__).resolve().parents[2]
    text = (root / "docs" / "DEPLOY.md").read_text()
    section = text[text.index("## When `RollupFailuresAlarm` fires") :]
    script = re.search(r"```bash\n(.*?)```", section, re.S)
    assert script is not None
    created = cli(server, "shops", "create", "--domain", "e2e-runbook.myshopify.com")
    shop_id = json.loads(created.stdout)["shop_id"]
    assert (
        cli(server, "seed", "--shop-id", shop_id, "--signups", "2", "--days", "3", "--preorders", "0").returncode == 0
    )

    def clean() -> bool:
        return cli(server, "reports", "verify", "--shop-id", shop_id, "--quiet").returncode == 0

    eventually(clean, "the stream poller to aggregate the seeded history", timeout=120, interval=1)

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(backend.local_environment(server["aws_endpoint"]))
    env.update(server.get("environment", {}))
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    sqs = session.client("sqs", endpoint_url=server["aws_endpoint"])
    streams = session.client("dynamodbstreams", endpoint_url=server["aws_endpoint"])
    queue_url = sqs.create_queue(QueueName="RollupFailures")["QueueUrl"]
    arn = session.client("dynamodb", endpoint_url=server["aws_endpoint"]).describe_table(TableName=env["TABLE_NAME"])[
        "Table"
    ]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    position: str | None = iterator["ShardIterator"]
    records: list[dict[str, Any]] = []
    while position:  # the session's server has every e2e test's records: read to the end of the shard
        page = streams.get_records(ShardIterator=position, Limit=1000)
        records += page["Records"]
        position = page.get("NextShardIterator") if page["Records"] else None
    ours = [r for r in records if r["dynamodb"]["Keys"]["PK"]["S"] == f"SHOP#{shop_id}"][-1]
    sequence = ours["dynamodb"]["SequenceNumber"]
    batch = {"shardId": shard, "startSequenceNumber": sequence, "endSequenceNumber": sequence, "streamArn": arn}
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"DDBStreamBatchInfo": batch}))

    # `aws cloudformation describe-stacks ... OutputKey=='<key>' ...`: the local run's values
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "aws"
    stub.write_text(
        '#!/bin/sh\ncase "$*" in\n'
        f"  *TableName*) echo {env['TABLE_NAME']} ;;\n"
        f"  *RollupFailuresQueueUrl*) echo {queue_url} ;;\n"
        "  *) exit 1 ;;\nesac\n"
    )
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    (tmp_path / ".venv").symlink_to(root / ".venv")
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    ran = subprocess.run(
        ["bash", "-e", "-c", script.group(1)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert ran.returncode == 0, ran.stderr
    failures = json.loads((tmp_path / "failures.json").read_text())
    assert failures["shops"] == [shop_id] and failures["messages_without_records"] == 0
    assert (tmp_path / "shops.txt").read_text().split() == [shop_id]
    assert '"cleared": 1' in ran.stdout
    assert (
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
        == "0"
    )
