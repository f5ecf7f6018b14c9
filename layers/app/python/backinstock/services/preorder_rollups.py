"""The preorder report counters: what one ledger order (its whole stored state) contributes to the rollups.

The stream aggregator (services/rollups.py, repositories/rollups/) adds `counters(new image) - counters(old
image)` for each change of a `PREORDER#<order>` item, exactly once per stream record. Because the counters are a
function of everything the item holds (the order, its transactions, refunds and cancellation), the events' arrival
order does not matter: an event stored before its order counts nothing (there are no lines yet) and counts in full
when the order arrives; a replayed event changes nothing stored, so nothing counted. docs/DATA_MODEL.md
("Preorder rollups") lays the counters out; in short:

Dimensions (`dimension_for`): `po` (the shop), then optionally `:o:<offer>`, `:p:<product>` or `:v:<variant>`,
`:m:<market>`, `:c:<presentment currency>`, in that order: every combination a report filter can ask for. A line
counts in each combination of its own offer, product, variant and market (market only when known); the `:c:` twins
hold presentment amounts and count only the order's presentment currency, the others shop amounts.

Buckets: day, ISO week, month (`backinstock.buckets`), of the date each figure belongs to:
- placed (the order's `placed_at`): `orders` (an order once per dimension), `units`, `revenue`, `revenue_deposit`,
  `revenue_balance`, `deposits_collected`, `balances_outstanding` (now: the balance not yet collected, 0 once
  cancelled). Cancelled orders count in orders/units/revenue: they were placed.
- due (the line's balance due date): `balances_due` (the balance, unless cancelled), `balances_due_outstanding`.
- each balance transaction's time: `balances_collected`, `collected_count`; `balances_failed`, `failed_count`.
- the cancellation's time: `cancelled_orders`, `cancelled_units`, `cancelled_revenue`, `cancelled_reason_<reason>`.
- each refund's time: `refunds_issued`, `refunds_count`.
- `customers` (distinct customers placing preorders in the bucket): see `customer_row_change`.

Balance transactions: a `sale` or `capture` processed after the order was placed (Shopify charges the checkout,
the deposit, before it creates the order; a capture of an authorization made at checkout is the deposit too):
`success` collects the balance, up to what is still outstanding, taken in processing order and allocated over the
lines pro rata to what each still owes (so no line goes below zero); `failure` / `error` is a failed attempt.
Anything else (authorizations, voids, `refund` transactions: refunds come from `refunds/create`) counts nothing.

Refunds: the refunded amount counts for the order's preorder lines in proportion to the subtotals of the refund's
lines (a refund of other lines only counts nothing), or, when it names no lines, the preorder lines' share of the
order's revenue; it is allocated over those lines the same way.

Pure functions: no boto3.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from backinstock import buckets, money
from backinstock.models.rollups import CANCEL_REASONS, CUSTOMER_ROWS, PREORDERS, Change, Deltas, net
from backinstock.repositories.rollups import RollupRepository, customer_row_key

ENTITY = "preorder"
TOTAL = "TOTAL"  # the all-time bucket (exchange rates: `fx_p_<currency>`, `fx_s_<currency>`, `fx_n_<currency>`)
REASONS = CANCEL_REASONS  # Shopify's cancel reasons, and "unknown" for a cancellation without one
# Every counter of a `po...` rollup item (docs/DATA_MODEL.md, "Preorder rollups").
COUNTERS = (
    "orders",
    "units",
    "revenue",
    "revenue_deposit",
    "revenue_balance",
    "deposits_collected",
    "balances_outstanding",
    "balances_due",
    "balances_due_outstanding",
    "balances_collected",
    "collected_count",
    "balances_failed",
    "failed_count",
    "cancelled_orders",
    "cancelled_units",
    "cancelled_revenue",
    *(f"cancelled_reason_{r}" for r in REASONS),
    "refunds_issued",
    "refunds_count",
    "customers",
    "revenue_shop",
)
# The counters that are money (in the dimension's currency; render with `money.render`); the others count.
AMOUNTS = frozenset(
    {
        "revenue",
        "revenue_deposit",
        "revenue_balance",
        "deposits_collected",
        "balances_outstanding",
        "balances_due",
        "balances_due_outstanding",
        "balances_collected",
        "balances_failed",
        "cancelled_revenue",
        "refunds_issued",
        "revenue_shop",
    }
)
COLLECTING = ("sale", "capture")
FAILED = ("failure", "error")


# ------------------------------------------------------------------------------------------------- dimensions
def dimension_for(
    offer_id: str | None = None,
    product_id: int | None = None,
    variant_id: int | None = None,
    market_id: int | None = None,
    currency: str | None = None,
    prefix: str = PREORDERS,
) -> str:
    """The dimension a report reads for its filters (a variant wins over a product: the reader checks that the
    variant belongs to the product, as the back-in-stock reports do)."""
    out = prefix
    if offer_id:
        out += f":o:{offer_id}"
    if variant_id is not None:
        out += f":v:{variant_id}"
    elif product_id is not None:
        out += f":p:{product_id}"
    if market_id is not None:
        out += f":m:{market_id}"
    if currency:
        out += f":c:{currency.upper()}"
    return out


def line_dimensions(line: Mapping[str, Any], currency: str | None, prefix: str = PREORDERS) -> list[str]:
    """Every dimension one line counts in: {shop, offer} x {-, product, variant} x {-, market}, with the currency
    suffix of the presentment view (`prefix`: the counters', or the customer rows')."""
    scopes = ["", f":o:{line['offer_id']}"]
    items = [""]
    if line.get("product_id"):
        items.append(f":p:{line['product_id']}")
    if line.get("variant_id"):
        items.append(f":v:{line['variant_id']}")
    markets = [""] + ([f":m:{line['market_id']}"] if line.get("market_id") else [])
    tail = f":c:{currency.upper()}" if currency else ""
    return [f"{prefix}{s}{i}{m}{tail}" for s in scopes for i in items for m in markets]


def customer_dimensions(line: Mapping[str, Any], currency: str | None) -> list[str]:
    """The customer rows a line's customer counts in: every dimension the line's counters count in (shop or offer,
    product or variant, market; with the currency suffix of the presentment view), so that a report's product,
    variant and market filters narrow `customers` as they narrow every other figure."""
    return line_dimensions(line, currency, CUSTOMER_ROWS)


# --------------------------------------------------------------------------------------------------- counting
class _Counts:
    """Deltas being built: amounts per line into each of its dimensions, and counts of "one per order (or per
    transaction) in each dimension any of its lines touches"."""

    def __init__(self) -> None:
        self.deltas: Deltas = {}

    def add(self, dims: Iterable[str], labels: Iterable[str], counters: Mapping[str, Decimal | int]) -> None:
        labels = list(labels)
        for dim in dims:
            for label in labels:
                slot = self.deltas.setdefault((dim, label), defaultdict(Decimal))
                for name, value in counters.items():
                    if value:
                        slot[name] += Decimal(value)

    def once(self, dims_of_lines: Iterable[list[str]], labels: Iterable[str], name: str) -> None:
        dims = {d for dims in dims_of_lines for d in dims}
        self.add(sorted(dims), labels, {name: 1})


