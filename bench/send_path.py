"""`bench/run.py sendpath`: what a send costs DynamoDB, where it writes, and a big restock modelled at a provider's
rate (issue 23, parts 2 and 6).

In process against moto, through the real code paths: a waitlist of `SIGNUPS` (300; `BENCH_SEND_PATH_SIGNUPS`)
pending signups of one variant (one through `create_signup`, the rest copies under their own ids' keys:
bench/rollups.clone_signups), one inventory webhook through intake and the webhook worker, the campaign's steps
(`services.campaigns.step`, batching off), every queued message through the send worker (`workers.send.handle_message`,
stub providers), then the stream through the aggregator. Every DynamoDB write is metered by
`backinstock_tools.write_meter` (write units by table and index key, index entries included, by each index's
projection in `infra_spec`).

Then modelled, per stage scaled by its own units (sends; campaign steps of 1,000 signups; aggregator records), for
N = 100,000 and 1,000,000 alerts at a provider rate R of 14/s (a new SES account) and 1,000/s:
- the provider: N / R (pacing keeps the sends at R: issue 23 part 1);
- the send workers' DynamoDB calls: calls x latency (bench/rollups.ASSUMPTIONS) / 100 concurrent workers;
- the busiest partition key (table or index) of the send path: its write units / 1,000 a second, whatever the
  concurrency. A sharded key category (`<prefix>#<nn>`) is modelled at scale as CRC-32 spreads that many ids
  (`busiest_shard_fraction`), not as the few hundred measured ids happened to fall;
- the campaign's steps, one at a time;
- the aggregator: a shop's records of a batch summed in one transaction with each source partition's mark
  (`workers/rollups._write`), its measured calls a batch; the event source's `parallelization_factor` lanes run at
  once, each partition key in one lane (modelled as a random assignment: the busiest lane's share of the sources at
  the 95th percentile, `busiest_lane_sources`), in full batches of 1,000 records; and the busiest rollup key's write
  units.
They overlap (the campaign queues while the first messages send; the aggregator follows the stream), so the
restock takes the slowest of them plus the start (the webhook worker and the first campaign step). The data layer
is not the bottleneck when that is within 5% of N / R.
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import re
import time
import uuid
from collections import Counter
from typing import Any

from backinstock import infra_spec
from backinstock.repositories import shards
from bench import cases, rollups

SIGNUPS = int(os.environ.get("BENCH_SEND_PATH_SIGNUPS", "300"))
SIZES = (100_000, 1_000_000)
RATES = (14, 1000)
CONCURRENCY = 100
LATENCY = rollups.ASSUMPTIONS["latency_ms_per_call"]
PARTITION_WCU = rollups.ASSUMPTIONS["partition_wcu_per_second"]
_SHARDED = re.compile(r"^(.*)#(\d\d)$")


def _stage(meter: Any, units: int, **extra: Any) -> dict[str, Any]:
    return {
        "calls": dict(sorted(meter.calls.items())),
        "write_units": meter.write_units,
        "units_by_key": {_name(k): v for k, v in meter.units.most_common(6)},
        "by_key": dict(meter.units),
        "units": units,
        **extra,
    }


def _index(key: str) -> str:
    index, pk = key.split(":", 1)
    return f"{index}:{rollups._shape(pk)}"


def _name(key: str) -> str:
    """A written key with the shop id replaced: `SHOP#<id>#SEND#07`, `GSI1:SHOP#<id>#VARIANT#1001`."""
    return _index(key) if ":" in key else rollups._shape(key)


def run() -> dict[str, Any]:
    cases.use_local_environment(log_level="WARNING")
    os.environ["CAMPAIGN_SECONDS_PER_HOUR"] = "0"

    from backinstock import deps
    from backinstock.services import campaigns
    from backinstock.workers import send, webhooks
    from backinstock_tools import write_meter

    started = time.perf_counter()
    with cases.local_aws():
        shop = cases.new_shop("send-path-bench.myshopify.com")
        shop_id = shop["shop_id"]
        cases.connect(shop_id)
        rollups.clone_signups(shop_id, SIGNUPS, cases.VARIANT)
        records = rollups.stream_records()
        with cases.moto_transactions(snapshots=False):
            rollups.aggregate(records, 1000)
        last_seq = records[-1]["dynamodb"]["SequenceNumber"]
        meter = write_meter.attach(deps.notifications().client)

        stages: dict[str, Any] = {}
        meter.reset()
        assert webhooks.handle_message(rollups._restock_message(shop_id)) == "restocked"
        stages["webhook_worker"] = _stage(meter, 1, units_at={n: 1 for n in SIZES})
        state = cases.stopped_campaign()
        meter.reset()
        state, steps = cases.step_to_the_end(state)
        stages["campaign_steps"] = _stage(
            meter, steps, units_at={n: math.ceil(n / campaigns.STEP_LIMIT) for n in SIZES}
        )
        messages = cases.drain_queue()
        sender = cases.stub_sender()
        from backinstock.services import sending

        stale_after = sending.STALE_AFTER_S
        sending.STALE_AFTER_S = float("inf")  # moto's pace would decide the re-reads: modelled below instead
        outcomes: Counter[str] = Counter()
        meter.reset()
        with cases.moto_transactions(snapshots=False) as tx:
            for body in messages:
                outcomes.update(send.handle_message(body, sender))
        sending.STALE_AFTER_S = stale_after
        assert tx["cancelled"] == 0 and outcomes == Counter({"sent": SIGNUPS}), (tx, outcomes)
        stages["send_worker"] = _stage(meter, SIGNUPS, messages=len(messages), units_at={n: n for n in SIZES})
        restock_records = rollups.stream_records(after=last_seq)
        meter.reset()
        with cases.moto_transactions(snapshots=False):
            batches = rollups.aggregate(restock_records, 1000)
        per_send = len(restock_records) / SIGNUPS
        sources = [r["dynamodb"]["Keys"]["PK"]["S"] for r in restock_records]
        stages["aggregator"] = _stage(
            meter,
            batches,
            units_at={n: math.ceil(n * per_send / 1000) for n in SIZES},
            records=len(restock_records),
            # `workers.rollups._write` applies one group per (shop, source partition) of a batch
            groups=sum(len(set(sources[i : i + 1000])) for i in range(0, len(sources), 1000)),
            sources=len(set(sources)),
        )
        page_calls = _send_log_page_calls(shop_id)
        from backinstock.services import rollup_audit

        verification = rollup_audit.verify(deps.rollups(), shop_id)  # the reports' counts after the restock
        assert verification.records > 0 and not verification.differences, [
            d.as_dict() for d in verification.differences
        ]

    sends = stages["send_worker"]
    # A message's read of its claims and signups is repeated once it is `STALE_AFTER_S` old: at a send's AWS time
    # (its calls and the provider's latency, one after another) that is one BatchGetItem every so many sends.
    send_s = _calls_seconds(sends) / SIGNUPS + LATENCY["email_or_sms_send"] / 1000
    rereads = send_s / stale_after
    out: dict[str, Any] = {
        "measured_signups": SIGNUPS,
        "send.calls_per_send": round(sum(sends["calls"].values()) / SIGNUPS + rereads, 3),
        "send.rereads_per_send": round(rereads, 3),
        "send.seconds_per_send_aws": round(send_s, 3),
        "send.wcu_per_send": round(sends["write_units"] / SIGNUPS, 3),
        "send.calls": {k: round(v / SIGNUPS, 3) for k, v in sends["calls"].items()},
        "send_log.calls_per_page": page_calls,
        "reports_verify": {"clean": True, "base_records": verification.records},
        "stages": {k: {x: y for x, y in v.items() if x != "by_key"} for k, v in stages.items()},
    }
    out.update(model(stages))
    out["bench_seconds"] = round(time.perf_counter() - started, 1)
    return out


def _send_log_page_calls(shop_id: str) -> dict[str, int]:
    """DynamoDB calls of one page of the send log (through the action's handler), after the restock."""
    from backinstock import aws, dispatch, registry
    from backinstock_tools.local.backend import RATE_LIMIT_TABLE_NAME

    action = registry.by_name("list_notifications")
    event = dispatch.proxy_event(action, "GET", registry.BASE_PATH + action.path, query={}, shop_id=shop_id)
    counted: Counter[str] = Counter()

    def count(params: dict[str, Any], event_name: str, **_: Any) -> None:
        if params.get("TableName") != RATE_LIMIT_TABLE_NAME:  # the limiter's take, not the page's
            counted[event_name.rsplit(".", 1)[-1]] += 1

    events = aws.client("dynamodb").meta.events
    events.register("provide-client-params.dynamodb", count)
    try:
        response = dispatch.invoke(action, event)
    finally:
        events.unregister("provide-client-params.dynamodb", count)
    assert response["statusCode"] == 200, response
    return dict(counted)


def _calls_seconds(stage: dict[str, Any]) -> float:
    return sum(LATENCY.get(op, LATENCY["other"]) * n for op, n in stage["calls"].items()) / 1000


def _category(key: str) -> tuple[str, bool]:
    """A written key's category: a sharded key (`...#<nn>`, one of `shards.partitions(prefix)`) is its prefix."""
    match = _SHARDED.match(key)
    return (match.group(1), True) if match and int(match.group(2)) < shards.SHARDS else (key, False)


@functools.cache
def busiest_shard_fraction(writes: int) -> float:
    """The busiest of the 16 shards' fraction when `writes` fresh UUIDv7 ids go through `shards.shard_of`: CRC-32
    spreads ids evenly only on average (300 ids: a shard can get 27, 1.44 x its 1/16; 100,000: about 1.02 x).
    Seeded ids (1 ms apart in tens, random bits from `random.Random(writes)`), so a run repeats its figure."""
    rng = random.Random(writes)
    counts: Counter[str] = Counter()
    base = 1_800_000_000_000
    for i in range(writes):
        value = ((base + i // 10) << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62)
        counts[shards.shard_of(str(uuid.UUID(int=value | rng.getrandbits(62))))] += 1
    return max(counts.values()) / writes


@functools.cache
def busiest_lane_sources(sources: int, lanes: int, percentile: float = 0.95) -> int:
    """Of `sources` partition keys, how many the busiest of `lanes` concurrent batches of one stream shard takes
    (Lambda's parallelization factor hashes each partition key to a lane; the hash is Lambda's, so modelled as a
    random assignment): the `percentile` of the maximum over 10,000 seeded draws."""
    rng = random.Random(sources * 100 + lanes)
    maxima = sorted(max(Counter(rng.randrange(lanes) for _ in range(sources)).values()) for _ in range(10_000))
    return maxima[int(percentile * len(maxima)) - 1]


def model(stages: dict[str, Any]) -> dict[str, Any]:
    """The restock of N alerts at a provider rate R: the slowest overlapping stage plus the start (module doc)."""
    calls_seconds = _calls_seconds

    out: dict[str, Any] = {"restock.model": {}}
    aggregator = stages["aggregator"]
    per_batch_s = calls_seconds(aggregator) / aggregator["units"]
    lanes = infra_spec.ROLLUP_CONSUMER.parallelization_factor
    lane_sources = busiest_lane_sources(aggregator["sources"], lanes)
    records_per_send = aggregator["records"] / stages["send_worker"]["units"]
    for n in SIZES:
        scale = {name: s["units_at"][n] / s["units"] for name, s in stages.items()}
        keys: Counter[str] = Counter()
        for name in ("campaign_steps", "send_worker"):  # the send path's writes
            for k, v in stages[name]["by_key"].items():
                keys[k] += v * scale[name]
        total = sum(keys.values())
        measured_busiest, measured_units = keys.most_common(1)[0]
        # At scale a sharded key category's busiest shard takes what CRC-32 gives the busiest of 16 for that many
        # ids (`busiest_shard_fraction`), not what the measured few hundred happened to give it.
        modelled: dict[str, float] = {}
        categories: Counter[str] = Counter()
        for k, v in keys.items():
            prefix, is_sharded = _category(k)
            if is_sharded:
                categories[prefix] += v
            else:
                modelled[k] = v
        for prefix, units in categories.items():
            modelled[f"{prefix}#<busiest>"] = units * busiest_shard_fraction(max(1, round(units)))
        busiest = max(modelled, key=lambda k: modelled[k])
        busiest_units = modelled[busiest]
        share = busiest_units / total
        sends = stages["send_worker"]
        # The aggregator (`workers/rollups._write`): a shop's records of a batch, from its 32 source partitions (16
        # signup, 16 log shards), summed in one transaction with their marks: `per_batch_s` of calls a batch of
        # 1,000 records. Lambda runs `lanes` batches of the stream shard at once, each partition key in one lane:
        # the busiest lane takes `lane_sources` of the sources' records (all as busy: one signup update and one log
        # row a send), in full batches of 1,000 records (each no dearer than the measured batch of all 32 sources).
        records = n * records_per_send
        lane_batches = math.ceil(records * lane_sources / aggregator["sources"] / 1000)
        one_lane_s = math.ceil(records / 1000) * per_batch_s
        batches_at_n = records / 1000 + lanes  # over all lanes, for the busiest rollup key's writes
        aggregator_keys = {k: v for k, v in aggregator["by_key"].items() if ":" not in k}
        bounds = {
            "send_calls_s": (calls_seconds(sends) * scale["send_worker"] + LATENCY["email_or_sms_send"] * n / 1000)
            / CONCURRENCY,
            "busiest_partition_s": busiest_units / PARTITION_WCU,
            "campaign_steps_s": calls_seconds(stages["campaign_steps"]) * scale["campaign_steps"],
            "aggregator_s": lane_batches * per_batch_s,
            "aggregator_partition_s": max(aggregator_keys.values())
            * batches_at_n
            / aggregator["units"]
            / PARTITION_WCU,
        }
        start = calls_seconds(stages["webhook_worker"]) + calls_seconds(stages["campaign_steps"]) / max(
            1, stages["campaign_steps"]["units"]
        )
        label = f"{n:,}"
        entry: dict[str, Any] = {
            "busiest_key": _name(busiest),
            "busiest_key_share": round(share, 4),
            "measured_busiest_key": _name(measured_busiest),
            "measured_busiest_key_share": round(measured_units / total, 4),
            "busiest_shard_fraction_x16": round(16 * busiest_shard_fraction(n), 3),
            "aggregator": {
                "lanes": lanes,
                "sources": aggregator["sources"],
                "busiest_lane_sources": lane_sources,
                "seconds_per_batch": round(per_batch_s, 4),
                "calls_per_batch": {k: round(v / aggregator["units"], 1) for k, v in aggregator["calls"].items()},
                "busiest_lane_batches": lane_batches,
                "one_lane_s": round(one_lane_s, 1),
            },
            "data_layer_bounds_s": {k: round(v, 1) for k, v in bounds.items()},
            "start_s": round(start, 2),
            "by_rate": {},
        }
        for rate in RATES:
            provider = n / rate
            seconds = start + max(provider, *bounds.values())
            entry["by_rate"][str(rate)] = {
                "modelled_seconds": round(seconds, 1),
                "n_over_r_seconds": round(provider, 1),
                "ratio": round(seconds / provider, 3),
                "bound_by": "provider" if provider >= max(bounds.values()) else max(bounds, key=lambda k: bounds[k]),
            }
        out["restock.model"][label] = entry
        suffix = str(n)
        out[f"restock.modelled_seconds_{suffix}"] = {
            f"{rate}/s": {
                "modelled": entry["by_rate"][str(rate)]["modelled_seconds"],
                "n_over_r": entry["by_rate"][str(rate)]["n_over_r_seconds"],
            }
            for rate in RATES
        }
        if n == 100_000:
            out["restock.busiest_key_share_100000"] = entry["busiest_key_share"]
            out["restock.busiest_key_100000"] = entry["busiest_key"]
    return out


def markdown(r: dict[str, Any]) -> str:
    stage_rows = [
        f"| {name} | "
        + ", ".join(f"{k} {v}" for k, v in s["calls"].items())
        + f" | {s['write_units']} | "
        + ", ".join(f"`{k}` {v}" for k, v in list(s["units_by_key"].items())[:3])
        + " |"
        for name, s in r["stages"].items()
    ]
    model_rows = []
    for label, entry in r["restock.model"].items():
        for rate, m in entry["by_rate"].items():
            bounds = entry["data_layer_bounds_s"]
            model_rows.append(
                f"| {label} | {rate}/s | **{m['modelled_seconds']:,}** | {m['n_over_r_seconds']:,} | {m['ratio']} | "
                f"{m['bound_by']} | {bounds['send_calls_s']:,} | {bounds['aggregator_s']:,} | "
                f"{bounds['busiest_partition_s']:,} |"
            )
    big = r["restock.model"]["100,000"]
    lanes = big["aggregator"]
    verified = f"clean over {r['reports_verify']['base_records']} base records"
    return "\n".join(
        [
            f"### The send path at {r['measured_signups']} signups (`bench/send_path.py`)\n",
            f"`send.calls_per_send` = **{r['send.calls_per_send']}** ({r['send.calls']}, and "
            f"{r['send.rereads_per_send']} BatchGetItem re-reads of a message's signups: one per second of sending, "
            f"{r['send.seconds_per_send_aws']} s a send in AWS), "
            f"`send.wcu_per_send` = **{r['send.wcu_per_send']}** (index entries included, by each index's "
            f"projection); `restock.busiest_key_share_100000` = **{r['restock.busiest_key_share_100000']}** "
            f"(`{r['restock.busiest_key_100000']}`: a sharded key's busiest shard at 100,000 ids, "
            f"{big['busiest_shard_fraction_x16']} x 1/16 of its category; at {r['measured_signups']} signups the "
            f"busiest was `{big['measured_busiest_key']}` with {big['measured_busiest_key_share']}); "
            f"a send-log page: {r['send_log.calls_per_page']}; `reports verify` after the restock: {verified}.\n",
            f"The aggregator: {lanes['sources']} source partitions, a batch of 1,000 records at "
            f"{lanes['seconds_per_batch']} s of calls ({lanes['calls_per_batch']}); {lanes['lanes']} lanes (the event "
            "source's parallelization "
            f"factor), the busiest taking {lanes['busiest_lane_sources']} sources (95th percentile of a random "
            f"assignment); one lane would take {lanes['one_lane_s']} s at 100,000.\n",
            "| stage | DynamoDB calls | write units | busiest keys (units) |",
            "|---|---|---:|---|",
            *stage_rows,
            "",
            "| alerts | provider rate | modelled s | N / R s | x N / R | bound by | send calls s | aggregator s "
            "| busiest key s |",
            "|---:|---:|---:|---:|---:|---|---:|---:|---:|",
            *model_rows,
        ]
    )


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
