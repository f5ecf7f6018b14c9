"""The preorder order ledger through signed webhooks (intake, webhook worker) and the table stream (rollup
aggregator): every topic, replays under new event ids, events before their order, another shop's offers."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from backinstock import deps
from backinstock.models.preorders import OfferListQuery
from backinstock.services import offers, preorder_rollups
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.builders import make_offer, order_payload
from backinstock_tools.testkit.drivers import Shopify, deliver

pytestmark = pytest.mark.integration
D = Decimal
JUNE = (date(2026, 6, 1), date(2026, 6, 30))
SUMMER = (date(2026, 6, 1), date(2026, 8, 31))
FIGURES = [
    "orders",
    "units",
    "revenue",
    "revenue_deposit",
    "revenue_balance",
    "deposits_collected",
    "balances_outstanding",
    "balances_due",
    "balances_collected",
    "collected_count",
    "balances_failed",
    "failed_count",
    "cancelled_orders",
    "cancelled_units",
    "cancelled_revenue",
    "refunds_issued",
    "refunds_count",
    "customers",
]


def figures(shop_id: str, dimension: str = "po", window: tuple[date, date] = SUMMER) -> dict[str, Decimal]:
    found = preorder_rollups.totals(deps.rollups(), shop_id, dimension, *window, FIGURES)
    return {k: v for k, v in found.items() if v}


def test_an_order_on_an_offer_is_a_preorder_with_its_deposit_balance_and_currencies(
    shopify: Shopify, catalog: dict[str, int], stream: Any
) -> None:
    shop_id = shopify.shop.id
    offer_id = make_offer(shop_id, [7001], market_ids=[5])
    deliver(shopify, stream, ("orders/create", order_payload()))
    # The preorder line is 80.00 of the order's 100.00 revenue: 88.00 of the 110.00 total; 44.00 is outstanding
    placed = {
        "orders": 1,
        "units": 2,
        "revenue": D("80.00"),
        "revenue_deposit": D("40.00"),
        "revenue_balance": D("40.00"),
        "deposits_collected": D("44.00"),
        "balances_outstanding": D("44.00"),
        "balances_due": D("44.00"),
        "customers": 1,
    }
    assert figures(shop_id) == placed
    # Customers are counted in every dimension the counters are (issue 24: filters narrow `customers` too)
    assert figures(shop_id, f"po:o:{offer_id}:v:101:m:5") == placed
    assert figures(shop_id, "po:p:20") == {}  # the regular line is no preorder
    assert "balances_due" not in figures(shop_id, "po", JUNE)  # due 30 days after checkout: July 3rd
    # Filtered by currency: presentment amounts (72.72 of 90.91 revenue; the order's own rate for the outstanding)
    eur = figures(shop_id, "po:c:EUR")
    assert (eur["revenue"], eur["deposits_collected"], eur["balances_outstanding"]) == (
        D("72.72"),
        D("40.00"),
        D("40.00"),
    )
    assert figures(shop_id, "po:c:USD") == {}
    # The order's figures sit on the ledger item; the customer's contact only on their profile
    item = deps.ledger().orders.order(shop_id, "9001")
    assert item is not None and "jo@example.com" not in str(item) and item["customer_key"] == "cid:90010"
    profile = deps.ledger().orders.customers(shop_id, ["cid:90010"])["cid:90010"]
    assert (profile["email"], profile["name"]) == ("jo@example.com", "Jo Doe")


def test_the_same_order_transaction_and_refund_under_new_event_ids_count_once(
    shopify: Shopify, catalog: dict[str, int], stream: Any
) -> None:
    shop_id = shopify.shop.id
    make_offer(shop_id, [7001])
    sale = {"id": 51, "order_id": 9001, "kind": "sale", "status": "success", "amount": "20.00", "currency": "USD"}
    sale["processed_at"] = "2026-07-03T09:00:00Z"
    refund = {
        "id": 61,
        "order_id": 9001,
        "created_at": "2026-07-10T09:00:00Z",
        "transactions": [{"kind": "refund", "status": "success", "amount": "8.00", "currency": "USD"}],
    }
    events = [("orders/create", order_payload()), ("order_transactions/create", sale), ("refunds/create", refund)]
    deliver(shopify, stream, *events)
    once = figures(shop_id)
    deliver(shopify, stream, *events)  # Shopify's retries, or a second subscription: new event ids
    assert figures(shop_id) == once
    # A refund that names no line counts the preorder lines' share of the order's revenue: 80% of 8.00
    assert (once["orders"], once["balances_collected"], once["refunds_issued"]) == (1, D("20.00"), D("6.40"))
    assert once["balances_outstanding"] == D("24.00")


def test_events_that_arrive_before_their_order_wait_for_it(
    shopify: Shopify, catalog: dict[str, int], stream: Any
) -> None:
    shop_id = shopify.shop.id
    make_offer(shop_id, [7001])
    refund = {
        "id": 61,
        "order_id": 9001,
        "created_at": "2026-06-12T09:00:00Z",
        "refund_line_items": [{"line_item_id": 1, "quantity": 1, "subtotal": "40.00"}],
        "transactions": [
            {"kind": "refund", "status": "success", "amount": "30.00", "currency": "USD"},
            {"kind": "refund", "status": "failure", "amount": "30.00", "currency": "USD"},
        ],
    }
    failed = {"id": 52, "order_id": 9001, "kind": "sale", "status": "failure", "amount": "44.00", "currency": "USD"}
    failed["processed_at"] = "2026-07-03T09:00:00Z"
    cancelled = {**order_payload(), "cancelled_at": "2026-06-11T08:00:00Z", "cancel_reason": "customer"}
    deliver(shopify, stream, ("refunds/create", refund), ("order_transactions/create", failed))
    deliver(shopify, stream, ("orders/cancelled", cancelled))
    assert figures(shop_id) == {}  # nothing counts without the order
    waiting = deps.ledger().orders.order(shop_id, "9001")
    assert waiting is not None and "expires_at" in waiting and "placed_at" not in waiting
    deliver(shopify, stream, ("orders/create", order_payload()))
    got = figures(shop_id)
    assert got["refunds_issued"] == D("30.00") and got["refunds_count"] == 1  # the successful refund only
    assert (got["balances_failed"], got["failed_count"]) == (D("44.00"), 1)
    assert (got["cancelled_orders"], got["cancelled_units"], got["cancelled_revenue"]) == (1, 2, D("80.00"))
    assert "balances_outstanding" not in got and "balances_due" not in got  # cancelled: nothing is owed
    assert figures(shop_id, "po", (date(2026, 6, 11), date(2026, 6, 11))) == {
        "cancelled_orders": 1,
        "cancelled_units": 2,
        "cancelled_revenue": D("80.00"),
    }
    reasons = preorder_rollups.totals(deps.rollups(), shop_id, "po", *SUMMER, ["cancelled_reason_customer"])
    assert reasons["cancelled_reason_customer"] == 1
    recorded = deps.ledger().orders.order(shop_id, "9001")
    assert recorded is not None and "expires_at" not in recorded  # the order keeps its waiting events, for good


def test_balances_collected_and_failed_and_an_unknown_cancel_reason(
    shopify: Shopify, catalog: dict[str, int], stream: Any
) -> None:
    shop_id = shopify.shop.id
    make_offer(shop_id, [7001])

    def txn(txn_id: int, kind: str, status: str, amount: str, at: str) -> tuple[str, dict[str, Any]]:
        payload = {"id": txn_id, "order_id": 9001, "kind": kind, "status": status, "amount": amount, "processed_at": at}
        return "order_transactions/create", {**payload, "currency": "EUR"}

    deliver(
        shopify,
        stream,
        ("orders/create", order_payload()),
        txn(1, "sale", "success", "80.00", "2026-06-03T09:59:00Z"),  # the checkout's own charge: the deposit
        txn(2, "sale", "error", "40.00", "2026-07-03T09:00:00Z"),
        txn(3, "capture", "success", "10.00", "2026-07-04T09:00:00Z"),
    )
    got = figures(shop_id)
    # 10.00 EUR at the order's rate (110 USD / 100 EUR) is 11.00 USD
    assert (got["balances_collected"], got["collected_count"]) == (D("11.00"), 1)
    assert (got["balances_failed"], got["failed_count"]) == (D("44.00"), 1)
    assert got["balances_outstanding"] == D("33.00")
    eur = figures(shop_id, "po:c:EUR")
    assert (eur["balances_collected"], eur["balances_failed"], eur["balances_outstanding"]) == (
        D("10.00"),
        D("40.00"),
        D("30.00"),
    )
    deliver(shopify, stream, ("orders/cancelled", {"id": 9001, "cancelled_at": "2026-07-05T00:00:00Z"}))
    unknown = preorder_rollups.totals(deps.rollups(), shop_id, "po", *SUMMER, ["cancelled_reason_unknown"])
    assert unknown["cancelled_reason_unknown"] == 1 and "balances_outstanding" not in figures(shop_id)


def test_another_shops_offers_make_no_preorder_here(
    shopify: Shopify, catalog: dict[str, int], other_shop: Shop, stream: Any
) -> None:
    make_offer(other_shop.id, [7001])  # the same selling plan id, in another shop
    deliver(shopify, stream, ("orders/create", order_payload()))
    assert deps.ledger().orders.order(shopify.shop.id, "9001") is None
    assert figures(shopify.shop.id) == {} and figures(other_shop.id) == {}


def test_customers_are_distinct_per_bucket_and_exactly_over_any_window(
    shopify: Shopify, catalog: dict[str, int], stream: Any
) -> None:
    shop_id = shopify.shop.id
    offer_id = make_offer(shop_id, [7001])
    later = {"created_at": "2026-06-20T10:00:00Z"}
    deliver(
        shopify,
        stream,
        ("orders/create", order_payload(9001)),
        ("orders/create", {**order_payload(9002), "customer": {"id": 90010}}),  # the same customer, same day
        ("orders/create", order_payload(9003, email="sam@example.com")),
        ("orders/create", {**order_payload(9004), "customer": {"id": 90010}, **later}),  # same customer again
    )
    day = preorder_rollups.totals(deps.rollups(), shop_id, "po", date(2026, 6, 3), date(2026, 6, 3), ["customers"])
    month = preorder_rollups.totals(deps.rollups(), shop_id, f"po:o:{offer_id}", *JUNE, ["customers", "orders"])
    assert day["customers"] == 2 and month == {"customers": 2, "orders": 4}
    # A window of several buckets (a cut month: weeks and days): the customer rows give the exact set
    window = preorder_rollups.customers(deps.rollups(), shop_id, date(2026, 6, 2), date(2026, 6, 25), offer_id)
    assert sorted(window) == ["cid:90010", "cid:90030"]
    assert window["cid:90010"] == {
        "orders": 3,
        "units": 6,
        "revenue": D("240.00"),
        "balances_outstanding": D("132.00"),
    }
    eur = preorder_rollups.customers(deps.rollups(), shop_id, date(2026, 6, 2), date(2026, 6, 25), currency="EUR")
    assert eur["cid:90030"]["revenue"] == D("72.72")
    profiles = deps.ledger().orders.customers(shop_id, sorted(window))
    assert profiles["cid:90010"]["last_order_at"] == "2026-06-20T10:00:00.000Z"


def test_a_change_too_big_for_one_transaction_counts_once_even_after_a_crash_between_its_parts(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backinstock import ids
    from backinstock.models.rollups import Change
    from backinstock.repositories.rollups import SHARDS, ApplyFailed, Record, shard_pk

    change = Change("s1", plain={(f"po:v:{i}", "D#2026-06-03"): {"units": D(1)} for i in range(250)})
    repo = deps.rollups()
    transact, calls = repo.transact, []

    def crash_at_the_second_part(items: list[dict[str, Any]]) -> None:
        calls.append(len(items))
        if len(calls) == 2:
            raise ConnectionError("the function timed out")
        transact(items)

    monkeypatch.setattr(repo, "transact", crash_at_the_second_part)
    batch = [Record(7, change)]
    with pytest.raises(ApplyFailed):
        repo.apply_batch("s1", "SHOP#s1", batch, ids.now())
    assert repo.apply_batch("s1", "SHOP#s1", batch, ids.now()).applied == 1  # Lambda's retry of the record
    assert calls == [100, 100, 100, 53]  # part 0 skipped on the retry (the mark says it is in)
    assert repo.apply_batch("s1", "SHOP#s1", batch, ids.now()).replayed == 1
    rows = [
        row
        for shard in range(SHARDS)
        for row in repo.query(
            KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": {"S": shard_pk("s1", shard)}}
        )
    ]
    assert len(rows) == 250 and {r["units"]["N"] for r in rows} == {"1"}


def test_customers_redact_deletes_the_preorder_profiles_and_leaves_the_anonymous_figures(
    shopify: Shopify, catalog: dict[str, int], stream: Any
) -> None:
    from backinstock.services.preorder_ledger import customer_keys

    shop_id = shopify.shop.id
    make_offer(shop_id, [7001])
    guest = {**order_payload(9002, email="Jo@Example.com"), "customer": None}  # a guest checkout: keyed by email
    deliver(shopify, stream, ("orders/create", order_payload(9001)), ("orders/create", guest))
    keys = customer_keys(90010, "jo@example.com")
    assert sorted(deps.ledger().orders.customers(shop_id, keys)) == sorted(keys)
    # A data request reports what is held: both preorder customer records and the requested order's ledger entry
    named = {"shop_id": 1, "shop_domain": shopify.domain}  # the shop, as a privacy payload names it
    request = {
        **named,
        "customer": {"id": 90010, "email": "jo@example.com"},
        "orders_requested": [9001],
        "data_request": {"id": 1},
    }
    deliver(shopify, stream, ("customers/data_request", request))
    stored = deps.privacy().records.data_request(shop_id, "1")
    assert stored is not None
    report = json.loads(stored["report"])
    assert sorted(c["customer_key"] for c in report["preorder_customers"]) == sorted(keys)
    assert [o["order_id"] for o in report["preorder_orders"]] == ["9001"]
    before = figures(shop_id)
    redact = {**named, "customer": {"id": 90010, "email": "jo@example.com"}, "orders_to_redact": [9001, 9002]}
    deliver(shopify, stream, ("customers/redact", redact))
    assert deps.ledger().orders.customers(shop_id, keys) == {}
    assert figures(shop_id) == before and before["customers"] == 2  # the figures stay, anonymous


def test_the_seed_writes_a_preorder_history_that_the_counters_show(shop: Shop, stream: Any) -> None:
    import random

    from backinstock import ids
    from backinstock_tools.local.seed import seed_preorders

    now = ids.now()
    counts = seed_preorders(shop.id, 12, 30, random.Random(8), now)  # a shape with every kind of event
    assert counts["offers"] == 2 and counts["preorders"] == 12
    assert counts["balances_collected"] and counts["cancellations"] and counts["refunds"]
    stream.drain()
    window = (now.date() - timedelta(days=31), now.date())
    got = figures(shop.id, "po", window)
    assert got["orders"] == counts["preorders"]
    assert got.get("cancelled_orders", 0) == counts["cancellations"]
    assert got.get("collected_count", 0) == counts["balances_collected"]
    assert got.get("failed_count", 0) == counts["balances_failed"]
    assert got.get("refunds_count", 0) == counts["refunds"]
    distinct = preorder_rollups.customers(deps.rollups(), shop.id, *window)
    assert 0 < len(distinct) <= 6  # the pool of returning buyers
    assert got["customers"] >= len(distinct)  # a sum of buckets counts a buyer once per bucket: not the window's
    assert sum(c["orders"] for c in distinct.values()) == counts["preorders"] and got["deposits_collected"] > 0
    listed = offers.list_offers(deps.offers(), shop.id, OfferListQuery())
    assert {o.name for o in listed.offers} == {"Merino Beanie: winter drop", "Trail Runner pre-release"}