def _day(moment: str) -> Any:
    return buckets.day_of(moment)


def _money(values: Mapping[str, Any], name: str) -> Decimal:
    return money.amount(values.get(name))


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def transaction_amounts(txn: Mapping[str, Any], order: Mapping[str, Any]) -> tuple[Decimal, Decimal]:
    """A transaction's (shop, presentment) amounts: its `amount_set` sides when Shopify sent them; else its
    `amount` in its `currency` (Shopify gives transactions in the presentment currency), converted at the order's
    own rate (presentment total / shop total) to the other side."""
    shop_total, presentment_total = _money(order, "total"), _money(order, "total_p")
    shop = money.parse(txn.get("amount_shop"))
    presentment = money.parse(txn.get("amount_presentment"))
    if shop is None and presentment is None:
        if txn.get("currency") and txn.get("currency") == order.get("currency"):
            shop = _money(txn, "amount")
        else:
            presentment = _money(txn, "amount")
    if shop is None:
        presentment = presentment or money.ZERO
        shop = money.scale(presentment, shop_total, presentment_total) if presentment_total else presentment
    if presentment is None:
        presentment = money.scale(shop, presentment_total, shop_total) if shop_total else shop
    return money.cents(shop or money.ZERO), money.cents(presentment or money.ZERO)


