"""What one send costs DynamoDB, and where it writes (issue 23, part 2): calls and write units per send (index entries
included), the keys a message of sends writes, no item written by every send, the monthly quota reserved a
message at a time and exact, and what spreading the writes costs a page of the send log (16 Queries and a
BatchGetItem). Counts, never time."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from backinstock import deps
from backinstock.repositories.notifications import SEND_SHARDS, send_pk
from backinstock.repositories.shards import SHARDS, shard_of
from backinstock.services import sending
from backinstock_tools import write_meter
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import call, count_calls

pytestmark = pytest.mark.integration
SIGNUPS = "/back_in_stock/signups"
SENDS = 100
MESSAGES = 2  # a queue message carries up to 50 sends


def waitlist(key: str, count: int, variant: int = 101) -> list[str]:
    return [
        call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": variant, "email": f"k{i}@example.com"})[
            1
        ]["id"]
        for i in range(count)
    ]


def bulk_notify(key: str, ids: list[str]) -> None:
    status, body = call("POST", f"{SIGNUPS}/bulk_notify", key, {"signup_ids": ids})
    assert status == 200 and body["failed"] == [], body


@pytest.fixture
def meter(aws: None) -> write_meter.WriteMeter:
    return write_meter.attach(deps.notifications().client)


def test_a_send_costs_at_most_three_calls_and_five_write_units_and_spreads_its_writes_over_sixteen_keys(
    shop: Shop,
    catalog: dict[str, int],
    worker: Any,
    outbox: Any,
    meter: write_meter.WriteMeter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # moto takes ~30 ms a send: the message's read would be repeated each second (`STALE_AFTER_S`), a count that
    # would depend on the machine; in AWS a send takes ~85 ms, so a read every ~12 sends (docs/PERFORMANCE.md).
    monkeypatch.setattr(sending, "STALE_AFTER_S", float("inf"))
    key, shop_id = shop.key, shop.id
    ids = waitlist(key, SENDS)
    bulk_notify(key, ids)
    messages = worker.pending()
    assert len(messages) == MESSAGES
    meter.reset()
    worker.run(messages)
    assert len(outbox.emails()) == SENDS

    calls = sum(meter.calls.values()) / SENDS
    units = meter.write_units / SENDS
    # A message: the shop's read (GetItem), one BatchGetItem of its claims and signups, its quota lease (one
    # transaction); per send its claim on the signup (UpdateItem) and its log row (PutItem): no transaction a send.
    assert meter.calls == Counter(
        {
            "GetItem": MESSAGES,
            "BatchGetItem": MESSAGES,
            "TransactWriteItems": MESSAGES,
            "UpdateItem": SENDS,
            "PutItem": SENDS,
        }
    ), meter.calls
    assert calls <= 3, calls
    # Per send: the signup's claim 1 (its GSI3/GSI4 entries are keys only and the claim changes no key: none);
    # the log row 1 + its GSI1 and GSI2 entries (they project every attribute) 2. A message's lease: a transaction
    # of two items (the lease, the month's usage), 4.
    assert meter.index_units("GSI3") == meter.index_units("GSI4") == 0
    assert meter.write_units == 4 * SENDS + 4 * MESSAGES, dict(meter.units)
    assert units <= 5, units

    # Where: each per-send write in the shard of its own id (`shards.shard_of`), the signup's claim by signup id,
    # the log row and both its index entries by the row's id; nothing under `SHOP#<id>` per send (the month's
    # usage, once a message); the leases in the claim partitions.
    rows = [sk[len("NOTIF#") :] for _, sk in meter.items if sk.startswith("NOTIF#")]
    assert len(rows) == SENDS
    by_row = Counter(shard_of(r) for r in rows)
    expected = Counter({f"SHOP#{shop_id}#SIGNUP#{n}": c for n, c in Counter(shard_of(i) for i in ids).items()})
    for prefix in (
        f"SHOP#{shop_id}#NOTIF",
        f"GSI1:SHOP#{shop_id}#VARIANT#101#NOTIF",
        f"GSI2:SHOP#{shop_id}#PRODUCT#10#NOTIF",
    ):
        expected.update({f"{prefix}#{n}": c for n, c in by_row.items()})
    expected[f"SHOP#{shop_id}"] = 2 * MESSAGES
    leases = {k: v for k, v in meter.units.items() if k.startswith(f"SHOP#{shop_id}#SEND#")}
    assert sum(leases.values()) == 2 * MESSAGES
    assert {k: v for k, v in meter.units.items() if k not in leases} == dict(expected), dict(meter.units)

    # No item is written by every send: the usage item once a message, every other item once.
    usage = (f"SHOP#{shop_id}", f"USAGE#{sending.ids.now().strftime('%Y-%m')}")
    assert meter.items[usage] == MESSAGES
    assert max(n for item, n in meter.items.items() if item != usage) == 1
    # No key takes more than 1/16 of the writes: 4 categories of 16 keys take ~1 unit a send each (~0.25/16 of
    # the writes on a key, ~1.5% at 100,000 sends: docs/ARCHITECTURE.md); 100 sends already keep under 1/16.
    name, busiest = meter.busiest()
    assert busiest / meter.write_units <= 1 / 16, (name, busiest)


def test_the_quota_is_reserved_a_message_at_a_time_and_unused_reservations_come_back(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any
) -> None:
    key, shop_id = shop.key, shop.id
    ids = waitlist(key, 5)
    for signup_id in ids[:2]:  # two of them unsubscribe: blocked sends use no quota
        item = deps.signups().signup(shop_id, signup_id)
        assert item is not None
        deps.signups().set_timestamp(shop_id, signup_id, "unsubscribed_at", item["created_at"])
    bulk_notify(key, ids)
    [message] = worker.pending()
    worker.run([message])
    month = sending.ids.now().strftime("%Y-%m")
    assert len(outbox.emails()) == 3
    assert deps.notifications().usage(shop_id, month) == 3
    worker.run([message])  # a duplicate delivery: nothing reserved or given back twice
    assert deps.notifications().usage(shop_id, month) == 3 and len(outbox.emails()) == 3


def test_a_message_larger_than_the_months_rest_reserves_a_send_at_a_time(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sending.PLAN_MONTHLY_SENDS, "growth", 4)
    key, shop_id = shop.key, shop.id
    bulk_notify(key, waitlist(key, 3))
    worker.drain()
    bulk_notify(key, waitlist(key, 3, variant=102))  # 1 of the month's 4 left: no lease, one send goes
    worker.drain()
    month = sending.ids.now().strftime("%Y-%m")
    assert len(outbox.emails()) == 4 and deps.notifications().usage(shop_id, month) == 4
    status, body = call("GET", "/back_in_stock/notifications?status=blocked", key)
    assert status == 200 and len(body["notifications"]) == 2
    assert {n["blocked_reason"] for n in body["notifications"]} == {
        f"The growth plan's monthly send quota (4 sends) is used up for {month}"
    }


def test_a_page_of_the_send_log_is_sixteen_queries_and_a_batch_get(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any
) -> None:
    key = shop.key
    bulk_notify(key, waitlist(key, 12))
    worker.drain()
    counted: Counter[str] = Counter()
    count_calls(deps.notifications().client, "dynamodb", counted)
    for query in ("?per_page=5", "?per_page=5&variant_id=101", "?per_page=5&status=sent"):
        counted.clear()
        status, body = call("GET", f"/back_in_stock/notifications{query}", key)
        assert status == 200 and len(body["notifications"]) == 5, body
        # the authorizer's GetItem of the API key, then the page: the log rows are in 16 partitions (and their
        # variant's GSI1 key in 16 shards), so one keys-only Query of each, merged newest first, and one BatchGetItem
        # of the page's rows: what spreading the send path's writes costs a read (docs/ARCHITECTURE.md)
        assert counted == Counter({"GetItem": 1, "Query": SHARDS, "BatchGetItem": 1}), (query, counted)


def test_leases_live_in_the_claim_partitions(shop: Shop) -> None:
    shop_id = shop.id
    keys = {send_pk(shop_id, f"restock-{n}") for n in range(200)}
    assert keys == {f"SHOP#{shop_id}#SEND#{n:02d}" for n in range(SEND_SHARDS)}


def test_a_failed_message_keeps_its_lease_and_its_redelivery_sends_the_rest_under_it(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, shop_id = shop.key, shop.id
    bulk_notify(key, waitlist(key, 3))
    sender = deps.sender()
    real_send = sender.providers.email.send
    calls = {"n": 0}

    def second_fails(email: Any) -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("SES unavailable")
        return real_send(email)

    monkeypatch.setattr(sender.providers.email, "send", second_fails)
    [message] = worker.pending()
    assert worker.run([message])["batchItemFailures"]
    month = sending.ids.now().strftime("%Y-%m")
    assert len(outbox.emails()) == 2
    assert deps.notifications().usage(shop_id, month) == 3  # the lease holds the failed send's unit
    worker.drain()
    assert len(outbox.emails()) == 3
    assert deps.notifications().usage(shop_id, month) == 3  # not reserved twice, nothing given back


def test_a_transaction_cancelled_by_a_concurrent_one_is_tried_again_in_place(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Contention (docs/RELIABILITY.md): a TransactionConflict never reaches SQS's receive count."""
    key = shop.key
    bulk_notify(key, waitlist(key, 2))
    client = deps.notifications().client
    real = client.transact_write_items
    conflicts = {"left": 2}

    def conflicting(**kwargs: Any) -> Any:
        if conflicts["left"]:
            conflicts["left"] -= 1
            reasons = [{"Code": "None"}] * len(kwargs["TransactItems"])
            reasons[-1] = {"Code": "TransactionConflict"}
            error = {"Error": {"Code": "TransactionCanceledException", "Message": "conflict"}}
            raise client.exceptions.TransactionCanceledException(
                {**error, "CancellationReasons": reasons}, "TransactWriteItems"
            )
        return real(**kwargs)

    monkeypatch.setattr(client, "transact_write_items", conflicting)
    [message] = worker.pending()
    assert worker.run([message]) == {"batchItemFailures": []}
    assert conflicts["left"] == 0 and len(outbox.emails()) == 2


