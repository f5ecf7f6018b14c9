"""The aggregator applies a stream batch as a whole, exactly once (repositories/rollups/, "Exactly once, per
batch"): each counter item written once per batch, and the counts right whatever Lambda does to a batch (replay,
bisection, a crash between two transactions, a record that raises, shops interleaved or delivered out of order).
The oracle is `reports verify`, which recomputes every counter from the base records through `change_of`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backinstock import deps
from backinstock.services import rollup_audit
from backinstock.workers import rollups as aggregator
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.builders import signup

pytestmark = pytest.mark.integration


def records(stream: Any) -> list[dict[str, Any]]:
    """Every record of the table's stream the event source delivers (its filter), in stream order."""
    out: list[dict[str, Any]] = []
    for shard in stream.client.describe_stream(StreamArn=stream.stream_arn)["StreamDescription"]["Shards"]:
        iterator = stream.client.get_shard_iterator(
            StreamArn=stream.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            response = stream.client.get_records(ShardIterator=iterator, Limit=1000)
            if not response["Records"]:
                break
            out += response["Records"]
            iterator = response.get("NextShardIterator")
    return [r for r in out if stream.wanted(r)]


def run(batch: list[dict[str, Any]]) -> list[str]:
    """The aggregator on one batch; the sequence numbers it reports failed."""
    answer = aggregator.run_batch({"Records": batch}, None)
    return [f["itemIdentifier"] for f in answer["batchItemFailures"]]


def seq(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def source(record: dict[str, Any]) -> str:
    """The record's source partition (its item's partition key: a signup's `SHOP#<id>#SIGNUP#<nn>`)."""
    return str(record["dynamodb"]["Keys"]["PK"]["S"])


def clean(shop_id: str) -> bool:
    return rollup_audit.verify(deps.rollups(), shop_id).differences == []


def pending(shop_id: str, variant: int) -> int:
    return deps.rollups().total(shop_id, f"v:{variant}", "pending")


@pytest.fixture
def transactions() -> Iterator[list[int]]:
    """The size of each TransactWriteItems the rollups send (botocore's before-call event)."""
    sizes: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        if "#ROLLUP#MARKS" in str(params["TransactItems"][0]):  # the aggregator's (the mark comes first)
            sizes.append(len(params["TransactItems"]))

    events = deps.rollups().client.meta.events
    events.register("provide-client-params.dynamodb.TransactWriteItems", count, unique_id="count-rollups")
    yield sizes
    events.unregister("provide-client-params.dynamodb.TransactWriteItems", unique_id="count-rollups")


def test_a_batch_writes_each_counter_item_once_and_its_replay_counts_nothing(
    shop: Shop, catalog: dict[str, int], stream: Any, transactions: list[int]
) -> None:
    from backinstock.repositories.base import from_item
    from backinstock.services.rollups import change_of

    for i in range(10):
        signup(shop.key, 101, f"c{i}@example.com")
    batch = records(stream)
    assert len(batch) == 10
    slots: set[tuple[str, str]] = set()
    for r in batch:
        change = change_of(None, from_item(r["dynamodb"]["NewImage"]))
        assert change is not None
        slots |= set(change.plain)

    sources = {source(r) for r in batch}  # the signups' partitions (16 shards: up to 10 here)
    assert run(batch) == []
    # One transaction: each counter item once (the ten records' deltas summed, whatever partition each record came
    # from) and each source partition's mark.
    assert transactions == [len(slots) + len(sources)]
    assert len(slots) < 35  # one signup touches about 27 items (4 all-time demand ones): ten of them, not 10x
    assert pending(shop.id, 101) == 10 and clean(shop.id)

    assert run(batch) == []  # the same batch again (a retry after a timeout)
    assert transactions == [len(slots) + len(sources)]  # nothing written
    assert pending(shop.id, 101) == 10 and clean(shop.id)


def test_bisected_halves_and_retries_of_a_batch_count_each_record_once(
    shop: Shop, catalog: dict[str, int], stream: Any
) -> None:
    for i in range(8):
        signup(shop.key, 101 if i % 2 else 201, f"c{i}@example.com")
    batch = records(stream)
    first, second = batch[:4], batch[4:]
    # Lambda bisects a failed batch and retries each half; a half may run twice, the whole batch again after.
    assert run(first) == [] and run(first) == []
    assert pending(shop.id, 101) + pending(shop.id, 201) == 4
    assert run(batch) == [] and run(second) == [] and run(batch[2:6]) == []
    assert pending(shop.id, 101) == 4 and pending(shop.id, 201) == 4
    assert clean(shop.id)


def test_a_batch_straddling_two_shops_and_shops_out_of_order_count_each_once(
    shop: Shop, other_shop: Shop, catalog: dict[str, int], stream: Any
) -> None:
    for i in range(3):
        signup(shop.key, 101, f"a{i}@example.com")
        signup(other_shop.key, 7, f"b{i}@example.com", product=70)
    batch = records(stream)
    mine = [r for r in batch if source(r).startswith(f"SHOP#{shop.id}#")]  # its signup partitions
    theirs = [r for r in batch if r not in mine]
    assert len(mine) == len(theirs) == 3

    # The other shop's later records arrive first (another shard, another invocation), then the straddling batch
    assert run(theirs[1:]) == []
    assert run(batch) == []
    # its first record is below its partition's mark when it shares a signup partition with a later one (its own
    # shard delivers it first in AWS; here it is a replay); in a partition of its own it is simply applied now
    replayed = source(theirs[0]) in {source(r) for r in theirs[1:]}
    assert pending(shop.id, 101) == 3 and pending(other_shop.id, 7) == 3 - replayed
    assert run(batch) == []
    assert clean(shop.id)
    for s, its in ((shop, mine), (other_shop, theirs)):  # each source partition's mark on its last record
        for pk in {source(r) for r in its}:
            mark = deps.rollups().mark(s.id, pk)
            assert mark is not None and mark.seq == int(seq([r for r in its if source(r) == pk][-1]))


def test_a_crash_between_two_transactions_of_a_batch_resumes_from_the_first_record_not_applied(
    shop: Shop, stream: Any, transactions: list[int]
) -> None:
    # Signups of twelve different products: far more than 100 counter items, so several transactions
    for i in range(12):
        signup(shop.key, 500 + i, f"c{i}@example.com", product=900 + i)
    batch = records(stream)

    def crash_on_the_second(params: dict[str, Any], **_: Any) -> None:
        if len(transactions) == 2:
            raise ConnectionError("the function timed out")

    events = deps.rollups().client.meta.events
    events.register("provide-client-params.dynamodb.TransactWriteItems", crash_on_the_second, unique_id="crash")
    try:
        failed = run(batch)
    finally:
        events.unregister("provide-client-params.dynamodb.TransactWriteItems", unique_id="crash")

    assert len(failed) == 1
    at = [seq(r) for r in batch].index(failed[0])
    assert 0 < at < len(batch)  # the first transaction's records are in; the marks say so
    # The first transaction took records of several source partitions (the signups' shards), each's mark moved to
    # its last record in it: every record before the reported one is in, the reported one is not (records after it
    # may be: replays on the retry).
    marks = {pk: deps.rollups().mark(shop.id, pk) for pk in {source(r) for r in batch}}
    applied = [r for r in batch if (m := marks[source(r)]) is not None and int(seq(r)) <= m.seq]
    assert all(r in applied for r in batch[:at]) and batch[at] not in applied
    assert not clean(shop.id)
    assert sum(pending(shop.id, 500 + i) for i in range(12)) == len(applied)

    # Lambda retries from the reported record; a later full replay counts nothing
    assert run(batch[at:]) == []
    assert run(batch) == []
    assert clean(shop.id)
    assert all(size <= 100 for size in transactions) and len(transactions) >= 3


def test_a_record_that_raises_fails_the_batch_from_it_and_the_records_before_it_count(
    shop: Shop, catalog: dict[str, int], stream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        signup(shop.key, 101, f"c{i}@example.com")
    batch = records(stream)
    poisoned = seq(batch[3])
    read = aggregator.apply_record

    def failing(record: dict[str, Any]) -> str:
        if seq(record) == poisoned:
            raise RuntimeError("a malformed image")
        return read(record)

    monkeypatch.setattr(aggregator, "apply_record", failing)
    assert run(batch) == [poisoned]
    assert pending(shop.id, 101) == 3
    monkeypatch.setattr(aggregator, "apply_record", read)
    assert run(batch[3:]) == []  # Lambda's retry from the reported record
    assert pending(shop.id, 101) == 5 and clean(shop.id)


def test_two_attributions_of_one_order_in_one_batch_count_the_order_once(
    shop: Shop, catalog: dict[str, int], stream: Any
) -> None:
    from backinstock_tools.testkit.builders import attribution, put_attribution

    a = signup(shop, 101, "a@example.com")
    put_attribution(attribution(shop.id, a, "7001", "1", "40.00"))
    put_attribution(attribution(shop.id, a, "7001", "2", "10.00"))
    assert run(records(stream)) == []
    assert clean(shop.id)
    orders = deps.rollups().range(shop.id, "all", "M#", "M#~", ["orders", "revenue", "converted"])
    assert [(i["orders"], i["revenue"], i["converted"]) for i in orders] == [(1, 50, 1)]


def test_a_batch_of_100_records_of_one_shop_writes_at_most_100_items(
    shop: Shop, catalog: dict[str, int], stream: Any, transactions: list[int]
) -> None:
    """The issue's target (`rollups.item_writes_per_1000_records` <= 1,000 at batches of 100, bench/rollups.py):
    100 signups of one variant, copies of one made through the API (their stream records are real), in one batch:
    each copy under its own id's shard, so the batch's records come from up to 16 source partitions (one mark each)."""
    from backinstock import ids
    from backinstock.repositories.base import to_item
    from backinstock.repositories.signups import index_keys, signup_pk

    signup(shop.key, 101, "first@example.com")
    template = deps.signups().signup(shop.id, records(stream)[0]["dynamodb"]["NewImage"]["signup_id"]["S"])
    assert template is not None
    for n in range(99):
        signup_id = ids.uuid7()
        copy = {
            **template,
            "signup_id": signup_id,
            "contact": f"c{n}@example.com",
            "customer_email": f"c{n}@example.com",
        }
        copy.update(PK=signup_pk(shop.id, signup_id), SK=f"SIGNUP#{signup_id}", **index_keys(copy))  # its own shard
        deps.signups().client.put_item(TableName=deps.signups().table_name, Item=to_item(copy))
    batch = records(stream)
    assert len(batch) == 100
    updates: list[str] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        updates.append(params["Key"]["PK"]["S"])

    events = deps.rollups().client.meta.events
    events.register("provide-client-params.dynamodb.UpdateItem", count, unique_id="count-updates")
    try:
        assert run(batch) == []
    finally:
        events.unregister("provide-client-params.dynamodb.UpdateItem", unique_id="count-updates")
    assert len(transactions) == 1
    assert transactions[0] + len(updates) <= 100  # the counter items, the mark and the max-updates, once each
    assert pending(shop.id, 101) == 100 and clean(shop.id)


def test_a_transaction_retried_after_it_committed_is_not_a_failure(
    shop: Shop, catalog: dict[str, int], stream: Any
) -> None:
    """The client times out on a transaction that DynamoDB (here moto) committed and sends it again: the mark's
    condition fails, but the mark is the one this transaction wrote, so the batch goes on (counted once)."""
    for i in range(3):
        signup(shop.key, 101, f"c{i}@example.com")
    batch = records(stream)
    client = deps.rollups().client

    def send_twice(params: dict[str, Any], **_: Any) -> None:
        if "#ROLLUP#MARKS" in str(params["TransactItems"][0]) and not sent:
            sent.append(True)
            client.transact_write_items(**params)  # the first attempt, whose answer was lost

    sent: list[bool] = []
    client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", send_twice, unique_id="twice")
    try:
        assert run(batch) == []
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.TransactWriteItems", unique_id="twice")
    assert sent == [True]
    assert pending(shop.id, 101) == 3 and clean(shop.id)
