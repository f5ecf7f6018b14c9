"""`reports verify` and `reports rebuild` (services/rollup_audit.py) for a shop of `AUDIT_SIGNUPS` (10,000) signups,
in process against moto: `.venv/bin/python bench/run.py audit` runs this part alone.

1. Seed: per variant (10 variants of 3 products) a pending signup through `services.signups.create_signup` and a
   notified one with its notification through the send worker's rules (`sending.process_send`, stub providers);
   then copies of these real items (new UUIDv7 ids, timestamps shifted over the last 30 days, contacts of their own:
   moto takes ~75 ms per `create_signup`, 12 minutes for 10,000) written with BatchWriteItem, about `AUDIT_SENDS`
   of them notified. The stream is not run: the shop's rollups are empty, the worst case a rebuild meets (every
   counter lost).
2. Rebuild from nothing (passes settle at once: nothing else writes), then verify (clean), then one counter moved and
   rebuilt (three passes), then rebuild again on a clean shop (one pass, nothing written).
Figures: DynamoDB calls by operation, base records and counter slots, the capacity each run would consume in
DynamoDB (read units from the items' sizes: strongly consistent Query, 4 KB a unit, per page; write units from the
rollup items' sizes, 1 KB a unit, per write), the CPU time of our own per-record work (deserialize, the aggregator's
rules, the sums), and the time modelled for AWS: that CPU time per pass plus `LATENCY_S` per call, one call after
another, plus `SETTLE_S` between passes. Wall time against moto is recorded too: moto's Query costs ~1.4 ms per
item and its writes slow down as the table grows, and this machine is shared, so it says little about AWS.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import cases

AUDIT_SIGNUPS = int(os.environ.get("BENCH_AUDIT_SIGNUPS", "10000"))
AUDIT_SENDS = int(os.environ.get("BENCH_AUDIT_SENDS", "1000"))
DAYS = 30
# Modelled AWS latency per call (one after another, as the CLI makes them): a strongly consistent Query of a 1 MB
# page, a conditional UpdateItem; and the default pause between a rebuild's passes (`--settle`).
LATENCY_S = {"Query": 0.08, "UpdateItem": 0.008, "BatchGetItem": 0.02, "PutItem": 0.008}
SETTLE_S = 60
VARIANTS = [(7000 + v, 700 + v % 3) for v in range(10)]  # (variant, product): 10 variants of 3 products


def item_bytes(value: Any, name: str = "") -> int:
    """An item's (or an attribute's) size as DynamoDB bills it: names plus values; a number about 1 byte per two
    digits plus 1; maps and lists 3 bytes plus 1 per element."""
    size = len(name.encode())
    if (
        not isinstance(value, dict)
        or len(value) != 1
        or next(iter(value)) not in ("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS")
    ):
        return size + sum(item_bytes(v, k) for k, v in value.items())
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return size + len(inner.encode())
    if kind == "N":
        return size + math.ceil(len(inner.lstrip("-").replace(".", "")) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return size + 1
    if kind == "M":
        return size + 3 + sum(item_bytes(v, k) + 1 for k, v in inner.items())
    if kind == "L":
        return size + 3 + sum(item_bytes(v) + 1 for v in inner)
    return size + sum(len(str(v)) for v in inner)


def _base_items(shop_id: str, ids_of: dict[str, str]) -> list[dict[str, Any]]:
    from backinstock import aws, config
    from backinstock.repositories.notifications import notification_key
    from backinstock.repositories.signups import signup_key

    client = aws.client("dynamodb")
    keys = {"signup": signup_key, "notification": notification_key}
    return [
        client.get_item(TableName=config.table_name(), Key=keys[kind](shop_id, record_id), ConsistentRead=True)["Item"]
        for record_id, kind in ids_of.items()
    ]


def _rekeyed(item: dict[str, Any], shop_id: str) -> dict[str, Any]:
    """A cloned signup or log row under its own id's keys: its shard partition (`SHOP#<id>#SIGNUP#<nn>`,
    `SHOP#<id>#NOTIF#<nn>`) and, for a log row, its sharded index keys (the clone's id picks other shards)."""
    from backinstock.repositories.base import from_item
    from backinstock.repositories.notifications import NOTIF, log_index_keys, notification_key
    from backinstock.repositories.signups import SIGNUP, signup_key

    sk = item["SK"]["S"]
    if sk.startswith(SIGNUP):
        return {**item, **signup_key(shop_id, sk[len(SIGNUP) :])}
    if sk.startswith(NOTIF):
        row = {**from_item(item), "shop_id": shop_id, "notification_id": sk[len(NOTIF) :]}
        index = {k: {"S": v} for k, v in log_index_keys(row).items()}
        return {**item, **index, **notification_key(shop_id, sk[len(NOTIF) :])}
    return item


_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _clone(items: list[dict[str, Any]], ids_of: dict[str, str], shift: timedelta, n: int) -> list[dict[str, Any]]:
    """Copies of real base items (as `create_signup` and the send worker wrote them) at another time: new UUIDv7
    ids of the shifted time, every timestamp shifted, a contact of their own."""
    from backinstock import ids

    text = json.dumps(items)
    for record_id in ids_of:
        text = text.replace(record_id, ids.uuid7(_uuid7_moment(record_id) + shift))
    text = _MOMENT.sub(lambda m: ids.iso(datetime.fromisoformat(m.group(0).replace("Z", "+00:00")) + shift), text)
    text = re.sub(r"t\d+(True|False)@example\.com", f"c{n}@example.com", text)
    return list(json.loads(text))


def _uuid7_moment(value: str) -> datetime:
    return datetime.fromtimestamp(int(value.replace("-", "")[:12], 16) / 1000, UTC)


def _partition(client: Any, table: str, pk: str, prefix: str | None = None) -> list[dict[str, Any]]:
    request: dict[str, Any] = {"TableName": table, "KeyConditionExpression": "PK = :pk"}
    values: dict[str, Any] = {":pk": {"S": pk}}
    if prefix:
        request["KeyConditionExpression"] += " AND begins_with(SK, :p)"
        values[":p"] = {"S": prefix}
    request["ExpressionAttributeValues"] = values
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("query").paginate(**request):
        items.extend(page["Items"])
    return items


def _read_units(sizes: list[int]) -> int:
    """Strongly consistent Query: a page's items summed, 4 KB a unit, pages of at most 1 MB."""
    units, page = 0, 0
    for size in sizes:
        if page + size > 2**20:
            units += math.ceil(page / 4096)
            page = 0
        page += size
    return units + math.ceil(page / 4096)


def run() -> dict[str, Any]:
    cases.use_local_environment(log_level="WARNING")

    from backinstock import aws, config, deps, ids
    from backinstock.models.signups import SignupCreate
    from backinstock.repositories.base import from_item
    from backinstock.services import rollup_audit, sending
    from backinstock.services.settings import settings_of
    from backinstock.services.signups import create_signup

    rng = random.Random(17)
    with cases.local_aws():
        shop = cases.new_shop("audit-bench.myshopify.com")
        shop_id = shop["shop_id"]
        for variant, product in VARIANTS:
            deps.catalog().put_variant(shop_id, variant, product, f"V{variant}", f"P{product}", f"p{product}")
        now = ids.now()
        started = time.perf_counter()
        templates = []  # per variant: a pending signup, and a notified one with its notification
        shop_row = deps.shops().require(shop_id)
        for variant, _ in VARIANTS:
            for sent in (False, True):
                body = SignupCreate(channel="email", shopify_variant_id=variant, email=f"t{variant}{sent}@example.com")
                signup = create_signup(deps.waitlist(), shop_id, body, now=now)
                ids_of = {signup.id: "signup"}
                if sent:
                    outcome = sending.process_send(
                        cases.stub_sender(), shop_row, settings_of(shop_row), {"send_id": "t", "signup_id": signup.id}
                    )
                    assert outcome.status == "sent", outcome
                    claim = deps.notifications().claim(shop_id, signup.id, "t")  # the claim names its notification
                    assert claim is not None
                    ids_of[str(claim["notification_id"])] = "notification"
                templates.append((variant, ids_of, _base_items(shop_id, ids_of)))
        clones: list[dict[str, Any]] = []
        for n in range(AUDIT_SIGNUPS - len(templates)):
            variant = rng.choice(VARIANTS)[0]
            sent = rng.random() < AUDIT_SENDS / AUDIT_SIGNUPS
            _, ids_of, items = next(t for t in templates if t[0] == variant and (len(t[1]) == 2) == sent)
            shift = timedelta(seconds=-rng.uniform(3 * 86400, DAYS * 86400))
            clones.extend(_rekeyed(item, shop_id) for item in _clone(items, ids_of, shift, n))
        deps.rollups().batch_write([{"PutRequest": {"Item": item}} for item in clones])
        signups = len(templates) + AUDIT_SIGNUPS - len(templates)
        sends = sum(1 for i in clones if i["SK"]["S"].startswith("NOTIF#")) + len(VARIANTS)
        seed_s = time.perf_counter() - started

        client, table = aws.client("dynamodb"), config.table_name()
        from backinstock.repositories.notifications import notification_partitions
        from backinstock.repositories.signups import signup_partitions

        # signups and log rows in their 16 partitions each (issue 23), attributions and ledger orders in the shop's
        sharded = {"SIGNUP#": signup_partitions(shop_id), "NOTIF#": notification_partitions(shop_id)}
        base_items = [
            i
            for prefix in rollup_audit.PREFIXES
            for pk in sharded.get(prefix, [f"SHOP#{shop_id}"])
            for i in _partition(client, table, pk, prefix)
        ]
        base_sizes = [item_bytes(i) for i in base_items]
        # Our own work per record (deserialize, the aggregator's rules, sums), CPU time: what AWS would not change.
        cpu = time.process_time()
        expected = rollup_audit.Expected(shop_id)
        for raw in base_items:
            expected.add(from_item(raw))
        expected.counters()
        compute_s = time.process_time() - cpu
        rollups = deps.rollups()
        meter = cases.Meter(services=("dynamodb",))

        def measured(run: Any) -> dict[str, Any]:
            meter.reset()
            t0 = time.perf_counter()
            result = run()
            return {
                "seconds": round(time.perf_counter() - t0, 2),
                "calls": dict(sorted(meter.of("dynamodb").items())),
                "result": result,
            }

        def rebuild() -> Any:
            return rollup_audit.rebuild(rollups, shop_id, ids.now(), settle=lambda: None).as_dict()

        from_nothing = measured(rebuild)
        assert from_nothing["result"]["clean"], from_nothing["result"]["remaining"][:3]
        from backinstock.repositories.rollups import SHARDS, shard_pk

        rollup_items = [i for n in range(SHARDS) for i in _partition(client, table, shard_pk(shop_id, n))]
        rollup_sizes = [item_bytes(i) for i in rollup_items]
        verify = measured(lambda: rollup_audit.verify(rollups, shop_id).as_dict())
        assert verify["result"]["differences"] == []
        month = next(i for i in rollup_items if i["SK"]["S"].startswith("all#M#"))
        client.update_item(
            TableName=table,
            Key={"PK": month["PK"], "SK": month["SK"]},
            UpdateExpression="ADD signups :n",
            ExpressionAttributeValues={":n": {"N": "3"}},
        )
        one_counter = measured(rebuild)
        assert one_counter["result"]["clean"] and one_counter["result"]["counters_written"] == 1
        again = measured(rebuild)
        assert again["result"]["passes"] == 1 and again["result"]["counters_written"] == 0

    records = len(base_sizes)
    scan_units = _read_units(base_sizes)
    stored_units = _read_units(rollup_sizes)
    write_units = sum(math.ceil(s / 1024) for s in rollup_sizes)

    def figures(m: dict[str, Any], passes: int, writes: int) -> dict[str, Any]:
        calls = m["calls"]
        modelled = passes * compute_s + sum(LATENCY_S.get(op, 0.01) * n for op, n in calls.items())
        return {
            "seconds_moto": m["seconds"],
            "modelled_aws_seconds": round(modelled, 1),
            "modelled_aws_seconds_with_settle": round(modelled + (passes - 1) * SETTLE_S, 1),
            "dynamodb_calls": calls,
            "dynamodb_calls_total": sum(calls.values()),
            "passes": passes,
            "read_units": passes * (scan_units + stored_units),
            "write_units": writes,
        }

    slots = verify["result"]["slots_compared"]
    return {
        "signups": signups,
        "sends": sends,
        "base_records": records,
        "base_record_bytes_mean": round(sum(base_sizes) / records),
        "rollup_items": len(rollup_sizes),
        "counter_slots": slots,
        "seed_seconds": round(seed_s, 1),
        "verify": figures(verify, 1, 0),
        "rebuild_from_nothing": {
            **figures(from_nothing, from_nothing["result"]["passes"], write_units),
            "counters_written": from_nothing["result"]["counters_written"],
        },
        "rebuild_one_counter": figures(one_counter, one_counter["result"]["passes"], 1),
        "rebuild_clean": figures(again, 1, 0),
        "compute_ms_per_1000_base_records": round(1000 * compute_s * 1000 / records, 1),
        "modelled_latency_s": LATENCY_S,
        "settle_s": SETTLE_S,
        "read_units_per_1000_base_records": round(1000 * (scan_units + stored_units) / records, 1),
        "queries_per_1000_base_records": round(1000 * verify["calls"].get("Query", 0) / records, 2),
    }


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"### Reports verify and rebuild ({r['signups']:,} signups, {r['sends']:,} sends: {r['base_records']:,} base "
        f"records of {r['base_record_bytes_mean']} bytes; {r['rollup_items']:,} rollup items)\n",
        "| run | passes | DynamoDB calls | read units | write units | modelled AWS s (+ settle) | seconds (moto) |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for label, key in (
        ("verify", "verify"),
        ("rebuild, every counter lost", "rebuild_from_nothing"),
        ("rebuild, one counter off", "rebuild_one_counter"),
        ("rebuild, nothing to do", "rebuild_clean"),
    ):
        f = r[key]
        calls = ", ".join(f"{op} {n}" for op, n in f["dynamodb_calls"].items())
        lines.append(
            f"| {label} | {f['passes']} | {calls} | {f['read_units']} | {f['write_units']} | "
            f"{f['modelled_aws_seconds']} ({f['modelled_aws_seconds_with_settle']}) | {f['seconds_moto']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