def test_a_batch_read_older_than_a_second_is_read_again_so_an_unsubscribe_in_between_holds(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, shop_id = shop.key, shop.id
    ids = waitlist(key, 3)
    bulk_notify(key, ids)
    sender = deps.sender()
    real_send = sender.providers.email.send

    def unsubscribe_the_last_after_the_first(email: Any) -> str:
        answer = real_send(email)
        item = deps.signups().signup(shop_id, ids[2])
        assert item is not None
        deps.signups().set_timestamp(shop_id, ids[2], "unsubscribed_at", item["created_at"])
        return answer

    monkeypatch.setattr(sender.providers.email, "send", unsubscribe_the_last_after_the_first)
    monkeypatch.setattr(sending, "STALE_AFTER_S", 0.0)  # every send's read is "old": read again
    counted: Counter[str] = Counter()
    count_calls(deps.notifications().client, "dynamodb", counted)
    [message] = worker.pending()
    worker.run([message])
    assert [e.destinations["ToAddresses"][0] for e in outbox.emails()] == ["k0@example.com", "k1@example.com"]
    assert counted["BatchGetItem"] == 1 + 3  # the message's read, then one per send
    status, body = call("GET", "/back_in_stock/notifications?status=blocked", key)
    assert status == 200 and [n["blocked_reason"] for n in body["notifications"]] == [sending.BLOCKED["unsubscribed"]]


def test_a_claim_item_of_the_earlier_layout_is_still_honoured(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any
) -> None:
    """The upgrade path (docs/DATA_MODEL.md): a message queued before the claims moved onto the signup, whose send was
    claimed (a `SEND#<send_id>` item) and crashed before its record, is recorded on redelivery, never sent again."""
    from backinstock import ids
    from backinstock.repositories.base import to_item
    from backinstock.repositories.notifications import claim_key

    key, shop_id = shop.key, shop.id
    [signup_id] = waitlist(key, 1)
    bulk_notify(key, [signup_id])
    [message] = worker.pending()
    [send] = json.loads(message["Body"])["sends"]
    claimed = {"entity": "send_claim", "status": "sending", "signup_id": signup_id, "attempted_at": ids.iso(ids.now())}
    claimed["notification_id"] = ids.uuid7(ids.now())
    deps.notifications().client.put_item(
        TableName=deps.notifications().table_name, Item={**claim_key(shop_id, send["send_id"]), **to_item(claimed)}
    )
    worker.run([message])
    assert outbox.emails() == []
    status, body = call("GET", "/back_in_stock/notifications", key)
    assert status == 200 and [n["id"] for n in body["notifications"]] == [claimed["notification_id"]]