def payments(order: Mapping[str, Any]) -> dict[str, Any]:
    """The balance transactions of an order, in processing order, allocated over its lines.

    Returns `collected` and `failed` (lists of `(time, shop parts, presentment parts, lines touched)`), and each
    line's balance still `remaining` (shop, presentment)."""
    lines = order["lines"]
    placed = _when(order["placed_at"])
    txns = sorted(
        ((name.split(":", 1)[1], value) for name, value in order.items() if name.startswith("txn:")),
        key=lambda t: (t[1].get("at", ""), t[0]),
    )
    checkout_authorizations = {
        tid for tid, t in txns if t.get("kind") == "authorization" and _when(t.get("at", order["placed_at"])) <= placed
    }
    remaining = [[_money(line, "balance"), _money(line, "balance_p")] for line in lines]
    collected: list[tuple[str, list[Decimal], list[Decimal], list[int]]] = []
    failed: list[tuple[str, list[Decimal], list[Decimal], list[int]]] = []
    for _tid, txn in txns:
        if txn.get("kind") not in COLLECTING or "at" not in txn or _when(txn["at"]) <= placed:
            continue
        if txn.get("kind") == "capture" and txn.get("parent_id") in checkout_authorizations:
            continue
        owed = [r[0] for r in remaining]
        owed_p = [r[1] for r in remaining]
        touched = [i for i, o in enumerate(owed) if o > 0]
        shop, presentment = transaction_amounts(txn, order)
        if txn.get("status") == "success":
            if not touched:
                continue  # nothing outstanding: not a balance collection
            shop_parts = money.allocate(min(shop, sum(owed, Decimal(0))), owed)
            presentment_parts = money.allocate(min(presentment, sum(owed_p, Decimal(0))), owed_p)
            for i, (s, p) in enumerate(zip(shop_parts, presentment_parts, strict=True)):
                remaining[i][0] -= s
                remaining[i][1] -= p
            collected.append((txn["at"], shop_parts, presentment_parts, touched))
        elif txn.get("status") in FAILED:
            weights = owed if touched else [_money(line, "balance") for line in lines]
            weights_p = owed_p if touched else [_money(line, "balance_p") for line in lines]
            touched = touched or list(range(len(lines)))
            failed.append((txn["at"], money.allocate(shop, weights), money.allocate(presentment, weights_p), touched))
    return {"collected": collected, "failed": failed, "remaining": remaining}


def refunds(order: Mapping[str, Any]) -> list[tuple[str, list[Decimal], list[Decimal]]]:
    """Each refund's time and its (shop, presentment) parts per preorder line."""
    lines = order["lines"]
    out = []
    for name, refund in sorted(order.items()):
        if not name.startswith("refund:"):
            continue
        shop, presentment = transaction_amounts(refund, order)
        subtotals = refund.get("line_subtotals") or {}
        if subtotals:
            weights = [money.amount(subtotals.get(line["line_id"])) for line in lines]
            whole = sum((money.amount(v) for v in subtotals.values()), Decimal(0))
        else:
            weights = [_money(line, "revenue") for line in lines]
            whole = _money(order, "revenue_all")
        part = sum(weights, Decimal(0))
        share = (
            (shop, presentment)
            if part == whole
            else (
                money.scale(shop, part, whole),
                money.scale(presentment, part, whole),
            )
        )
        if share[0] == 0 and share[1] == 0:
            continue  # a refund of other lines only
        out.append(
            (refund.get("at", order["placed_at"]), money.allocate(share[0], weights), money.allocate(share[1], weights))
        )
    return out


