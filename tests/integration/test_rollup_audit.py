"""`reports verify` and `reports rebuild` (services/rollup_audit.py) against rollups the real stream aggregator kept:
clean after real traffic, the differences a tampered counter or a lost stream record leave, the rebuild that fixes
them (twice: nothing more), resumes after a kill and stays right while the stream keeps delivering."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from backinstock import deps, ids
from backinstock.repositories.rollups import rollup_key
from backinstock.services import rollup_audit
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration


def history(shop_id: str, stream: Any, signups: int = 4, preorders: int = 1) -> None:
    """Signups, sends (some blocked), attributed orders and preorder orders with balances, cancellations and
    refunds, through the seed's real write paths; the stream drained."""
    from backinstock_tools.local.seed import seed

    seed(shop_id, signups=12, days=20, preorders=6)
    stream.drain()


def verify(shop_id: str) -> list[rollup_audit.Difference]:
    return rollup_audit.verify(deps.rollups(), shop_id).differences


def rebuild(shop_id: str, stream: Any, **kwargs: Any) -> rollup_audit.Rebuild:
    return rollup_audit.rebuild(deps.rollups(), shop_id, ids.now(), settle=stream.drain, **kwargs)


def tamper(shop_id: str, dimension: str, bucket: str, counter: str, delta: int) -> None:
    deps.rollups().client.update_item(
        TableName=deps.rollups().table_name,
        Key=rollup_key(shop_id, dimension, bucket),
        UpdateExpression="ADD #c :d",
        ExpressionAttributeNames={"#c": counter},
        ExpressionAttributeValues={":d": {"N": str(delta)}},
    )


def test_verify_is_clean_after_real_traffic(shop: Shop, stream: Any) -> None:
    history(shop.id, stream, signups=8, preorders=2)
    result = rollup_audit.verify(deps.rollups(), shop.id)
    assert result.records > 8 and result.slots > 100
    assert result.differences == []


def test_verify_counts_the_rows_a_key_migration_has_not_moved_yet(
    shop: Shop, catalog: dict[str, int], stream: Any
) -> None:
    """A table written before issue 23 keeps signups in the shop's own partition until `migrate keys` moves them:
    verify reads them there too, so a rebuild before the move does not take their counts away."""
    from backinstock.repositories.base import to_item
    from backinstock.repositories.signups import signup_key
    from backinstock_tools.testkit.builders import signup

    made = [signup(shop.key, 101, f"c{n}@example.com") for n in range(3)]
    repo = deps.signups()
    item = repo.signup(shop.id, made[0]["id"])
    assert item is not None
    # the first one as the layout before issue 23 kept it (`SHOP#<id> / SIGNUP#<uuid7>`, its GSI1/GSI2 entries)
    old = {k: v for k, v in item.items() if not k.startswith(("GSI3", "GSI4"))}
    old.update(
        PK=f"SHOP#{shop.id}",
        GSI1PK=f"SHOP#{shop.id}#VARIANT#101",
        GSI1SK=item["SK"],
        GSI2PK=f"SHOP#{shop.id}#PRODUCT#10",
        GSI2SK=item["SK"],
    )
    repo.client.delete_item(TableName=repo.table_name, Key=signup_key(shop.id, made[0]["id"]))
    repo.client.put_item(TableName=repo.table_name, Item=to_item(old))
    stream.drain()
    assert deps.rollups().total(shop.id, "v:101", "pending") == 3
    result = rollup_audit.verify(deps.rollups(), shop.id)
    assert result.differences == [] and result.records == 3
    assert rebuild(shop.id, stream).counters_written == 0
    assert deps.rollups().total(shop.id, "v:101", "pending") == 3


def slot_of(shop_id: str, dimension: str, prefix: str = "D#") -> tuple[str, str]:
    return next(s for s in sorted(deps.rollups().counter_map(shop_id)) if s[0] == dimension and s[1].startswith(prefix))


