"""`bench/run.py rollups`: what the report rollups cost at scale, and a big restock modelled for AWS (issue 12).

In process against moto (`mock_aws`), through the real code paths:
Waitlists are seeded by copying one signup made through `create_signup` (BatchWriteItem: moto answers a call in
~40 ms on this loaded machine, so the seed through the API would be most of the run); their stream records are real.
1. Aggregator writes: `ROLLUP_RECORDS` signup records of one shop (two variants of one product) through
   `workers.rollups.run_batch` in batches of 1 (the first 100 records), 10, 100 and 1,000; the items written (every
   TransactWriteItems item, UpdateItem, PutItem) per 1,000 records, and the busiest partition key's write units.
2. A list page of a `WAITLIST`-signup variant (10,000; its counters kept by the aggregator): AWS calls.
3. The restock of that variant: the webhook worker, the campaign's steps (`services.campaigns.step`), the send worker
   with stub providers, then every stream record through the aggregator in batches of the event source's size.
   Per stage: AWS calls, items written, write units, the busiest partition key. Then modelled for AWS with
   `ASSUMPTIONS` (per-call latencies, partition limits, concurrency, on-demand prices), and extrapolated to 100,000
   signups linearly (every stage's calls and writes are per signup; the campaign and aggregator run the same
   batches ten times more often).

Counts are measured; seconds are modelled, never moto's (moto is slow where AWS is not: AWS-LOCAL-FACTS.md).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from typing import Any

from bench import cases

ROLLUP_RECORDS = int(os.environ.get("BENCH_ROLLUP_RECORDS", "1000"))
WAITLIST = int(os.environ.get("BENCH_ROLLUP_WAITLIST", "10000"))
# moto answers a call in ~40 ms on this loaded 2-core machine: a restock of 10,000 (about 110,000 calls with its
# seed) would take over an hour. 500 through every real path, extrapolated (the counts are per signup).
RESTOCK_SIGNUPS = int(os.environ.get("BENCH_ROLLUP_RESTOCK_SIGNUPS", "500"))
TARGET = 100_000
BATCH_SIZES = (1, 10, 100, 1000)

ASSUMPTIONS: dict[str, Any] = {
    "latency_ms_per_call": {
        "GetItem": 5,
        "Query": 10,
        "BatchGetItem": 10,
        "PutItem": 8,
        "UpdateItem": 8,
        "DeleteItem": 8,
        "BatchWriteItem": 20,
        "TransactWriteItems": 25,
        "GetRecords": 20,
        "SendMessage": 10,
        "SendMessageBatch": 15,
        "other": 10,
        "email_or_sms_send": 50,
    },
    "partition_wcu_per_second": 1000,
    "partition_rcu_per_second": 3000,
    "write_units_per_item": "1 per item written (items under 1 KB), 2 per TransactWriteItems item",
    "read_units_per_item": "1 per item read (items under 4 KB, strongly consistent), 2 per item in a transaction",
    "send_worker_concurrency": 100,
    "campaign_and_aggregator_concurrency": "1 (a campaign's steps are sequential; one shop's stream records share "
    "one partition key, so one batch at a time)",
    "usd_per_million_write_units": 0.625,
    "usd_per_million_read_units": 0.125,
    "usd_per_million_sqs_requests": 0.40,
    "usd_per_million_lambda_requests": 0.20,
    "usd_per_gb_second_lambda": 0.0000166667,
    "lambda_gb": 0.25,
    "prices": "AWS on-demand, us-east-1 (DynamoDB on-demand since November 2024); email/SMS delivery not included",
}
WRITES = ("PutItem", "UpdateItem", "DeleteItem")
READS = ("GetItem",)


class Writes:
    """DynamoDB item writes and reads by operation and partition key, from botocore's `provide-client-params` (the
    call's own parameters), plus AWS calls by operation."""

    def __init__(self) -> None:
        from backinstock import aws

        self.calls: Counter[str] = Counter()
        self.items: Counter[str] = Counter()  # item writes by operation
        self.wcu: Counter[str] = Counter()  # write units by partition key
        self.rcu = 0
        for service in ("dynamodb", "sqs", "dynamodbstreams"):
            aws.client(service).meta.events.register(f"provide-client-params.{service}", self._count)

    def reset(self) -> None:
        self.calls.clear()
        self.items.clear()
        self.wcu.clear()
        self.rcu = 0

    def _count(self, params: dict[str, Any], event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        self.calls[operation] += 1
        if operation in WRITES:
            pk = (params.get("Key") or params.get("Item") or {}).get("PK", {}).get("S", "?")
            self.items[operation] += 1
            self.wcu[pk] += 1
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                body = next(iter(entry.values()))
                pk = (body.get("Key") or body.get("Item") or {}).get("PK", {}).get("S", "?")
                self.items["TransactWriteItems"] += 1
                self.wcu[pk] += 2
        elif operation == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for request in requests:
                    body = request.get("PutRequest") or request.get("DeleteRequest") or {}
                    pk = (body.get("Item") or body.get("Key") or {}).get("PK", {}).get("S", "?")
                    self.items["BatchWriteItem"] += 1
                    self.wcu[pk] += 1
        elif operation in READS:
            self.rcu += 1
        elif operation == "BatchGetItem":
            self.rcu += sum(len(t["Keys"]) for t in params["RequestItems"].values())

    def snapshot(self) -> dict[str, Any]:
        busiest = self.wcu.most_common(1)
        return {
            "calls": dict(sorted(self.calls.items())),
            "items_written": sum(self.items.values()),
            "write_units": sum(self.wcu.values()),
            "read_units_point_reads": self.rcu,
            "partition_keys_written": len(self.wcu),
            "busiest_partition_key": _shape(busiest[0][0]) if busiest else None,
            "busiest_partition_write_units": busiest[0][1] if busiest else 0,
        }


def _shape(pk: str) -> str:
    """A partition key with the shop id replaced (`SHOP#<id>#ROLLUP#07`)."""
    parts = pk.split("#")
    return "#".join(["SHOP", "<id>", *parts[2:]]) if len(parts) > 1 and parts[0] == "SHOP" else pk


def stream_records(after: str | None = None) -> list[dict[str, Any]]:
    """Every stream record of the table after sequence number `after`, in order (the aggregator's entities)."""
    from backinstock import aws, deps, infra_spec

    streams = aws.client("dynamodbstreams")
    arn = deps.shops().client.describe_table(TableName=deps.shops().table_name)["Table"]["LatestStreamArn"]
    out: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        kind = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
            if after
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], **kind)["ShardIterator"]
        while iterator:
            response = streams.get_records(ShardIterator=iterator, Limit=1000)
            if not response["Records"]:
                break
            out += response["Records"]
            iterator = response.get("NextShardIterator")
    entities = set(infra_spec.ROLLUP_CONSUMER.entities)

    def wanted(r: dict[str, Any]) -> bool:
        image = r["dynamodb"].get("NewImage") or r["dynamodb"].get("OldImage") or {}
        return image.get("entity", {}).get("S") in entities

    return [r for r in out if wanted(r)]


