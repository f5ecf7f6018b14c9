"""Money rules: exact decimals, two-decimal strings, and allocations whose parts sum exactly to the whole."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backinstock import money

pytestmark = pytest.mark.unit

amounts = st.decimals(min_value=0, max_value=1_000_000, places=2, allow_nan=False, allow_infinity=False)
weights = st.lists(st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False), min_size=1, max_size=12)


@given(amounts, weights)
def test_an_allocation_sums_exactly_and_each_part_is_within_a_cent_of_its_share(
    total: Decimal, parts_weights: list[Decimal]
) -> None:
    parts = money.allocate(total, parts_weights)
    assert sum(parts, Decimal(0)) == total
    assert all(p >= 0 and p == p.quantize(money.CENT) for p in parts)
    weight_sum = sum(parts_weights, Decimal(0))
    for part, weight in zip(parts, parts_weights, strict=True):
        share = total * weight / weight_sum if weight_sum else total / len(parts_weights)
        assert abs(part - share) < money.CENT


def test_the_cents_left_over_go_to_the_parts_rounding_cut_most_never_below_zero() -> None:
    # 0.15 over ten equal lines and a tiny one: half-up rounding would give 0.02 x 10 = 0.20 and a last part of -0.05
    parts = money.allocate(Decimal("0.15"), [Decimal(1)] * 10 + [Decimal("0.0001")])
    assert parts == [Decimal("0.02")] * 5 + [Decimal("0.01")] * 5 + [Decimal("0.00")]
    assert money.allocate(Decimal("100.00"), [Decimal("1"), Decimal("1"), Decimal("1")]) == [
        Decimal("33.34"),
        Decimal("33.33"),
        Decimal("33.33"),
    ]
    assert money.allocate(Decimal("10"), [Decimal(0), Decimal(0)]) == [Decimal("5.00"), Decimal("5.00")]
    assert money.allocate(Decimal("10"), []) == []
    with pytest.raises(ValueError, match="negative"):
        money.allocate(Decimal("-1"), [Decimal(1)])


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [("12.5", Decimal("12.5")), (12.5, Decimal("12.5")), (0.1, Decimal("0.1")), ("x", None), (None, None)],
)
def test_payload_money_parses_exactly_or_not_at_all(raw: object, parsed: Decimal | None) -> None:
    assert money.parse(raw) == parsed


def test_money_renders_with_two_decimals_and_reads_shopify_money_sets() -> None:
    assert money.render(Decimal("12.5")) == "12.50"
    assert money.render(Decimal("0.005")) == "0.01"  # half up
    assert money.render(3) == "3.00"
    assert money.amount(None) == Decimal("0.00") and money.amount("7.129") == Decimal("7.13")
    price_set = {"shop_money": {"amount": "10.00", "currency_code": "USD"}, "presentment_money": {"amount": "9.20"}}
    assert money.money_set(price_set, "presentment_money") == Decimal("9.20")
    assert money.money_set(None, "shop_money") is None
    assert money.scale(Decimal("10.00"), Decimal("92"), Decimal("100")) == Decimal("9.20")
    assert money.scale(Decimal("10.00"), Decimal("1"), Decimal("0")) == Decimal("0.00")


def test_amounts_follow_their_currencys_minor_units() -> None:
    """Issue 24: JPY has none ("1200", not "1200.00"), KWD three, the rest two."""
    from decimal import Decimal

    from backinstock import money

    assert money.render(Decimal("1200.00"), "JPY") == "1200"
    assert money.render(Decimal("1199.5"), "jpy") == "1200"
    assert money.render(Decimal("12.5"), "USD") == "12.50"
    assert money.render(Decimal("1.2345"), "KWD") == "1.235"
    assert money.minor_units("EUR") == 2 and money.minor_units(None) == 2


def test_an_order_line_whose_amount_is_not_a_finite_number_counts_zero_in_the_attribution_too() -> None:
    """Issue 27: the attribution parsed amounts with a helper of its own, which let `NaN` and `Infinity` through to a
    comparison that raised, so the whole order failed (its webhook retried into the DLQ, its other lines never
    attributed). It parses as the preorder ledger does now (`money.parse`): what is not a finite number counts 0.
    Everything else is as before: exact until the line's total, rounded once to the cent, half up."""
    from decimal import Decimal

    from backinstock.services.attribution import line_revenue

    assert line_revenue({"price": "NaN", "quantity": 2}) == Decimal("0.00")
    assert line_revenue({"price": "Infinity", "quantity": 1}) == Decimal("0.00")
    assert line_revenue({"price": "10", "quantity": 1, "total_discount": "NaN"}) == Decimal("10.00")
    assert str(line_revenue({"price": "12.345", "quantity": 3})) == "37.04"  # 37.035, half up
    assert str(line_revenue({"price": " 3.5 ", "quantity": 3, "total_discount": "abc"})) == "10.50"
    assert str(line_revenue({"price": None, "quantity": 1})) == "0.00"
    discounted = {"price": "20", "quantity": 2, "discount_allocations": [{"amount": "5.005"}, {"amount": None}]}
    assert str(line_revenue(discounted)) == "35.00"  # 34.995, half up