def test_verify_finds_tampered_counters_and_rebuild_fixes_them_once(shop: Shop, stream: Any) -> None:
    shop_id = shop.id
    history(shop_id, stream)
    rollups = deps.rollups()
    # Given: a back-in-stock counter and a preorder counter moved, a customer row lost, one that no order makes
    everything = slot_of(shop_id, "all")
    preorders = slot_of(shop_id, "po", "M#")
    row = slot_of(shop_id, "pcu", "M#")
    stored = rollups.counter_map(shop_id)
    tamper(shop_id, *everything, "signups", 3)
    tamper(shop_id, *preorders, "revenue", -5)
    rollups.client.delete_item(TableName=rollups.table_name, Key=rollup_key(shop_id, *row))
    tamper(shop_id, "pcu", "D#2026-01-05#cus_nobody", "orders", 0)
    stream.drain()

    # When: verify; Then: each difference, with its report, bucket, counter, stored and expected values
    found = {(d.dimension, d.bucket, d.counter): (d.report, d.stored, d.expected) for d in verify(shop_id)}
    signups = stored[everything]["signups"]
    revenue = stored[preorders]["revenue"]
    assert found[(*everything, "signups")] == ("back_in_stock", signups + 3, signups)
    assert found[(*preorders, "revenue")] == ("preorders", revenue - 5, revenue)
    assert found[("pcu", "D#2026-01-05#cus_nobody", rollup_audit.ROW)] == ("preorder_customers", 1, 0)
    lost = {(row[0], row[1], name): ("preorder_customers", 0, value) for name, value in stored[row].items() if value}
    assert {k: v for k, v in found.items() if k[:2] == row} == lost
    assert len(found) == 3 + len(lost)

    # When: rebuild; Then: verify is clean, and the stream (which sees the customer row made again) adds nothing
    result = rebuild(shop_id, stream)
    assert result.clean and result.passes == 3
    assert result.counters_written == 2 + len(lost) and result.rows_removed == 1
    stream.drain()
    assert verify(shop_id) == []
    assert rollups.counter_map(shop_id) == stored

    # When: rebuild again; Then: one pass, nothing written
    again = rebuild(shop_id, stream)
    assert (again.clean, again.passes, again.counters_written, again.rows_removed, again.once_claimed) == (
        True,
        1,
        0,
        0,
        0,
    )
    assert rollups.counter_map(shop_id) == stored