def order_counters(order: Mapping[str, Any] | None) -> Deltas:
    """Every counter one ledger order contributes, in every dimension and bucket (see the module docstring)."""
    if not order or not order.get("placed_at") or not order.get("lines"):
        return {}  # a waiting item (events before their order) counts nothing yet
    lines = order["lines"]
    cancel = order.get("cancel")
    paid = payments(order)
    refunded = refunds(order)
    placed = buckets.labels_of(_day(order["placed_at"]))
    counts = _Counts()
    presentment_currency = str(order.get("presentment_currency") or order.get("currency") or "")
    for view, currency, suffix in ((0, None, ""), (1, presentment_currency, "_p")):
        dims = [line_dimensions(line, currency) for line in lines]
        for i, line in enumerate(lines):
            balance = _money(line, f"balance{suffix}")
            outstanding = money.ZERO if cancel else paid["remaining"][i][view]
            revenue, paid_share = _money(line, f"revenue{suffix}"), _money(line, f"revenue_deposit{suffix}")
            counts.add(
                dims[i],
                placed,
                {
                    "units": int(line.get("quantity") or 0),
                    "revenue": revenue,
                    # the presentment view also keeps the line's shop amount: their ratio is Shopify's own rate
                    **({"revenue_shop": _money(line, "revenue")} if view else {}),
                    "revenue_deposit": paid_share,
                    "revenue_balance": revenue - paid_share,
                    "deposits_collected": _money(line, f"deposit{suffix}"),
                    "balances_outstanding": outstanding,
                },
            )
            if line.get("due_on") and not cancel:
                due = buckets.labels_of(_day(line["due_on"]))
                counts.add(dims[i], due, {"balances_due": balance, "balances_due_outstanding": outstanding})
        counts.once(dims, placed, "orders")
        for at, shop_parts, presentment_parts, touched in paid["collected"]:
            parts = presentment_parts if view else shop_parts
            labels = buckets.labels_of(_day(at))
            for i in touched:
                counts.add(dims[i], labels, {"balances_collected": parts[i]})
            counts.once([dims[i] for i in touched], labels, "collected_count")
        for at, shop_parts, presentment_parts, touched in paid["failed"]:
            parts = presentment_parts if view else shop_parts
            labels = buckets.labels_of(_day(at))
            for i in touched:
                counts.add(dims[i], labels, {"balances_failed": parts[i]})
            counts.once([dims[i] for i in touched], labels, "failed_count")
        if cancel:
            labels = buckets.labels_of(_day(cancel["at"]))
            for i, line in enumerate(lines):
                counts.add(
                    dims[i],
                    labels,
                    {
                        "cancelled_units": int(line.get("quantity") or 0),
                        "cancelled_revenue": _money(line, f"revenue{suffix}"),
                    },
                )
            counts.once(dims, labels, "cancelled_orders")
            reason = cancel.get("reason") if cancel.get("reason") in REASONS else "unknown"
            counts.once(dims, labels, f"cancelled_reason_{reason}")
        for at, shop_parts, presentment_parts in refunded:
            parts = presentment_parts if view else shop_parts
            labels = buckets.labels_of(_day(at))
            touched = [i for i, p in enumerate(parts) if p > 0] or list(range(len(lines)))
            for i in touched:
                counts.add(dims[i], labels, {"refunds_issued": parts[i]})
            counts.once([dims[i] for i in touched], labels, "refunds_count")
        _customer_rows(order, counts, currency, suffix, view, paid, placed)
    # All time, per presentment currency: the revenue Shopify gave in it and in the shop's money (the rates a report
    # in another currency converts at when its window has no order presented in it; and which currencies it can).
    if presentment_currency:
        code = presentment_currency.upper()
        counts.add(
            [PREORDERS],
            [TOTAL],
            {
                f"fx_p_{code}": sum((_money(line, "revenue_p") for line in lines), Decimal(0)),
                f"fx_s_{code}": sum((_money(line, "revenue") for line in lines), Decimal(0)),
                f"fx_n_{code}": 1,
            },
        )
    return counts.deltas


def _customer_rows(
    order: Mapping[str, Any],
    counts: _Counts,
    currency: str | None,
    suffix: str,
    view: int,
    paid: dict[str, Any],
    placed: list[str],
) -> None:
    """Per customer, per bucket of the order date, in the shop and per offer: orders, units, revenue and balances
    outstanding (the customers report). A row's first appearance is what `customers` counts."""
    key = order.get("customer_key")
    if not key:
        return
    labels = [f"{label}#{key}" for label in placed]
    lines = order["lines"]
    dims = [customer_dimensions(line, currency) for line in lines]
    for i, line in enumerate(lines):
        outstanding = money.ZERO if order.get("cancel") else paid["remaining"][i][view]
        counts.add(
            dims[i],
            labels,
            {
                "units": int(line.get("quantity") or 0),
                "revenue": _money(line, f"revenue{suffix}"),
                "balances_outstanding": outstanding,
            },
        )
    counts.once(dims, labels, "orders")


