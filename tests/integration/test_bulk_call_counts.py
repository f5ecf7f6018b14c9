"""Counts, not timers: the AWS calls of bulk notify, notify and the filtered signup lists, by service and operation.

Bulk notify of 1000 signups reads them with BatchGetItem (`BATCH_GET_LIMIT` keys per call) and queues them with
SendMessageBatch (`queue.BATCH_LIMIT` messages per call, `queue.SENDS_PER_MESSAGE` sends per message); one notify
is one GetItem and one SendMessage; a list by variant or product is one Query of its keys-only index and one
BatchGetItem for the page, the shop's whole list one Query of each of its 16 signup partitions and one
BatchGetItem. Nothing Scans. Expected counts are computed from the constants, so changing a limit keeps these tests
honest.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from functools import cache
from types import SimpleNamespace
from typing import Any

import pytest

from backinstock import aws, deps
from backinstock.models.signups import MAX_BULK_IDS, SignupCreate
from backinstock.queue import BATCH_LIMIT, SENDS_PER_MESSAGE
from backinstock.repositories.base import BATCH_GET_LIMIT, to_item
from backinstock.repositories.shards import SHARDS
from backinstock.repositories.signups import SignupRepository, index_keys, signup_key, signup_partitions
from backinstock.services import signups
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import count_calls, invoke
from backinstock_tools.testkit.sqs import receive_all

pytestmark = pytest.mark.integration


class _Recorder(SignupRepository):
    """`create_signup`'s writes, kept instead of made: `seed` writes the signup items afterwards with BatchWriteItem.
    moto copies the whole table before every TransactWriteItems, so 1000 creates through the API take minutes
    (quadratic in the table's size). The customer find-or-create answers as it does for a new contact."""

    def __init__(self) -> None:
        super().__init__(deps.signups().table_name, deps.signups().client)
        self.items: list[dict[str, Any]] = []

    def upsert_customer(
        self,
        shop_id: str,
        channel: str,
        contact: str,
        new_id: str,
        name: str | None,
        email: str | None,
        phone: str | None,
        now: str,
    ) -> dict[str, Any]:
        return {"customer_id": new_id, "name": name, "email": email, "phone": phone}

    def create(self, signup: dict[str, Any], stale_guard_owner: str | None = None) -> None:
        self.items.append(signup)


def seed(shop_id: str, count: int, variant_id: int, prefix: str = "c") -> list[str]:
    """`count` pending email signups on a catalog variant, built by `services.signups.create_signup` itself (same
    item shape, same ids), written 25 per BatchWriteItem. Their pending guards and customer items are not written:
    nothing measured here reads them. Returns the ids in creation order."""
    recorder = _Recorder()
    shop = deps.shops().require(shop_id)
    waitlist = signups.Waitlist(
        signups=recorder,
        catalog=SimpleNamespace(variant=cache(deps.catalog().variant)),  # type: ignore[arg-type]
        shops=SimpleNamespace(require=lambda _: shop),  # type: ignore[arg-type]
        queue=deps.queue(),
    )
    created = [
        signups.create_signup(
            waitlist,
            shop_id,
            SignupCreate(channel="email", shopify_variant_id=variant_id, email=f"{prefix}{i}@example.com"),
        ).id
        for i in range(count)
    ]
    recorder.batch_write(
        [
            {"PutRequest": {"Item": {**signup_key(shop_id, s["signup_id"]), **to_item({**s, **index_keys(s)})}}}
            for s in recorder.items
        ]
    )
    return created


@pytest.fixture
def calls(shop: Shop) -> Counter[str]:
    """`service.Operation` -> number of calls, from botocore's before-call event on the clients the code uses."""
    counted: Counter[str] = Counter()
    for service in ("dynamodb", "sqs"):
        count_calls(aws.client(service), service, counted, lambda event_name: event_name.split(".", 1)[1])
    return counted


@pytest.fixture
def query_params(shop: Shop) -> list[dict[str, Any]]:
    """The parameters of every DynamoDB Query, as the code passed them."""
    seen: list[dict[str, Any]] = []
    aws.client("dynamodb").meta.events.register(
        "before-parameter-build.dynamodb.Query", lambda params, **_: seen.append(dict(params))
    )
    return seen


def test_bulk_notify_of_1000_signups_reads_in_batches_of_100_and_queues_in_batches_of_10(
    shop: Shop, catalog: dict[str, int], calls: Counter[str]
) -> None:
    signup_ids = seed(shop.id, MAX_BULK_IDS, catalog["small"])
    calls.clear()

    status, result = invoke("bulk_notify_signups", shop.id, body={"signup_ids": signup_ids})

    assert status == 200, result
    assert result["failed"] == [] and sorted(result["success"]) == sorted(signup_ids)
    messages = math.ceil(MAX_BULK_IDS / SENDS_PER_MESSAGE)
    expected = Counter(
        {
            "dynamodb.BatchGetItem": math.ceil(MAX_BULK_IDS / BATCH_GET_LIMIT),
            "sqs.SendMessageBatch": math.ceil(messages / BATCH_LIMIT),
            "dynamodb.GetItem": 1,  # the shop: its resend spacing window
            # each signup's send slot, one conditional write (parallel bulk notifies cannot both queue: issue 23)
            "dynamodb.UpdateItem": MAX_BULK_IDS,
        }
    )
    assert calls == expected
    assert calls["dynamodb.BatchGetItem"] <= 10 and calls["sqs.SendMessageBatch"] <= 100  # the ceilings
    assert "dynamodb.Scan" not in calls

    queued = [json.loads(m["Body"]) for m in receive_all(deps.queue().client, deps.queue().url)]
    assert len(queued) == messages
    assert all(m["kind"] == "send" and len(m["sends"]) <= SENDS_PER_MESSAGE for m in queued)
    sent_ids = [s["signup_id"] for m in queued for s in m["sends"]]
    assert sorted(sent_ids) == sorted(signup_ids)  # every id exactly once
    assert len({s["send_id"] for m in queued for s in m["sends"]}) == MAX_BULK_IDS


def test_notify_is_two_get_items_one_update_and_one_send_message(
    shop: Shop, catalog: dict[str, int], calls: Counter[str]
) -> None:
    [signup_id] = seed(shop.id, 1, catalog["small"])
    calls.clear()

    status, result = invoke("notify_signup", shop.id, path_params={"id": signup_id})

    assert status == 202, result
    # the UpdateItem marks the signup's one outstanding send (a resend meanwhile coalesces into it, or is held by
    # the spacing window); the second GetItem reads the shop's spacing window
    assert calls == Counter({"dynamodb.GetItem": 2, "dynamodb.UpdateItem": 1, "sqs.SendMessage": 1})


@pytest.mark.parametrize(
    ("filter_by", "index", "queries"),
    # a variant's (product's) signups: one Query of its keys-only index key, which a send never writes, so it is not
    # sharded; the shop's: its signups are in 16 partitions (`signup_partitions`), one Query each, merged newest first
    [("variant_id", "GSI3", 1), ("product_id", "GSI4", 1), (None, None, SHARDS)],
    ids=["variant-GSI3", "product-GSI4", "unfiltered-16-partitions"],
)
def test_a_list_page_is_the_narrowest_keys_queries_and_one_batch_get(
    shop: Shop,
    catalog: dict[str, int],
    calls: Counter[str],
    query_params: list[dict[str, Any]],
    filter_by: str | None,
    index: str | None,
    queries: int,
) -> None:
    small = seed(shop.id, 30, catalog["small"], prefix="s")
    seed(shop.id, 10, catalog["mug"], prefix="m")
    values = {"variant_id": str(catalog["small"]), "product_id": "10"}
    query = {"per_page": "20", **({filter_by: values[filter_by]} if filter_by else {})}
    calls.clear()

    status, result = invoke("list_signups", shop.id, query=query)

    assert status == 200, result
    # the page's 20 items: one BatchGetItem (up to `BATCH_GET_LIMIT` keys)
    assert calls == Counter({"dynamodb.Query": queries, "dynamodb.BatchGetItem": 1})
    assert len(query_params) == queries
    assert {p.get("IndexName") for p in query_params} == {index}
    # the Queries move keys; the page's items come from BatchGetItem
    assert {p["ProjectionExpression"] for p in query_params} == {"PK, SK"}
    if index is None:
        assert {p["ExpressionAttributeValues"][":pk"]["S"] for p in query_params} == set(signup_partitions(shop.id))
    expected_total = 40 if filter_by is None else 30
    assert result["meta"]["total_count"] == expected_total
    assert len(result["signups"]) == 20
    if filter_by:
        assert {s["id"] for s in result["signups"]} <= set(small)
        assert {s["variant"]["shopify_variant_id"] for s in result["signups"]} == {catalog["small"]}
