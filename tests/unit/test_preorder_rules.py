"""Preorder rules, pure: an order's preorder lines and their money (deposit, balance, presentment amounts), and the
report counters a ledger order contributes (balances collected and failed, cancellations, refunds, customers)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backinstock.services import preorder_ledger as ledger
from backinstock.services import preorder_rollups as rules
from backinstock.services.rollups import change_of

pytestmark = pytest.mark.unit

PLACED = datetime(2026, 6, 3, 10, tzinfo=UTC)
OFFER = {"offer_id": "o1", "market_ids": [5], "balance_due_trigger": "time_after_checkout", "balance_due_days": 30}
D = Decimal


def line(line_id: int, price: str, quantity: int = 1, plan: int | None = 7001, **extra: Any) -> dict[str, Any]:
    return {
        "id": line_id,
        "variant_id": 100 + line_id,
        "product_id": 10,
        "price": price,
        "quantity": quantity,
        "selling_plan_id": plan,
        **extra,
    }


def order(lines: list[dict[str, Any]], total: str, outstanding: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": 9001,
        "created_at": "2026-06-03T10:00:00Z",
        "currency": "USD",
        "total_price": total,
        "total_outstanding": outstanding,
        "line_items": lines,
        **extra,
    }


def money_of(lines: list[dict[str, Any]], name: str) -> Decimal:
    return sum((D(x[name]) for x in lines), D(0))


# ------------------------------------------------------------------------------------------- lines and money
def test_the_deposit_is_what_checkout_paid_and_the_balance_what_is_outstanding_split_by_line_revenue() -> None:
    # price x quantity - discount allocations: 30 x 2 - 10 = 50, and 50: revenue 100, tax 10, half paid at checkout
    discounted = line(1, "30.00", 2, discount_allocations=[{"amount": "10.00"}])
    lines, totals = ledger.preorder_lines(
        order([discounted, line(2, "50.00")], "110.00", "55.00"), {7001: OFFER}, PLACED
    )
    assert [x["revenue"] for x in lines] == ["50.00", "50.00"]
    assert [x["deposit"] for x in lines] == ["27.50", "27.50"]
    assert [x["balance"] for x in lines] == ["27.50", "27.50"]
    assert [x["revenue_deposit"] for x in lines] == ["25.00", "25.00"]  # half of each line's revenue
    assert totals == {"total": "110.00", "revenue_all": "100.00", "total_p": "110.00", "revenue_all_p": "100.00"}
    assert lines[0]["market_id"] == 5 and lines[0]["due_on"] == "2026-07-03" and lines[0]["offer_id"] == "o1"


@given(
    st.lists(
        st.tuples(st.decimals(min_value=0, max_value=5000, places=2), st.integers(min_value=1, max_value=5)),
        min_size=1,
        max_size=6,
    ),
    st.decimals(min_value=0, max_value=100, places=2),
    st.decimals(min_value=0, max_value=1, places=2),
)
def test_deposits_and_balances_always_sum_exactly_to_what_the_order_says(
    prices: list[tuple[Decimal, int]], extra: Decimal, paid: Decimal
) -> None:
    items = [line(i + 1, str(p), q) for i, (p, q) in enumerate(prices)]
    total = sum((p * q for p, q in prices), D(0)) + extra  # taxes and shipping on top
    outstanding = (total * (1 - paid)).quantize(D("0.01"))
    lines, _ = ledger.preorder_lines(order(items, str(total), str(outstanding)), {7001: OFFER}, PLACED)
    assert money_of(lines, "deposit") == total - outstanding
    assert money_of(lines, "balance") == outstanding
    for x in lines:
        assert D(x["deposit"]) >= 0 and D(x["balance"]) >= 0
        assert D(x["revenue_deposit"]) <= D(x["revenue"])


def test_in_a_mixed_cart_only_the_preorder_lines_share_is_a_deposit_and_other_plans_are_ignored() -> None:
    # A preorder line (100, half paid), a regular line (100, paid in full) and a line of another app's plan
    items = [line(1, "100.00"), line(2, "100.00", plan=None), line(3, "20.00", plan=9999)]
    lines, totals = ledger.preorder_lines(order(items, "220.00", "50.00"), {7001: OFFER}, PLACED)
    assert [(x["line_id"], x["deposit"], x["balance"]) for x in lines] == [("1", "50.00", "50.00")]
    assert totals["revenue_all"] == "220.00"
    assert ledger.preorder_lines(order([line(2, "1.00", plan=None)], "1.00", "0"), {7001: OFFER}, PLACED) == ([], {})


def test_presentment_amounts_come_from_the_money_sets_and_the_outstanding_at_the_orders_rate() -> None:
    item = line(1, "100.00", price_set={"presentment_money": {"amount": "92.00"}})
    payload = order(
        [item],
        "100.00",
        "50.00",
        presentment_currency="EUR",
        total_price_set={"shop_money": {"amount": "100.00"}, "presentment_money": {"amount": "92.00"}},
    )
    lines, totals = ledger.preorder_lines(payload, {7001: OFFER}, PLACED)
    assert (lines[0]["revenue_p"], lines[0]["deposit_p"], lines[0]["balance_p"]) == ("92.00", "46.00", "46.00")
    assert totals["total_p"] == "92.00"
    with_set = {**payload, "total_outstanding_set": {"presentment_money": {"amount": "45.99"}}}
    assert ledger.preorder_lines(with_set, {7001: OFFER}, PLACED)[0][0]["balance_p"] == "45.99"


def test_the_market_is_the_offers_only_market_and_the_due_date_the_payment_terms_else_the_offers_rule() -> None:
    two_markets = {**OFFER, "market_ids": [5, 6]}
    assert "market_id" not in ledger.preorder_lines(order([line(1, "1")], "1", "0"), {7001: two_markets}, PLACED)[0][0]
    exact = {"offer_id": "o2", "balance_due_trigger": "exact_time", "balance_due_at": "2026-09-01T00:00:00.000Z"}
    assert ledger.preorder_lines(order([line(1, "1")], "1", "1"), {7001: exact}, PLACED)[0][0]["due_on"] == "2026-09-01"
    terms = {
        "payment_schedules": [
            {"due_at": "2026-08-15T00:00:00Z"},
            {"due_at": "2026-06-04T00:00:00Z", "completed_at": "x"},
        ]
    }
    payload = order([line(1, "1")], "1", "1", payment_terms=terms)
    assert ledger.preorder_lines(payload, {7001: OFFER}, PLACED)[0][0]["due_on"] == "2026-08-15"
    assert (
        "due_on" not in ledger.preorder_lines(order([line(1, "1")], "1", "1"), {7001: {"offer_id": "o"}}, PLACED)[0][0]
    )


@pytest.mark.parametrize(
    ("given_reason", "counted"),
    [("customer", "customer"), ("FRAUD", "fraud"), (None, "unknown"), ("", "unknown"), ("new_reason", "other")],
)
def test_cancel_reasons(given_reason: str | None, counted: str) -> None:
    assert ledger.cancel_reason(given_reason) == counted


def test_a_customer_is_shopifys_customer_else_their_email_and_their_details_stay_off_the_order() -> None:
    key, profile = ledger.customer_of({"id": 1, "customer": {"id": 77, "email": "Jo@x.io", "first_name": "Jo"}})
    assert key == "cid:77" and profile == {"email": "jo@x.io", "name": "Jo", "shopify_customer_id": "77"}
    guest_a, _ = ledger.customer_of({"id": 1, "email": "Jo@X.io"})
    guest_b, _ = ledger.customer_of({"id": 2, "contact_email": "jo@x.io "})
    assert guest_a == guest_b and guest_a.startswith("em:") and "jo" not in guest_a
    assert ledger.customer_of({"id": 3})[0] == "order:3"


# -------------------------------------------------------------------------------------------------- counters
def ledger_order(**events: Any) -> dict[str, Any]:
    """A stored ledger order: two lines of offer o1 (variant 101 and 102), 100 each, half paid."""
    lines, totals = ledger.preorder_lines(
        order([line(1, "100.00"), line(2, "100.00")], "200.00", "100.00", presentment_currency="USD"),
        {7001: OFFER},
        PLACED,
    )
    return {
        "entity": "preorder",
        "shop_id": "s1",
        "order_id": "9001",
        "placed_at": "2026-06-03T10:00:00.000Z",
        "currency": "USD",
        "presentment_currency": "USD",
        "customer_key": "cid:77",
        "lines": lines,
        **totals,
        **events,
    }


def txn(kind: str, status: str, amount: str, at: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "status": status, "amount": amount, "currency": "USD", "at": at, **extra}


def day(counters: dict[tuple[str, str], Any], dimension: str, date: str) -> dict[str, Decimal]:
    return dict(counters.get((dimension, f"D#{date}"), {}))


def test_an_order_counts_where_it_was_placed_and_where_its_balance_is_due() -> None:
    counters = rules.order_counters(ledger_order())
    assert day(counters, "po", "2026-06-03") == {
        "orders": 1,
        "units": 2,
        "revenue": D("200.00"),
        "revenue_deposit": D("100.00"),
        "revenue_balance": D("100.00"),
        "deposits_collected": D("100.00"),
        "balances_outstanding": D("100.00"),
    }
    assert day(counters, "po:o:o1:v:101:m:5", "2026-06-03")["orders"] == 1  # the order, in each line's dimensions
    assert day(counters, "po:o:o1:p:10", "2026-06-03")["orders"] == 1  # once, though both lines are product 10
    assert day(counters, "po", "2026-07-03") == {"balances_due": D("100.00"), "balances_due_outstanding": D("100.00")}
    assert day(counters, "po:c:USD", "2026-06-03")["revenue"] == D("200.00")
    assert counters[("po", "W#2026-06-01")]["orders"] == 1 and counters[("po", "M#2026-06-01")]["orders"] == 1
    # Per customer, in the shop and the offer (with and without the currency): the customers report's rows
    assert dict(counters[("pcu:o:o1", "D#2026-06-03#cid:77")]) == {
        "orders": 1,
        "units": 2,
        "revenue": D("200.00"),
        "balances_outstanding": D("100.00"),
    }
    assert ("pcu:c:USD", "M#2026-06-01#cid:77") in counters


def test_events_waiting_for_their_order_count_nothing() -> None:
    waiting = {"entity": "preorder", "shop_id": "s1", "order_id": "9", "cancel": {"at": "2026-06-05T00:00:00.000Z"}}
    assert rules.order_counters(waiting) == {}
    assert change_of(None, waiting) is None


def test_only_sales_and_captures_after_the_order_collect_the_balance_up_to_what_is_owed() -> None:
    o = ledger_order(
        **{
            "txn:1": txn("sale", "success", "100.00", "2026-06-03T09:59:59.000Z"),  # the checkout: the deposit
            "txn:2": txn("authorization", "success", "50.00", "2026-06-03T09:59:00.000Z"),
            "txn:3": txn("capture", "success", "50.00", "2026-06-04T00:00:00.000Z", parent_id="2"),  # deposit too
            "txn:4": txn("sale", "failure", "60.00", "2026-07-03T01:00:00.000Z"),
            "txn:5": txn("sale", "success", "60.00", "2026-07-03T02:00:00.000Z"),
            "txn:6": txn("capture", "success", "70.00", "2026-07-04T00:00:00.000Z"),  # only 40 was owed
            "txn:7": txn("sale", "success", "5.00", "2026-07-05T00:00:00.000Z"),  # nothing owed: not a collection
            "txn:8": txn("void", "success", "5.00", "2026-07-05T00:00:00.000Z"),
        }
    )
    counters = rules.order_counters(o)
    assert day(counters, "po", "2026-07-03") == {
        "balances_due": D("100.00"),
        "balances_collected": D("60.00"),
        "collected_count": 1,
        "balances_failed": D("60.00"),
        "failed_count": 1,
    }
    assert day(counters, "po", "2026-07-04") == {"balances_collected": D("40.00"), "collected_count": 1}
    assert day(counters, "po", "2026-07-05") == {}
    assert "balances_outstanding" not in day(counters, "po", "2026-06-03")  # all collected: zero, not stored
    assert day(counters, "po:v:101", "2026-07-03")["balances_collected"] == D("30.00")  # pro rata to what is owed


@given(st.lists(st.decimals(min_value=0, max_value=150, places=2), max_size=8))
def test_collections_never_take_a_line_below_zero_and_always_add_up(amounts: list[Decimal]) -> None:
    events = {
        f"txn:{i}": txn("sale", "success", str(a), f"2026-07-0{1 + i % 8}T00:00:00.000Z") for i, a in enumerate(amounts)
    }
    paid = rules.payments(ledger_order(**events))
    collected = sum((sum(parts, D(0)) for _, parts, _, _ in paid["collected"]), D(0))
    outstanding = sum((r[0] for r in paid["remaining"]), D(0))
    assert all(r[0] >= 0 and r[1] >= 0 for r in paid["remaining"])
    assert collected + outstanding == D("100.00")
    assert collected == min(sum(amounts, D(0)), D("100.00"))


def test_a_cancellation_counts_on_its_day_with_its_reason_and_ends_what_was_owed() -> None:
    before = ledger_order()
    cancelled = ledger_order(cancel={"at": "2026-06-10T08:00:00.000Z", "reason": "inventory"})
    change = change_of(before, cancelled)
    assert change is not None
    assert change.plain[("po", "D#2026-06-10")] == {
        "cancelled_orders": 1,
        "cancelled_units": 2,
        "cancelled_revenue": D("200.00"),
        "cancelled_reason_inventory": 1,
    }
    assert change.plain[("po", "D#2026-06-03")] == {"balances_outstanding": D("-100.00")}  # orders stay counted
    assert change.plain[("po", "D#2026-07-03")] == {
        "balances_due": D("-100.00"),
        "balances_due_outstanding": D("-100.00"),
    }
    unknown = rules.order_counters(ledger_order(cancel={"at": "2026-06-10T08:00:00.000Z", "reason": "odd"}))
    assert day(unknown, "po", "2026-06-10")["cancelled_reason_unknown"] == 1


def test_refunds_count_for_the_preorder_lines_they_name_or_their_share_of_the_order() -> None:
    named = ledger_order(
        **{
            "refund:1": {"at": "2026-06-20T00:00:00.000Z", "amount": "30.00", "line_subtotals": {"1": "30.00"}},
            "refund:2": {"at": "2026-06-21T00:00:00.000Z", "amount": "12.00", "line_subtotals": {"99": "12.00"}},
            "refund:3": {"at": "2026-06-22T00:00:00.000Z", "amount": "10.00"},
        }
    )
    counters = rules.order_counters(named)
    assert day(counters, "po", "2026-06-20") == {"refunds_issued": D("30.00"), "refunds_count": 1}
    assert day(counters, "po:v:101", "2026-06-20") == {"refunds_issued": D("30.00"), "refunds_count": 1}
    assert day(counters, "po:v:102", "2026-06-20") == {}
    assert day(counters, "po", "2026-06-21") == {}  # a line that is not a preorder line
    assert day(counters, "po:v:102", "2026-06-22") == {"refunds_issued": D("5.00"), "refunds_count": 1}


def test_a_customer_rows_creation_counts_one_distinct_customer_in_its_dimension_and_bucket() -> None:
    row = {"PK": "SHOP#s1#ROLLUP", "SK": "pcu:o:o1:c:EUR#W#2026-06-01#cid:77", "entity": "rollup_customer", "orders": 1}
    change = change_of(None, row)
    assert change is not None and change.shop_id == "s1"
    assert change.plain == {("po:o:o1:c:EUR", "W#2026-06-01"): {"customers": D(1)}}
    assert change_of(row, {**row, "orders": 2}) is None  # the same customer again: still one
    assert rules.dimension_for("o1", product_id=10, variant_id=101, currency="eur") == "po:o:o1:v:101:c:EUR"
    assert rules.dimension_for(product_id=10, market_id=5) == "po:p:10:m:5"