def order_change(old: dict[str, Any] | None, new: dict[str, Any] | None) -> Change | None:
    """The rollup change of one ledger item change: what its new state counts minus what its old state counted."""
    image = new or old or {}
    change = Change(str(image["shop_id"]))
    change.plain = net(order_counters(new), order_counters(old))
    return None if change.empty() else change


def customer_row_change(old: dict[str, Any] | None, new: dict[str, Any] | None) -> Change | None:
    """Distinct customers, exactly, per bucket: a customer row (`pcu...#<G>#<date>#<customer>`, written by the
    aggregator itself) is created by a customer's first preorder in that dimension and bucket; its creation (the
    stream's INSERT, applied once like any record) adds 1 to `customers` of the matching `po...` dimension and
    bucket. Later changes of the row change nothing. Over a window of several buckets the distinct count is not a
    sum of buckets: read the window's customer rows (docs/DATA_MODEL.md). A row that `reports rebuild` created
    (`rebuilt`) counts nothing here: the rebuild sets `customers` itself (services/rollup_audit.py)."""
    if old is not None or new is None or new.get("rebuilt"):
        return None
    row = customer_row_key(new)
    change = Change(row.shop_id)
    change.plain = {(PREORDERS + row.dimension[len(CUSTOMER_ROWS) :], row.bucket): {"customers": Decimal(1)}}
    return change


# ------------------------------------------------------------------------------------------------ reading them
# What a report reads (the preorder reports are built on these): O(buckets) rollup items per dimension.
def totals(
    rollups: RollupRepository, shop_id: str, dimension: str, start: date, end: date, names: list[str]
) -> dict[str, Decimal]:
    """Counters `names` of one dimension summed over [start, end]: the window's fewest whole buckets (months,
    then ISO weeks, then days), a few Query ranges."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    for _granularity, first, last in buckets.runs(buckets.cover(start, end, buckets.MONTH)):
        for item in rollups.range(shop_id, dimension, first, last, names):
            for name in names:
                out[name] += Decimal(item.get(name, 0))
    return out


CUSTOMER_FIGURES = ("orders", "units", "revenue", "balances_outstanding")


def customers(
    rollups: RollupRepository,
    shop_id: str,
    start: date,
    end: date,
    offer_id: str | None = None,
    currency: str | None = None,
    product_id: int | None = None,
    variant_id: int | None = None,
    market_id: int | None = None,
) -> dict[str, dict[str, Decimal]]:
    """customer key -> their orders, units, revenue and balances outstanding in [start, end] (for one offer, product
    or variant, market and presentment currency when given): the customer rows of the window's cover, summed per
    customer. Its length is the exact number of distinct customers of the window; the read is bounded by the
    window's customer rows (customers x buckets of the cover), never ledger rows."""
    dimension = dimension_for(offer_id, product_id, variant_id, market_id, currency, prefix=CUSTOMER_ROWS)
    out: dict[str, dict[str, Decimal]] = {}
    for _granularity, first, last in buckets.runs(buckets.cover(start, end, buckets.MONTH)):
        for row in rollups.customer_rows(shop_id, dimension, first, last):
            figures = out.setdefault(customer_row_key(row).customer, dict.fromkeys(CUSTOMER_FIGURES, Decimal(0)))
            for name in CUSTOMER_FIGURES:
                figures[name] += Decimal(row.get(name, 0))
    return out


def exchange_totals(rollups: RollupRepository, shop_id: str) -> dict[str, dict[str, Decimal]]:
    """currency -> all-time revenue presented in it (`p`), the same orders' shop-money revenue (`s`) and how many
    orders (`n`): one item, the shop's all-time counters."""
    out: dict[str, dict[str, Decimal]] = {}
    for item in rollups.range(shop_id, PREORDERS, TOTAL, TOTAL):
        for name, value in item.items():
            if name.startswith("fx_") and name.count("_") == 2:
                _, side, code = name.split("_")
                out.setdefault(code, {})[side] = Decimal(value)
    return out