def test_verify_finds_a_lost_stream_record_and_rebuild_restores_it(
    shop: Shop, catalog: dict[str, int], stream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backinstock.workers import rollups as aggregator
    from backinstock_tools.testkit.builders import attribution, put_attribution, signup

    shop_id, key = shop.id, shop.key
    a = signup(key, catalog["small"], "a@example.com")
    signup(key, catalog["mug"], "b@example.com")
    stream.drain()
    assert verify(shop_id) == []

    # Given: the aggregator gives up on an attribution's record (in AWS: RollupFailures and its alarm)
    applied = aggregator.apply_record

    def failing(record: dict[str, Any]) -> str:
        if record["dynamodb"].get("NewImage", {}).get("entity", {}).get("S") == "attribution":
            raise RuntimeError("throttled")
        return applied(record)

    monkeypatch.setattr(aggregator, "apply_record", failing)
    put_attribution(attribution(shop_id, a, "7001", "1", "40.00"))
    stream.drain()
    monkeypatch.setattr(aggregator, "apply_record", applied)

    # Then: verify names the counters the lost record should have moved
    found = verify(shop_id)
    assert {(d.counter, d.stored, d.expected) for d in found} == {
        ("orders", 0, 1),
        ("revenue", 0, Decimal("40.00")),
        ("converted", 0, 1),
    }
    assert {d.dimension for d in found} == {"all", "ch:email", "v:101", "v:101:ch:email", "p:10", "p:10:ch:email"}

    # When: rebuild; Then: clean, and the order and the conversion are claimed (a replay counts them no more)
    result = rebuild(shop_id, stream)
    assert result.clean and result.once_claimed == 2 and result.counters_written == len(found)
    assert verify(shop_id) == []
    assert deps.rollups().missing_once(shop_id, ["ORDER#7001", f"CONVERTED#{a['id']}"]) == []


class Killed(Exception):
    pass


def test_rebuild_resumes_after_being_killed_midway(
    shop: Shop, catalog: dict[str, int], stream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from backinstock_tools.testkit.builders import signup

    shop_id, key = shop.id, shop.key
    for n in range(5):
        signup(key, catalog["small"] if n % 2 else catalog["mug"], f"c{n}@example.com")
    stream.drain()
    tamper(shop_id, *slot_of(shop_id, "v:101"), "pending", 4)
    rollups = deps.rollups()
    pages = 0
    source_page = rollups.source_page

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal pages
        pages += 1
        return source_page(*args, **kwargs)

    monkeypatch.setattr(rollups, "source_page", counted)
    rollup_audit.scan(rollups, shop_id, page_size=2)
    per_pass, pages = pages, 0

    # Given: a rebuild killed after its third page; its state as the CLI's file keeps it
    saved: list[str] = []

    def save(state: dict[str, Any]) -> None:
        if len(saved) == 3:
            raise Killed
        saved.append(json.dumps(state))

    with pytest.raises(Killed):
        rebuild(shop_id, stream, save=save, page_size=2)
    assert pages == 4
    state = json.loads(saved[-1])
    assert state["scan"]["source"] == 1 and state["scan"]["expected"]["records"] == 5  # the signups' 3 pages

    # When: started again from that state; Then: it goes on from the fourth page, and ends clean
    pages = 0
    result = rebuild(shop_id, stream, state=state, save=lambda _: None, page_size=2)
    assert result.clean and result.passes == 3 and result.counters_written == 1
    assert pages == (per_pass - 3) + 2 * per_pass
    assert verify(shop_id) == []


def test_rebuild_is_right_while_signups_and_sends_continue(
    shop: Shop, catalog: dict[str, int], stream: Any, worker: Any
) -> None:
    from backinstock_tools.testkit.builders import signup

    shop_id, key = shop.id, shop.key
    first = signup(key, catalog["small"], "a@example.com")
    stream.drain()
    tamper(shop_id, *slot_of(shop_id, "all"), "signups", 2)
    settles = 0

    def settle() -> None:
        # Traffic between passes whose stream records are still in flight at the next pass, then the stream
        # catches up (its lag is below the settle interval).
        nonlocal settles
        settles += 1
        if settles == 1:
            signup(key, catalog["small"], "b@example.com")
            call("POST", "/back_in_stock/signups/bulk_notify", key, {"signup_ids": [first["id"]]})
            worker.drain()
        else:
            stream.drain()

    result = rollup_audit.rebuild(deps.rollups(), shop_id, ids.now(), settle=settle)
    assert result.clean and result.counters_written == 1
    stream.drain()
    assert verify(shop_id) == []
    _, summary = call("GET", "/back_in_stock/reports/summary", key)
    assert (summary["totals"]["signups"], summary["totals"]["notified"]) == (2, 1)


def test_failures_name_the_shops_of_the_records_given_up_on_and_clear_only_rebuilt_ones(
    shop: Shop, other_shop: Shop, catalog: dict[str, int]
) -> None:
    import json
    import os

    from backinstock import aws
    from backinstock_tools import rollup_failures
    from backinstock_tools.testkit.builders import signup

    signup(shop.key, catalog["small"], "a@example.com")
    streams, sqs = aws.client("dynamodbstreams"), aws.client("sqs")
    arn = aws.client("dynamodb").describe_table(TableName=os.environ["TABLE_NAME"])["Table"]["LatestStreamArn"]
    [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    shop_of = [r["dynamodb"]["Keys"]["PK"]["S"].split("#")[1] for r in records]
    last_other = max(i for i, s in enumerate(shop_of) if s == other_shop.id)
    ours = records[last_other + 1 :]  # the signup's records (the other shop's creation came before)
    assert ours and {shop_of[i] for i in range(last_other + 1, len(records))} == {shop.id}
    # Given: Lambda's description of a batch of our shop's records, and of one the stream no longer holds
    queue_url = sqs.create_queue(QueueName="RollupFailures")["QueueUrl"]

    def failed(first: str, last: str, shard_id: str) -> None:
        batch = {
            "shardId": shard_id,
            "startSequenceNumber": first,
            "endSequenceNumber": last,
            "approximateArrivalOfFirstRecord": "2026-12-01T00:00:00Z",
            "approximateArrivalOfLastRecord": "2026-12-01T00:00:01Z",
            "batchSize": 2,
            "streamArn": arn,
        }
        body = {"requestContext": {"condition": "RetryAttemptsExhausted"}, "DDBStreamBatchInfo": batch}
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body))

    failed(ours[0]["dynamodb"]["SequenceNumber"], ours[-1]["dynamodb"]["SequenceNumber"], shard["ShardId"])
    failed("1" * 21, "2" * 21, "shardId-00000000000000000000-gone")  # the shard `Trimmed` (below) reports trimmed

    gone = "shardId-00000000000000000000-gone"

    class Trimmed:
        """The stream as AWS answers for records older than 24 hours (moto keeps every record)."""

        exceptions = streams.exceptions

        def get_shard_iterator(self, **request: Any) -> Any:
            if request["ShardId"] == gone:
                error = {"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"}}
                raise streams.exceptions.TrimmedDataAccessException(error, "GetShardIterator")
            return streams.get_shard_iterator(**request)

        def get_records(self, **request: Any) -> Any:
            return streams.get_records(**request)

    # When: read; Then: the first names our shop (not the other, whose shop row is in the same stream); the
    # second cannot tell
    messages = rollup_failures.read(sqs, Trimmed(), queue_url)
    assert sorted(str(m["shops"]) for m in messages) == sorted([str([shop.id]), "None"])

    # When: cleared with our shop rebuilt; Then: only its message goes
    assert rollup_failures.clear(sqs, queue_url, messages, {shop.id}, all_rebuilt=False) == 1
    [left] = rollup_failures.read(sqs, Trimmed(), queue_url)
    assert left["shops"] is None


def test_a_rebuild_that_gave_up_goes_on_from_its_state(shop: Shop, catalog: dict[str, int], stream: Any) -> None:
    from backinstock_tools.testkit.builders import signup

    shop_id = shop.id
    signup(shop.key, catalog["mug"], "a@example.com")
    stream.drain()
    tamper(shop_id, *slot_of(shop_id, "p:20", "W#"), "signups", -1)
    state: dict[str, Any] = {}
    # Given: a rebuild allowed one pass: it finds the difference, cannot confirm it yet, and says so
    first = rebuild(shop_id, stream, state=state, max_passes=1)
    assert not first.clean and [(d.dimension, d.counter, d.stored, d.expected) for d in first.remaining] == [
        ("p:20", "signups", 0, 1)
    ]
    # When: run again with its state; Then: the difference is confirmed, corrected, and the check is clean
    second = rebuild(shop_id, stream, state=state)
    assert second.clean and second.passes == 3 and second.counters_written == 1
    assert verify(shop_id) == []
