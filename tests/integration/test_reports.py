"""Reports read rollups that the stream aggregator keeps: counts through the real write paths, then the reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backinstock import deps, registry
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.builders import attribution, put_attribution, signup
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
R = "/back_in_stock/reports"


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_reports_follow_signups_sends_and_attributed_orders(
    shop: Shop, catalog: dict[str, int], worker: Any, stream: Any
) -> None:
    key = shop.key
    a = signup(key, 101, "a@example.com")
    b = signup(key, 101, "b@example.com")
    signup(key, 201, "c@example.com")
    call("POST", "/back_in_stock/signups/bulk_notify", key, {"signup_ids": [a["id"], b["id"]]})
    worker.drain()
    put_attribution(attribution(shop.id, a, "9001", "1", "24.00"))
    put_attribution(attribution(shop.id, a, "9001", "2", "6.50"))  # same order, same signup: once each
    put_attribution(attribution(shop.id, b, "9002", "1", "10.00", confidence="low"))  # not a conversion
    stream.drain()

    status, summary = call("GET", f"{R}/summary", key)
    assert status == 200, summary
    assert summary["window"] == {"from": (datetime.now(UTC).date() - timedelta(days=29)).isoformat(), "to": today()}
    assert summary["currency"] == "USD"
    assert summary["totals"] == {
        "signups": 3,
        "pending": 1,
        "blocked": 0,
        "notified": 2,
        "conversions": 1,
        "conversion_rate": 0.5,
        "recovered_revenue": "30.50",
    }
    _, by_variant = call("GET", f"{R}/summary?variant_id=201", key)
    assert by_variant["totals"]["signups"] == 1 and by_variant["totals"]["recovered_revenue"] == "0.00"

    _, series = call("GET", f"{R}/signups?from={today()}&to={today()}", key)
    assert series["series"] == [{"date": today(), "signups": 3, "pending": 1, "blocked": 0, "notified": 2}]
    _, sends = call("GET", f"{R}/notifications?from={today()}&to={today()}&channel=email", key)
    assert sends["series"] == [
        {"date": today(), "sent": 2, "blocked": 0, "email": 2, "sms": 0, "push": 0}
        | {"blocked_email": 0, "blocked_sms": 0, "blocked_push": 0}
    ]
    _, orders = call("GET", f"{R}/conversions?from={today()}&to={today()}", key)
    assert orders["series"] == [{"date": today(), "orders": 1, "recovered_revenue": "30.50"}]

    _, demand = call("GET", f"{R}/products_in_demand", key)
    assert [(r["shopify_variant_id"], r["pending"], r["total"]) for r in demand["rows"]] == [(201, 1, 1), (101, 0, 2)]
    assert demand["rows"][0]["variant_title"] == "Default Title" and demand["rows"][0]["product_title"] == "Camp Mug"
    assert demand["meta"] == {"total_count": 2, "page": 1, "per_page": 50, "total_pages": 1}
    _, by_total = call("GET", f"{R}/products_in_demand?sort_by=total&per_page=1&page=2", key)
    assert [r["shopify_variant_id"] for r in by_total["rows"]] == [201]


def test_a_replayed_stream_record_changes_no_counter(shop: Shop, catalog: dict[str, int], stream: Any) -> None:
    from backinstock.workers.rollups import apply_record

    signup(shop.key, 101, "a@example.com")
    shards = stream.client.describe_stream(StreamArn=stream.stream_arn)["StreamDescription"]["Shards"]
    records: list[dict[str, Any]] = []
    for shard in shards:
        iterator = stream.client.get_shard_iterator(
            StreamArn=stream.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += stream.client.get_records(ShardIterator=iterator)["Records"]
    insert = next(r for r in records if r["dynamodb"].get("NewImage", {}).get("entity", {}).get("S") == "signup")
    assert apply_record(insert) == "applied"
    before = rollup_items(shop.id)
    assert apply_record(insert) == "replayed"
    assert rollup_items(shop.id) == before
    assert before[f"all#D#{today()}"]["signups"] == 1
    assert before["v:101#TOTAL"]["pending"] == 1


def rollup_items(shop_id: str) -> dict[str, dict[str, Any]]:
    from backinstock.repositories.base import from_item
    from backinstock.repositories.rollups import SHARDS, shard_pk

    client = deps.shops().client
    items = [
        item
        for shard in range(SHARDS)
        for item in client.query(
            TableName=deps.shops().table_name,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": shard_pk(shop_id, shard)}},
        )["Items"]
    ]
    return {from_item(i)["SK"]: from_item(i) for i in items}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-13-01", "from: must be an ISO 8601 date like 2026-06-01 (got '2026-13-01')"),
        ("to=yesterday", "to: must be an ISO 8601 date like 2026-06-01 (got 'yesterday')"),
        ("from=2026-06-02&to=2026-06-01", "from: from (2026-06-02) must not be after to (2026-06-01)"),
        ("from=2025-01-01&to=2026-06-01", "to: the window spans 517 days; at most 366 buckets"),
        ("granularity=hour", "granularity: must be 'day', 'week' or 'month' (got \"hour\")"),
        ("channel=fax", "channel: must be 'email', 'sms' or 'push' (got \"fax\")"),
    ],
)
def test_invalid_filters_are_a_422_with_a_clear_message(shop: Shop, query: str, message: str) -> None:
    status, body = call("GET", f"{R}/signups?{query}", shop.key)
    assert status == 422, body
    assert body["errors"][0].startswith(message), body["errors"]


def test_a_window_without_activity_is_zeros_with_every_bucket(shop: Shop) -> None:
    status, body = call("GET", f"{R}/notifications?from=2026-02-25&to=2026-03-10&granularity=week", shop.key)
    assert status == 200, body
    assert body["window"] == {"from": "2026-02-25", "to": "2026-03-10"}
    # the first bucket is cut by `from`: labelled by the window's own start, never a day before it (issue 24)
    assert [p["date"] for p in body["series"]] == ["2026-02-25", "2026-03-02", "2026-03-09"]
    assert all(p["sent"] == 0 and p["blocked"] == 0 for p in body["series"])
    _, summary = call("GET", f"{R}/summary?from=2020-01-01&to=2020-01-31", shop.key)
    assert summary["totals"]["conversion_rate"] == 0 and summary["totals"]["recovered_revenue"] == "0.00"
    _, months = call("GET", f"{R}/conversions?from=2026-01-15&to=2026-03-02&granularity=month", shop.key)
    assert [p["date"] for p in months["series"]] == ["2026-01-15", "2026-02-01", "2026-03-01"]


def test_manifest_lists_every_report_read_of_the_registry(shop: Shop) -> None:
    reads = [a for a in registry.actions() if a.report and a.method == "GET" and a.path.startswith(R + "/")]
    assert len(reads) >= 5
    status, body = call("GET", R, shop.key)
    assert status == 200
    assert body["reports"] == [
        {
            "name": a.report,
            "description": a.description,
            "aliases": list(a.aliases),
            "url": f"/api/v2/external{a.path}",
        }
        for a in reads
    ]
    assert body["reports"][0]["url"] == "/api/v2/external/back_in_stock/reports/summary"


def test_seed_writes_a_history_that_every_report_shows(shop: Shop, stream: Any) -> None:
    from backinstock_tools.local.seed import seed

    counts = seed(shop.id, signups=10, days=20)
    assert counts["signups"] == 10 and counts["sent"] > 0 and counts["orders"] > 0
    stream.drain()
    key = shop.key
    _, summary = call("GET", f"{R}/summary", key)
    totals = summary["totals"]
    assert totals["signups"] == counts["signups"]
    assert totals["notified"] == counts["sent"]
    assert 0 < totals["conversions"] <= counts["orders"] and totals["recovered_revenue"] != "0.00"
    _, sends = call("GET", f"{R}/notifications?granularity=month", key)
    assert sum(p["sent"] for p in sends["series"]) == counts["sent"]
    assert sum(p["blocked"] for p in sends["series"]) == counts["blocked"]
    _, demand = call("GET", f"{R}/products_in_demand", key)
    assert demand["rows"] and demand["rows"][0]["product_title"]


def test_a_waitlist_crossing_the_threshold_mails_the_merchant_once_through_the_stream(
    shop: Shop, catalog: dict[str, int], stream: Any, outbox: Any
) -> None:
    deps.shops().set_shopify_connection(shop.id, "2026-11-27T00:00:00Z", "owner@example.com", None)
    key = shop.key
    status, _ = call("PATCH", "/back_in_stock/settings/alerts", key, {"signups_threshold": {"count": 2}})
    assert status == 200
    signup(key, 101, "a@example.com")
    stream.drain()
    assert not [m for m in outbox.emails() if "customers are waiting" in m.subject]
    signup(key, 101, "b@example.com")
    signup(key, 101, "c@example.com")
    stream.drain()
    alerts = [m for m in outbox.emails() if "customers are waiting" in m.subject]
    assert len(alerts) == 1  # the crossing (1 -> 2), not the next signup (2 -> 3)
    assert alerts[0].subject == "2 customers are waiting for Classic Tee (Small / Blue)"


def test_shop_redact_purges_the_rollups(shop: Shop, catalog: dict[str, int], stream: Any) -> None:
    from backinstock.repositories import rollups
    from backinstock.services import privacy

    signup(shop.key, 101, "a@example.com")
    stream.drain()
    assert rollup_items(shop.id)
    p = deps.privacy()
    assert {f(shop.id) for f in rollups.shop_partitions()} <= {f(shop.id) for f in p.extra_partitions}
    privacy.redact_shop(p, shop.id, {"shop_domain": shop.domain})
    assert rollup_items(shop.id) == {}


def test_a_reports_pending_is_the_lists_status_pending_and_blocked_is_reported_on_its_own(
    shop: Shop, catalog: dict[str, int], worker: Any, stream: Any
) -> None:
    # Given a pending, a notified and a blocked signup on variant 101 (SMS is off by default: its send is blocked)
    key = shop.key
    signup(key, 101, "waiting@example.com")
    notified = signup(key, 101, "notified@example.com")
    status, sms = call(
        "POST", "/back_in_stock/signups", key, {"channel": "sms", "shopify_variant_id": 101, "phone": "+15550001111"}
    )
    assert status == 201, sms
    call("POST", "/back_in_stock/signups/bulk_notify", key, {"signup_ids": [notified["id"], sms["id"]]})
    worker.drain()
    stream.drain()
    assert call("GET", f"/back_in_stock/signups/{sms['id']}", key)[1]["status"] == "blocked"

    # When the list and the reports count over the same window
    window = f"from={today()}&to={today()}"
    listed = call("GET", f"/back_in_stock/signups?status=pending&{window}", key)[1]["meta"]["total_count"]
    for_variant = call("GET", f"/back_in_stock/signups?status=pending&variant_id=101&{window}", key)[1]
    totals = call("GET", f"{R}/summary?{window}", key)[1]["totals"]
    [point] = call("GET", f"{R}/signups?{window}", key)[1]["series"]
    [row] = call("GET", f"{R}/products_in_demand?{window}", key)[1]["rows"]

    # Then pending means one thing, and blocked is counted on its own
    assert listed == for_variant["meta"]["total_count"] == 1
    assert totals["pending"] == point["pending"] == row["pending"] == listed
    assert totals["blocked"] == point["blocked"] == 1
    assert totals["signups"] == point["signups"] == row["total"] == 3
    assert (totals["notified"], point["notified"]) == (1, 1)
