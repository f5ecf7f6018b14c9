"""Signups in the sharded layout (issue 23): each under `SHOP#<id>#SIGNUP#<nn>`, listed by variant and product
through keys-only indexes (`GSI3`, `GSI4`) whose filters run on the items read back, and a campaign's waiting
signups picked from the same indexes, page after page."""

from __future__ import annotations

from collections import Counter
from itertools import product as combinations
from typing import Any

import pytest

from backinstock import deps, ids
from backinstock.repositories import restocks as restock_repo
from backinstock.repositories.shards import shard_of
from backinstock.repositories.signups import signup_key
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.builders import mark, mark_notified, signup
from backinstock_tools.testkit.gateway import call, count_calls

pytestmark = pytest.mark.integration
SIGNUPS = "/back_in_stock/signups"


def raw(shop_id: str, signup_id: str) -> dict[str, Any]:
    repo = deps.signups()
    item = repo.client.get_item(TableName=repo.table_name, Key=signup_key(shop_id, signup_id), ConsistentRead=True)
    return {k: next(iter(v.values())) for k, v in item["Item"].items()}


def shop_partition(shop_id: str) -> list[dict[str, Any]]:
    repo = deps.signups()
    return list(
        repo.query(KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": {"S": f"SHOP#{shop_id}"}})
    )


# ------------------------------------------------------------------------------------------------------ the item
def test_a_signup_lands_in_its_shard_with_keys_only_index_entries_and_no_gsi1_or_gsi2(
    shop: Shop, catalog: dict[str, int]
) -> None:
    made = signup(shop, 101, "keys@example.com")
    item = raw(shop.id, made["id"])
    assert item["PK"] == f"SHOP#{shop.id}#SIGNUP#{shard_of(made['id'])}"
    assert item["SK"] == f"SIGNUP#{made['id']}"
    assert (item["GSI3PK"], item["GSI3SK"]) == (f"SHOP#{shop.id}#VARIANT#101", f"SIGNUP#{made['id']}")
    assert (item["GSI4PK"], item["GSI4SK"]) == (f"SHOP#{shop.id}#PRODUCT#10", f"SIGNUP#{made['id']}")
    assert not {"GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"} & item.keys()
    # The shop's own partition holds its customer and pending guard, never the signup
    assert not [i for i in shop_partition(shop.id) if i["SK"]["S"].startswith("SIGNUP#")]
    # The indexes hold the keys only
    repo = deps.signups()
    for index, pk in (("GSI3", f"SHOP#{shop.id}#VARIANT#101"), ("GSI4", f"SHOP#{shop.id}#PRODUCT#10")):
        entries = repo.client.query(
            TableName=repo.table_name,
            IndexName=index,
            KeyConditionExpression=f"{index}PK = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
        )["Items"]
        assert [set(e) for e in entries] == [{"PK", "SK", f"{index}PK", f"{index}SK"}]


def test_the_kits_marks_write_the_signup_itself_and_never_create_one(shop: Shop, catalog: dict[str, int]) -> None:
    made = signup(shop, 101, "marked@example.com")
    mark_notified(shop.id, made["id"])
    mark(shop.id, made["id"], "unsubscribed_at")
    item = raw(shop.id, made["id"])
    assert ("notified_at" in item, "unsubscribed_at" in item) == (True, True)
    assert not [i for i in shop_partition(shop.id) if i["SK"]["S"].startswith("SIGNUP#")]
    repo = deps.signups()
    with pytest.raises(repo.client.exceptions.ConditionalCheckFailedException):
        mark_notified(shop.id, ids.uuid7(ids.now()))  # no such signup: an error, not a new item


# ------------------------------------------------------------------------------------------------------ listings
@pytest.fixture
def mixed(shop: Shop, catalog: dict[str, int]) -> list[dict[str, Any]]:
    """14 signups of product 10 (11 of variant 101, 3 of 102) and one of the mug (201): email and sms, pending,
    notified, unsubscribed (one notified first) and blocked."""
    made = []
    plan = [
        (101, "email", None),
        (101, "sms", None),
        (102, "email", "notified"),
        (101, "email", "notified"),
        (101, "email", "unsubscribed"),
        (201, "email", None),
        (101, "sms", "notified"),
        (101, "email", "blocked"),
        (102, "sms", None),
        (101, "email", None),
        (101, "email", "both"),
        (101, "sms", "unsubscribed"),
        (102, "email", None),
        (101, "email", None),
        (101, "email", "notified"),
    ]
    for n, (variant, channel, state) in enumerate(plan):
        contact = {"email": f"{'keep' if n % 3 else 'drop'}{n}@example.com"} if channel == "email" else {}
        if channel == "sms":
            contact = {"phone": f"+1555010{n:04d}"}
        body = {"channel": channel, "shopify_variant_id": variant, **contact}
        status, created = call("POST", SIGNUPS, shop.key, body)
        assert status == 201, created
        if state in ("notified", "both"):
            mark_notified(shop.id, created["id"])
        if state in ("unsubscribed", "both"):
            mark(shop.id, created["id"], "unsubscribed_at")
        if state == "blocked":
            mark(shop.id, created["id"], "blocked_at")
        made.append(created)
    return made


def listed(key: str, query: str, per_page: int = 200) -> tuple[list[dict[str, Any]], int]:
    status, body = call("GET", f"{SIGNUPS}?{query}&per_page={per_page}", key)
    assert status == 200, body
    return body["signups"], body["meta"]["total_count"]


def test_a_keys_only_listing_with_filters_returns_exactly_the_filtered_rows(
    shop: Shop, mixed: list[dict[str, Any]]
) -> None:
    key = shop.key
    whole = {
        "variant_id=101": [m for m in mixed if m["variant"]["shopify_variant_id"] == 101],
        "product_id=10": [m for m in mixed if m["variant"]["shopify_product_id"] == 10],
    }
    tried: Counter[str] = Counter()
    for scope, expected_all in whole.items():
        unfiltered, total = listed(key, scope)
        assert {r["id"] for r in unfiltered} == {m["id"] for m in expected_all} and total == len(expected_all)
        statuses = Counter(r["status"] for r in unfiltered)
        assert set(statuses) == {"pending", "notified", "unsubscribed", "blocked"}, statuses
        for status, channel, email in combinations(
            (None, "pending", "notified", "unsubscribed"), (None, "email", "sms"), (None, "keep")
        ):
            query = scope + "".join(
                f"&{name}={value}"
                for name, value in (("status", status), ("channel", channel), ("email", email))
                if value
            )
            expected = [
                r["id"]
                for r in unfiltered
                if (status is None or r["status"] == status)
                and (channel is None or r["channel"] == channel)
                and (email is None or (r["channel"] == "email" and email in r["contact"]))
            ]
            rows, count = listed(key, query)
            assert [r["id"] for r in rows] == expected, query
            assert count == len(expected), query
            tried.update(["some" if expected else "none", "narrower" if len(expected) < len(unfiltered) else "all"])
    # 48 combinations a scope: 8 match nothing, and only the unfiltered one keeps every row
    assert tried == Counter({"narrower": 46, "some": 40, "none": 8, "all": 2})
    # Paged: the filtered rows, 2 a page, as one listing
    expected, _ = listed(key, "variant_id=101&status=pending&channel=email")
    pages, as_of, page = [], None, 1
    while True:
        stable = f"&as_of={as_of}" if as_of else ""
        status, body = call(
            "GET", f"{SIGNUPS}?variant_id=101&status=pending&channel=email&per_page=2&page={page}{stable}", key
        )
        assert status == 200, body
        as_of = body["meta"]["as_of"]
        pages += [r["id"] for r in body["signups"]]
        if page >= body["meta"]["total_pages"]:
            break
        page += 1
    assert pages == [r["id"] for r in expected] and len(pages) == 3


# ------------------------------------------------------------------------------------------------------ campaigns
@pytest.fixture
def waiting(shop: Shop, catalog: dict[str, int]) -> dict[str, str]:
    """Signups of product 10, in creation order: waiting ones (w*, c: opted in and confirmed, v: of variant 102) and
    ones a campaign of variant 101 by email never picks (n notified, u unsubscribed, b blocked, o opt-in
    unconfirmed, s sms)."""
    made: dict[str, str] = {}
    compliance = "/back_in_stock/settings/compliance"
    for name in ("w1", "n", "w2", "u", "b", "o", "s", "v", "w3", "c", "w4", "w5"):
        if name in ("o", "c"):
            assert call("PATCH", compliance, shop.key, {"optin_required": True})[0] == 200
        variant = 102 if name == "v" else 101
        if name == "s":
            made[name] = signup(shop, variant, phone="+15550102000")["id"]
        else:
            made[name] = signup(shop, variant, f"{name}@example.com")["id"]
        if name in ("o", "c"):
            assert call("PATCH", compliance, shop.key, {"optin_required": False})[0] == 200
    mark_notified(shop.id, made["n"])
    mark(shop.id, made["u"], "unsubscribed_at")
    mark(shop.id, made["b"], "blocked_at")
    assert deps.signups().set_timestamp(shop.id, made["c"], "optin_confirmed_at", ids.iso(ids.now()))
    assert raw(shop.id, made["o"]).get("optin_required") is True
    return made


def pick_all(shop_id: str, whole_product: bool, want: int) -> list[tuple[list[str], bool]]:
    """Every step of a campaign: (the ids it picked, whether it left a cursor)."""
    repo = deps.restocks().restocks
    steps: list[tuple[list[str], bool]] = []
    cursor = None
    while True:
        picked, cursor = repo.waiting_signups(
            shop_id, 101, 10, whole_product, cursor, want, ["email"], int(ids.now().timestamp())
        )
        steps.append(([s["signup_id"] for s in picked], cursor is not None))
        if cursor is None:
            return steps
        assert len(steps) < 20


@pytest.mark.parametrize("key_page", [None, 2], ids=["one-query", "small-pages"])
def test_a_campaign_skips_signups_that_are_not_waiting_and_resumes_from_its_cursor(
    shop: Shop, waiting: dict[str, str], monkeypatch: pytest.MonkeyPatch, key_page: int | None
) -> None:
    if key_page:  # several Queries and BatchGetItems a step
        monkeypatch.setattr(restock_repo, "KEY_PAGE", key_page)
        monkeypatch.setattr(restock_repo, "BATCH_GET_LIMIT", key_page)
    w = waiting
    # The variant's list (GSI3), 2 a step: oldest first, one more than wanted read so the last step ends it
    assert pick_all(shop.id, False, 2) == [
        ([w["w1"], w["w2"]], True),
        ([w["w3"], w["c"]], True),
        ([w["w4"], w["w5"]], False),
    ]
    # The product's (GSI4): variant 102's waiting signup too, in its place
    assert pick_all(shop.id, True, 3) == [
        ([w["w1"], w["w2"], w["v"]], True),
        ([w["w3"], w["c"], w["w4"]], True),
        ([w["w5"]], False),
    ]
    assert pick_all(shop.id, False, 100) == [([w["w1"], w["w2"], w["w3"], w["c"], w["w4"], w["w5"]], False)]
    # Exactly wanted: the one more read says nothing is left
    assert pick_all(shop.id, False, 6) == [([w["w1"], w["w2"], w["w3"], w["c"], w["w4"], w["w5"]], False)]


def test_a_campaign_step_reads_keys_once_and_items_in_batches_of_100(shop: Shop, waiting: dict[str, str]) -> None:
    repo = deps.restocks().restocks
    calls: Counter[str] = Counter()
    count_calls(repo.client, "dynamodb", calls)
    now = int(ids.now().timestamp())
    picked, cursor = repo.waiting_signups(shop.id, 101, 10, False, None, 100, ["email"], now)
    assert (len(picked), cursor) == (6, None)
    assert calls == {"Query": 1, "BatchGetItem": 1}
    calls.clear()
    # 2 wanted: 3 keys read (the first 3 of the index), then the fourth and on from the next Query
    picked, cursor = repo.waiting_signups(shop.id, 101, 10, False, None, 2, ["email"], now)
    assert [s["signup_id"] for s in picked] == [waiting["w1"], waiting["w2"]] and cursor is not None
    assert calls == {"Query": 2, "BatchGetItem": 2}
    # The next step starts after the cursor
    assert (
        repo.waiting_signups(shop.id, 101, 10, False, cursor, 100, ["email"], now)[0][0]["signup_id"] == waiting["w3"]
    )


def test_a_campaign_cursor_of_the_layout_before_the_shards_still_resumes(shop: Shop, waiting: dict[str, str]) -> None:
    w = waiting
    old = {
        "PK": {"S": f"SHOP#{shop.id}"},
        "SK": {"S": f"SIGNUP#{w['w2']}"},
        "GSI1PK": {"S": f"SHOP#{shop.id}#VARIANT#101"},
        "GSI1SK": {"S": f"SIGNUP#{w['w2']}"},
    }
    picked, cursor = deps.restocks().restocks.waiting_signups(shop.id, 101, 10, False, old, 10, ["email"], None)
    assert ([s["signup_id"] for s in picked], cursor) == ([w["w3"], w["c"], w["w4"], w["w5"]], None)


# ------------------------------------------------------------------------------------------------------ transfers
def test_a_transfer_page_resumes_from_a_key_of_the_layout_before_the_shards(
    shop: Shop, catalog: dict[str, int]
) -> None:
    made = [signup(shop, 101, f"t{n}@example.com")["id"] for n in range(4)]
    old = {
        "PK": {"S": f"SHOP#{shop.id}"},
        "SK": {"S": f"SIGNUP#{made[1]}"},
        "GSI1PK": {"S": f"SHOP#{shop.id}#VARIANT#101"},
        "GSI1SK": {"S": f"SIGNUP#{made[1]}"},
    }
    items, _ = deps.signups().by_variant(shop.id, 101, old, 10)
    assert [i["signup_id"] for i in items] == made[2:]
    first, next_key = deps.signups().by_variant(shop.id, 101, None, 2)
    rest, end = deps.signups().by_variant(shop.id, 101, next_key, 10)
    assert [i["signup_id"] for i in first + rest] == made and end is None


def test_a_campaign_step_of_1000_is_one_query_and_11_batch_gets_when_all_are_waiting(shop: Shop) -> None:
    # Given 1,200 signups of variant 101 written as the create writes them, the oldest 150 of them notified
    from datetime import timedelta

    from backinstock.repositories.base import to_item
    from backinstock.repositories.signups import index_keys

    start = ids.now() - timedelta(days=1)
    made = []
    for n in range(1200):
        at = start + timedelta(milliseconds=n)
        made.append(
            {
                "entity": "signup",
                "shop_id": shop.id,
                "signup_id": ids.uuid7(at),
                "variant_id": 101,
                "product_id": 10,
                "channel": "email",
                "contact": f"big{n}@example.com",
                "created_at": ids.iso(at),
                **({"notified_at": ids.iso(at)} if n < 150 else {}),
            }
        )
    assert [s["signup_id"] for s in made] == sorted(s["signup_id"] for s in made)
    repo = deps.restocks().restocks
    repo.batch_write(
        [
            {"PutRequest": {"Item": {**signup_key(shop.id, s["signup_id"]), **to_item({**s, **index_keys(s)})}}}
            for s in made
        ]
    )
    calls: Counter[str] = Counter()
    count_calls(repo.client, "dynamodb", calls)
    # When a campaign's steps pick 1,000 at a time
    first, cursor = repo.waiting_signups(shop.id, 101, 10, False, None, 1000, ["email"], None)
    # Then the first step reads 1,001 keys (one Query) and 1,001 items (11 BatchGetItems), then 150 more keys of the
    # next Query to get past the 150 notified ones (2 BatchGetItems)
    assert [s["signup_id"] for s in first] == [s["signup_id"] for s in made[150:1150]]
    assert calls == {"Query": 2, "BatchGetItem": 13}
    calls.clear()
    rest, end = repo.waiting_signups(shop.id, 101, 10, False, cursor, 1000, ["email"], None)
    assert [s["signup_id"] for s in rest] == [s["signup_id"] for s in made[1150:]] and end is None
    assert calls == {"Query": 1, "BatchGetItem": 1}
    calls.clear()
    # And a campaign of the same variant once the notified ones are no longer first: 1 Query, 11 BatchGetItems
    skipped, _ = repo.waiting_signups(
        shop.id, 101, 10, False, {"SK": {"S": f"SIGNUP#{made[149]['signup_id']}"}}, 1000, ["email"], None
    )
    assert len(skipped) == 1000 and calls == {"Query": 1, "BatchGetItem": 11}


def test_a_signup_moved_to_another_variant_after_its_key_was_listed_is_not_picked(
    shop: Shop, waiting: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = deps.restocks().restocks
    original = repo.batch_get_raw

    def moved_first(keys: list[dict[str, Any]], consistent: bool = True) -> list[dict[str, Any]]:
        monkeypatch.setattr(repo, "batch_get_raw", original)
        item = deps.signups().signup(shop.id, waiting["w1"])
        assert item is not None and deps.signups().move(item, {"variant_id": 201, "product_id": 20}, take_guard=True)
        return original(keys, consistent)

    monkeypatch.setattr(repo, "batch_get_raw", moved_first)
    picked, cursor = repo.waiting_signups(shop.id, 101, 10, False, None, 100, ["email"], None)
    w = waiting
    assert ([s["signup_id"] for s in picked], cursor) == ([w["w2"], w["w3"], w["c"], w["w4"], w["w5"]], None)