def clone_signups(shop_id: str, count: int, variant_id: int) -> None:
    """`count` pending signups of a variant: one made through `create_signup` (the API's path), the others copies of
    its item with their own id and contact, written 25 a BatchWriteItem (the seed's cost is not what is measured)."""
    from backinstock import deps, ids
    from backinstock.repositories.base import to_item
    from backinstock.repositories.signups import index_keys, signup_key

    template = deps.signups().signup(shop_id, cases.new_signup(shop_id, variant_id))
    assert template is not None
    client, table = deps.signups().client, deps.signups().table_name
    items = []
    for n in range(count - 1):
        signup_id = ids.uuid7()
        contact = f"w{n}-{signup_id[-8:]}@example.com"
        clone = {
            **template,
            "signup_id": signup_id,
            "contact": contact,
            "customer_email": contact,
            "search_email": f"{contact} {contact}",
        }
        # The keys the repository gives it: its own signup partition (`SHOP#<id>#SIGNUP#<nn>`) and index entries
        items.append({**to_item({**clone, **index_keys(clone)}), **signup_key(shop_id, signup_id)})
    for start in range(0, len(items), 25):
        pending = {table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def aggregate(records: list[dict[str, Any]], batch_size: int) -> int:
    """The records through the aggregator in batches (each answered without failures). Returns the batches."""
    from backinstock.workers import rollups

    batches = 0
    for start in range(0, len(records), batch_size):
        answer = rollups.run_batch({"Records": records[start : start + batch_size]}, None)
        assert answer["batchItemFailures"] == [], answer
        batches += 1
    return batches


def run() -> dict[str, Any]:
    cases.use_local_environment(log_level="WARNING")
    os.environ["CAMPAIGN_SECONDS_PER_HOUR"] = "0"

    from backinstock import deps
    from backinstock.repositories.rollups import marks_pk
    from backinstock.repositories.signups import signup_partitions
    from backinstock.services import campaigns
    from backinstock.workers import send, webhooks

    started = time.perf_counter()
    with cases.local_aws():
        meter = Writes()

        # ---- 1. the aggregator's writes per 1,000 records, by batch size
        shop_id = cases.new_shop("rollup-bench.myshopify.com")["shop_id"]
        clone_signups(shop_id, ROLLUP_RECORDS // 2, cases.VARIANT)
        clone_signups(shop_id, ROLLUP_RECORDS - ROLLUP_RECORDS // 2, cases.OTHER_VARIANT)
        records = stream_records()
        assert len(records) == ROLLUP_RECORDS, len(records)
        per_batch: dict[str, Any] = {}
        for size in BATCH_SIZES:
            measured = records[:100] if size == 1 else records  # one record a batch: 100 make the figure
            for source in signup_partitions(shop_id):  # forget the marks: the same records count again (doubled)
                deps.rollups().client.delete_item(
                    TableName=deps.rollups().table_name, Key={"PK": {"S": marks_pk(shop_id)}, "SK": {"S": source}}
                )
            meter.reset()
            with cases.moto_transactions(snapshots=False):
                aggregate(measured, size)
            figures = meter.snapshot()
            scale = 1000 / len(measured)
            per_batch[str(size)] = {
                "item_writes_per_1000_records": round(figures["items_written"] * scale, 1),
                "write_units_per_1000_records": round(figures["write_units"] * scale, 1),
                "max_wcu_per_partition_key_per_1000_records": round(
                    figures["busiest_partition_write_units"] * scale, 1
                ),
                "partition_keys_written": figures["partition_keys_written"],
                "busiest_partition_key": figures["busiest_partition_key"],
                "calls_per_1000_records": {k: round(v * scale, 1) for k, v in figures["calls"].items()},
            }
        last_rollup_seq = records[-1]["dynamodb"]["SequenceNumber"]

        # ---- 2. a list page of a WAITLIST-signup variant, its counters kept by the aggregator
        list_shop = cases.new_shop("rollup-list.myshopify.com")
        clone_signups(list_shop["shop_id"], WAITLIST, cases.VARIANT)
        list_records = stream_records(after=last_rollup_seq)
        with cases.moto_transactions(snapshots=False):
            aggregate(list_records, 1000)
        list_calls = _list_page_calls(list_shop, meter)

        # ---- 3. a restock of a variant with RESTOCK_SIGNUPS waiting
        restock_shop = cases.new_shop("rollup-restock.myshopify.com")
        restock_id = restock_shop["shop_id"]
        cases.connect(restock_id)
        clone_signups(restock_id, RESTOCK_SIGNUPS, cases.VARIANT)
        signup_records = stream_records(after=list_records[-1]["dynamodb"]["SequenceNumber"])
        with cases.moto_transactions(snapshots=False):
            aggregate(signup_records, 1000)
        last_seq = signup_records[-1]["dynamodb"]["SequenceNumber"]

        stages: dict[str, Any] = {}
        meter.reset()
        message = _restock_message(restock_id)
        assert webhooks.handle_message(message) == "restocked"
        stages["webhook_worker"] = {**meter.snapshot(), "units": 1, "units_at_target": 1}
        state = cases.stopped_campaign()
        meter.reset()
        state, steps = cases.step_to_the_end(state)
        stages["campaign_steps"] = {
            **meter.snapshot(),
            "steps": steps,
            "units": steps,
            "units_at_target": math.ceil(TARGET / campaigns.STEP_LIMIT),
        }
        messages = cases.drain_queue()
        sender = cases.stub_sender()
        outcomes: Counter[str] = Counter()
        meter.reset()
        with cases.moto_transactions(snapshots=False) as tx:
            for body in messages:
                outcomes.update(send.handle_message(body, sender))
        assert tx["cancelled"] == 0 and outcomes == Counter({"sent": RESTOCK_SIGNUPS}), (tx, outcomes)
        stages["send_worker"] = {
            **meter.snapshot(),
            "messages": len(messages),
            "sends": RESTOCK_SIGNUPS,
            "units": RESTOCK_SIGNUPS,
            "units_at_target": TARGET,
        }
        restock_records = stream_records(after=last_seq)
        meter.reset()
        with cases.moto_transactions(snapshots=False):
            batches = aggregate(restock_records, 1000)
        stages["aggregator"] = {
            **meter.snapshot(),
            "stream_records": len(restock_records),
            "batches": batches,
            "units": batches,
            "units_at_target": math.ceil(len(restock_records) * TARGET / RESTOCK_SIGNUPS / 1000),
        }

    restock = model(stages, RESTOCK_SIGNUPS)
    return {
        "records": ROLLUP_RECORDS,
        "item_writes_per_1000_records": {k: v["item_writes_per_1000_records"] for k, v in per_batch.items()},
        "max_wcu_per_partition_key_per_1000_records": {
            k: v["max_wcu_per_partition_key_per_1000_records"] for k, v in per_batch.items()
        },
        "by_batch_size": per_batch,
        "lists": {"calls_per_page_10000_waitlist": sum(list_calls.values()), "calls": list_calls, "waitlist": WAITLIST},
        "restock": restock,
        "bench_seconds": round(time.perf_counter() - started, 1),
    }


def _list_page_calls(shop: dict[str, str], meter: Writes) -> dict[str, int]:
    """AWS calls of one page of the restock variant's waitlist, through the action's handler."""
    from backinstock import dispatch, registry

    action = registry.by_name("list_signups")
    event = dispatch.proxy_event(
        action,
        "GET",
        registry.BASE_PATH + action.path,
        query={"variant_id": str(cases.VARIANT)},
        shop_id=shop["shop_id"],
    )
    meter.reset()
    response = dispatch.invoke(action, event)
    body = json.loads(response["body"])
    assert response["statusCode"] == 200 and body["meta"]["total_count"] == WAITLIST, body["meta"]
    return dict(meter.calls)


def _restock_message(shop_id: str) -> dict[str, Any]:
    """The webhook worker's message of an inventory update that restocks the bench variant (through intake)."""
    from backinstock import deps, dispatch, registry

    action = registry.by_name("receive_shopify_webhook")
    payload = {
        "inventory_item_id": cases.INVENTORY_ITEM,
        "location_id": 1,
        "available": 500,
        "updated_at": "2026-02-01T00:00:00Z",
    }
    event = cases.event(action, cases.webhook_call(shop_id, "inventory_levels/update", payload), shop_id)
    response = dispatch.invoke(action, event)
    assert response["statusCode"] == 200, response
    queue = deps.webhook_queue()
    [message] = queue.client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10)["Messages"]
    queue.client.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
    return dict(json.loads(message["Body"]))


def model(stages: dict[str, Any], signups: int) -> dict[str, Any]:
    """Each stage's AWS seconds (calls x latency / concurrency, or its busiest partition's write units at 1,000 a
    second, whichever is longer) and dollars, at the measured size and at `TARGET`: scaled by the stage's units
    (sends; campaign steps of `STEP_LIMIT` signups; aggregator batches of 1,000 records) there over here."""
    a = ASSUMPTIONS
    latency = a["latency_ms_per_call"]
    out: dict[str, Any] = {"measured_signups": signups, "stages": {}}
    seconds = {"measured": 0.0, "target": 0.0}
    cost = {"measured": 0.0, "target": 0.0}
    for name, stage in stages.items():
        concurrency = a["send_worker_concurrency"] if name == "send_worker" else 1
        call_ms = sum(latency.get(op, latency["other"]) * n for op, n in stage["calls"].items())
        if name == "send_worker":
            call_ms += latency["email_or_sms_send"] * stage["sends"]
        stage_cost = (
            stage["write_units"] * a["usd_per_million_write_units"] / 1e6
            + stage["read_units_point_reads"] * a["usd_per_million_read_units"] / 1e6
            + sum(n for op, n in stage["calls"].items() if "Message" in op) * a["usd_per_million_sqs_requests"] / 1e6
        )
        lambda_s = call_ms / 1000
        stage_cost += lambda_s * a["lambda_gb"] * a["usd_per_gb_second_lambda"]
        stage_cost += stage.get("messages", stage.get("batches", stage.get("steps", 1))) * (
            a["usd_per_million_lambda_requests"] / 1e6
        )
        for scale, k in ((1.0, "measured"), (stage["units_at_target"] / stage["units"], "target")):
            calls_s = call_ms * scale / 1000 / concurrency
            partition_s = stage["busiest_partition_write_units"] * scale / a["partition_wcu_per_second"]
            s = max(calls_s, partition_s)
            seconds[k] += s
            cost[k] += stage_cost * scale
            out["stages"].setdefault(name, {"counts": stage})[f"{k}_seconds"] = round(s, 1)
            out["stages"][name][f"{k}_bound_by"] = "partition" if partition_s > calls_s else "calls"
    out["modelled_seconds_measured"] = round(seconds["measured"], 1)
    out["modelled_cost_usd_measured"] = round(cost["measured"], 4)
    out["modelled_seconds_100000"] = round(seconds["target"], 1)
    out["modelled_cost_usd_100000"] = round(cost["target"], 3)
    out["assumptions"] = a
    out["method"] = (
        f"measured at {signups:,} signups against moto (counts), stages summed (sequential: conservative, the "
        f"aggregator overlaps the sends in AWS), scaled to {TARGET:,} by each stage's units (sends, campaign steps, "
        "aggregator batches of 1,000 records)"
    )
    return out


def markdown(r: dict[str, Any]) -> str:
    rows = [
        f"| {size} | {v['item_writes_per_1000_records']} | {v['write_units_per_1000_records']} | "
        f"{v['max_wcu_per_partition_key_per_1000_records']} | {v['partition_keys_written']} |"
        for size, v in r["by_batch_size"].items()
    ]
    restock = r["restock"]
    stages = [
        f"| {name} | "
        + ", ".join(f"{k} {v}" for k, v in s["counts"]["calls"].items())
        + f" | {s['counts']['items_written']} | {s['counts']['write_units']} | "
        f"{s['counts']['busiest_partition_key']}: {s['counts']['busiest_partition_write_units']} | "
        f"{s['measured_seconds']} ({s['measured_bound_by']}) | {s['target_seconds']} ({s['target_bound_by']}) |"
        for name, s in restock["stages"].items()
    ]
    return "\n".join(
        [
            f"### Rollup writes by stream batch size ({r['records']:,} signup records of one shop)\n",
            "| batch | item writes / 1,000 records | write units / 1,000 | busiest partition key's WCU / 1,000 "
            "| partition keys |",
            "|---:|---:|---:|---:|---:|",
            *rows,
            f"\nA list page of a {r['lists']['waitlist']:,}-signup variant: "
            f"**{r['lists']['calls_per_page_10000_waitlist']} AWS calls** ({r['lists']['calls']}).\n",
            f"### A restock of {restock['measured_signups']:,} signups, modelled for AWS\n",
            "| stage | AWS calls | items written | write units | busiest partition key: WCU "
            f"| modelled s at {restock['measured_signups']:,} | modelled s at 100,000 |",
            "|---|---|---:|---:|---|---:|---:|",
            *stages,
            "",
            f"100,000 signups: **{restock['modelled_seconds_100000']} s** modelled, "
            f"**${restock['modelled_cost_usd_100000']}** (DynamoDB, SQS, Lambda; not the emails). {restock['method']}.",
        ]
    )


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
