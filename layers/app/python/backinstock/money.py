"""Money: exact decimals, two-decimal strings, and splitting an amount into parts that sum to it exactly.

Every amount the app stores or shows is a `Decimal` quantized to cents and rendered as a string with two decimals
(`"12.50"`), never a float. Shopify sends money as strings (`"12.50"`) or as `*_set` objects with `shop_money` and
`presentment_money`; `amount` reads either form.

`allocate` splits a total over weighted parts (a deposit over an order's lines, pro rata to each line's revenue) by
the largest-remainder method: every part is first rounded down to the cent, and the cents left over go, one each, to
the parts whose rounding cut the most (ties: the earlier part). So the parts sum exactly to the total, none is
negative, and each is within one cent of its exact share. ("The remainder on the last part" would also sum exactly,
but can push the last part a cent per part away from its share, or below zero when the others round up.)
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def cents(value: Decimal) -> Decimal:
    """Rounded to the cent, half up (the way a shop rounds a price)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse(value: Any) -> Decimal | None:
    """A decimal from what a payload or an item holds (`"12.5"`, `12.5`, `Decimal`), or None when absent or not
    a number. Floats go through `str`, so 0.1 stays 0.1."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def amount(value: Any, default: Decimal = ZERO) -> Decimal:
    """`parse`, in cents, with a default for what is absent."""
    number = parse(value)
    return cents(number) if number is not None else default


def render(value: Decimal | int, currency: str | None = None) -> str:
    """An amount as the API shows it: in its currency's minor units (two without a currency), rounded half up:
    `render(Decimal("12.5"))` -> `"12.50"`, `render(Decimal("1200.00"), "JPY")` -> `"1200"`. The one rendering of
    money: stored amounts, report figures and their CSV cells (which write the reads' strings as they are)."""
    return str(Decimal(value).quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP))


def money_set(value: Any, which: str) -> Decimal | None:
    """The `shop_money` or `presentment_money` amount of a Shopify `*_set` object, or None."""
    if not isinstance(value, dict):
        return None
    side = value.get(which)
    return parse(side.get("amount")) if isinstance(side, dict) else None


def allocate(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split `total` (cents, >= 0) over `weights` (>= 0) pro rata, by largest remainder: the parts sum exactly to
    `total`, each within a cent of `total * weight / sum(weights)`. All-zero weights split it equally."""
    if not weights:
        return []
    total = cents(total)
    if total < 0:
        raise ValueError(f"cannot allocate a negative amount ({total})")
    weights = [max(Decimal(w), Decimal(0)) for w in weights]
    weight_sum = sum(weights, Decimal(0))
    if weight_sum == 0:
        weights = [Decimal(1)] * len(weights)
        weight_sum = Decimal(len(weights))
    exact = [total * w / weight_sum for w in weights]
    parts = [e.quantize(CENT, rounding=ROUND_DOWN) for e in exact]
    left = int((total - sum(parts, Decimal(0))) / CENT)
    # The cents left over: one each to the parts that rounding cut most (stable: earlier parts win ties).
    order = sorted(range(len(parts)), key=lambda i: -(exact[i] - parts[i]))
    for i in order[:left]:
        parts[i] += CENT
    return parts


def scale(value: Decimal, numerator: Decimal, denominator: Decimal) -> Decimal:
    """`value * numerator / denominator` in cents (0 when the denominator is 0): a share, or a currency rate."""
    if denominator == 0:
        return ZERO
    return cents(value * numerator / denominator)


# ISO 4217 minor units of the currencies that do not have two (every other has two). A table rather than a library
# (babel knows them): the Lambda layer stays small, and the list changes about once a decade.
MINOR_UNITS = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF"),
        0,
    ),
    "XOF": 0,
    "XPF": 0,
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4,
    "UYW": 4,
}


def minor_units(currency: str | None) -> int:
    """How many decimals an amount in `currency` has (ISO 4217): JPY 0, USD 2, KWD 3."""
    return MINOR_UNITS.get((currency or "").upper(), 2)
