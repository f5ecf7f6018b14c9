"""`meta.total_count` of the signup and notification lists from the rollup counters (services/signups.py `page`,
`counter_total`): equal to what the list returns, for every filter combination with a counter and every status,
after sends, blocks, unsubscribes and deletes; and a page of a big waitlist costs a bounded number of calls."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from backinstock import deps
from backinstock.repositories.shards import SHARDS
from backinstock.services import signups as waitlist
from backinstock_tools.local.backend import RATE_LIMIT_TABLE_NAME
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.builders import signup
from backinstock_tools.testkit.gateway import call, invoke

pytestmark = pytest.mark.integration

SCOPES = [
    "",
    "variant_id=101",
    "product_id=10",
    "channel=sms",
    "variant_id=101&channel=email",
    "product_id=10&channel=sms",
]


def total(key: str, path: str, query: str) -> int:
    """`meta.total_count` of a one-row page (with `EXACT_UP_TO` 0, a listing longer than the page is counted by the
    counters)."""
    status, body = call("GET", f"{path}?{query}&per_page=1", key)
    assert status == 200, body
    return int(body["meta"]["total_count"])


def listed(key: str, path: str, query: str, rows: str) -> int:
    """Rows the list returns, page after page (the first page's snapshot on the next ones)."""
    status, body = call("GET", f"{path}?{query}&per_page=2", key)
    assert status == 200, body
    count, page = len(body[rows]), 1
    while page < body["meta"]["total_pages"]:
        page += 1
        more = call("GET", f"{path}?{query}&per_page=2&page={page}&as_of={body['meta']['as_of']}", key)[1]
        count += len(more[rows])
    return count


def test_counts_from_counters_equal_what_the_lists_return_across_statuses_after_sends_unsubscribes_and_deletes(
    shop: Shop, catalog: dict[str, int], worker: Any, stream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = shop.key
    made = [signup(key, v, f"c{i}@example.com") for i, v in enumerate([101, 101, 101, 102, 201, 101])]
    sms = signup(key, 101, phone="+15550001111")
    # notified (one), blocked (SMS is off: its send is blocked), unsubscribed, deleted
    call("POST", "/back_in_stock/signups/bulk_notify", key, {"signup_ids": [made[0]["id"], sms["id"], made[3]["id"]]})
    worker.drain()
    deps.signups().set_timestamp(shop.id, made[1]["id"], "unsubscribed_at", "2026-06-01T00:00:00.000Z")
    assert call("DELETE", f"/back_in_stock/signups/{made[5]['id']}", key)[0] in (200, 204)
    stream.drain()
    assert call("GET", f"/back_in_stock/signups/{sms['id']}", key)[1]["status"] == "blocked"

    for path, rows, statuses in (
        ("/back_in_stock/signups", "signups", ["", "status=pending", "status=notified", "status=unsubscribed"]),
        ("/back_in_stock/notifications", "notifications", ["", "status=sent", "status=blocked"]),
    ):
        for scope in SCOPES:
            for status in statuses:
                query = "&".join(q for q in (scope, status) if q)
                monkeypatch.setattr(waitlist, "EXACT_UP_TO", 0)  # every listing counted by the counters
                counted = total(key, path, query)
                monkeypatch.setattr(waitlist, "EXACT_UP_TO", 1000)  # counted from the ids
                assert counted == total(key, path, query) == listed(key, path, query, rows), (path, query)
    assert total(key, "/back_in_stock/signups", "") == 6  # seven made, one deleted
    assert total(key, "/back_in_stock/notifications", "status=blocked") == 1


def waiting(key: str, stream: Any, n: int) -> None:
    """`n` email signups waiting on variant 101 (c0@x.io, c1@x.io, ...), their stream records applied."""
    for i in range(n):
        call(
            "POST",
            "/back_in_stock/signups",
            key,
            {"channel": "email", "shopify_variant_id": 101, "email": f"c{i}@x.io"},
        )
    stream.drain()


def test_a_count_filter_without_a_counter_is_counted_from_the_ids(
    shop: Shop, catalog: dict[str, int], stream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = shop.key
    waiting(key, stream, 3)
    monkeypatch.setattr(waitlist, "EXACT_UP_TO", 0)
    assert total(key, "/back_in_stock/signups", "email=c1@x.io") == 1  # a contact search: no counter
    assert total(key, "/back_in_stock/signups", "variant_id=101&product_id=10") == 3  # both: no counter
    assert total(key, "/back_in_stock/signups", "variant_id=101&product_id=99") == 0


@pytest.mark.parametrize(
    ("query", "queries"),
    [
        # the variant's signups: one keys-only Query of its GSI3 key (a send never writes it: not sharded)
        ({"variant_id": "101"}, 1),
        # the shop's: its signups live in 16 partitions (`signups.signup_partitions`), one Query each, merged
        ({}, SHARDS),
    ],
    ids=["variant", "shop"],
)
def test_a_page_of_a_big_waitlist_costs_its_queries_a_counter_and_a_batch_get(
    shop: Shop,
    catalog: dict[str, int],
    stream: Any,
    monkeypatch: pytest.MonkeyPatch,
    query: dict[str, str],
    queries: int,
) -> None:
    """A waitlist longer than `EXACT_UP_TO` (made small here, as bench/run.py rollups does at 10,000): the keys-only
    Queries of the page's ids (as many as the listing's partitions), one GetItem of the counter, one BatchGetItem of
    the page's items."""
    key = shop.key
    waiting(key, stream, 12)
    monkeypatch.setattr(waitlist, "EXACT_UP_TO", 5)
    calls: Counter[str] = Counter()

    def count(params: dict[str, Any], event_name: str, **_: Any) -> None:
        if params.get("TableName") != RATE_LIMIT_TABLE_NAME:  # the limiter's one call is counted on its own
            calls[event_name.rsplit(".", 1)[-1]] += 1

    events = deps.shops().client.meta.events
    events.register("provide-client-params.dynamodb", count, unique_id="count-list")
    try:  # the action's handler as API Gateway calls it once the authorizer has answered
        status, body = invoke("list_signups", shop.id, query={**query, "per_page": "3"})
    finally:
        events.unregister("provide-client-params.dynamodb", unique_id="count-list")
    assert status == 200 and len(body["signups"]) == 3 and body["meta"]["total_count"] == 12
    assert calls == Counter({"Query": queries, "GetItem": 1, "BatchGetItem": 1})
