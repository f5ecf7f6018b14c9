"""The preorder order ledger: what Shopify's order webhooks tell about preorders, stored once per Shopify id.

Topics (the webhook worker calls one function each):
- `orders/create` (`on_order_created`): each line whose `selling_plan_id` is a selling plan of one of the shop's
  offers is a preorder line (lines of other plans, or of none, are ignored; an order with no preorder line writes
  nothing). For each: units, revenue, the deposit paid at checkout, the balance outstanding, in the shop's and in
  the presentment currency (`preorder_lines`, rules below), its offer, product, variant, market and balance due
  date. The customer is a key (Shopify's customer id, else a hash of the email); their email and name go to a
  profile item, not to the order.
- `order_transactions/create` (`on_transaction`): every transaction is stored on its order; which ones collect
  or fail to collect the balance is decided with the order in view (services/preorder_rollups.py).
- `orders/cancelled` (`on_cancelled`): the cancellation, its time and `cancel_reason` (customer, declined, fraud,
  inventory, other, staff; absent: unknown; anything else Shopify may add: other).
- `refunds/create` (`on_refund`): the refund's successful `refund` transactions, summed, and the lines it names.

Keys are Shopify's ids (order, transaction, refund; one cancellation per order), so the same event delivered
twice, under any event id, is stored once. An event that arrives before its order is stored and waits for it
(repositories/preorders.py); the counters are a function of everything stored, so arrival order does not matter.

Money rules (exact decimals, cents; `backinstock.money`):
- line revenue = price x quantity - the line's discount allocations (floored at 0), in shop money (`price`,
  `discount_allocations[].amount`) and in presentment money (`price_set`, `amount_set`: `presentment_money`).
- The order's checkout paid `total_price - total_outstanding`; only preorder lines can have a balance, so the
  balance outstanding is `total_outstanding` (at most the preorder lines' share of `total_price`: that share is
  `total_price x preorder revenue / all lines' revenue`, taxes and shipping pro rata). The preorder lines' deposit
  is their share minus the balance: the whole `total_price - total_outstanding` when every line is a preorder line;
  in a mixed cart the other lines are paid in full at checkout and are not a deposit.
- The deposit and the balance are allocated over the preorder lines pro rata to line revenue (largest remainder:
  the parts sum exactly, each within a cent of its share). A line's revenue splits into a deposit portion
  (revenue x the share of its charge paid at checkout) and a balance portion (the rest): the two sum to it.
- Presentment amounts: the `*_set` objects' `presentment_money`; `total_outstanding_set` when present, else
  `total_outstanding` converted at the order's own rate (presentment total / shop total).
- `market_id` of a line: its offer's market when the offer has exactly one market id; otherwise unknown (Shopify's
  order payloads do not name a market), and the line counts in no market's figures.
- The balance due date of a line: the order's payment terms (the earliest `payment_terms.payment_schedules[].due_at`
  not completed) when Shopify sent them, else the offer's rule (days after checkout, or a fixed date), else none.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger

from backinstock import ids, money
from backinstock.models.signups import normalize_email
from backinstock.repositories.offers import OfferRepository
from backinstock.repositories.preorders import PreorderRepository
from backinstock.repositories.shops import Shop

logger = Logger(child=True)

CANCEL_REASONS = ("customer", "declined", "fraud", "inventory", "other", "staff")
UNKNOWN_REASON = "unknown"
SHOP, PRESENTMENT = "shop_money", "presentment_money"


@dataclass(frozen=True)
class Ledger:
    orders: PreorderRepository
    offers: OfferRepository


# ------------------------------------------------------------------------------------------------ payload reading
def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=ids.now().tzinfo)


def when(payload: dict[str, Any], *fields: str, default: datetime) -> str:
    """The first of `fields` that holds a time, as UTC ISO 8601 (`default` when none does)."""
    for field in fields:
        moment = parse_time(payload.get(field))
        if moment is not None:
            return ids.iso(moment)
    return ids.iso(default)


def _side(payload: dict[str, Any], plain: str, which: str) -> Decimal | None:
    """An amount of the payload in shop or presentment money: the `<plain>_set` object's side, else (shop money
    only) the plain field."""
    found = money.money_set(payload.get(f"{plain}_set"), which)
    if found is None and which == SHOP:
        found = money.parse(payload.get(plain))
    return money.cents(found) if found is not None else None


def line_revenue(line: dict[str, Any], which: str) -> Decimal | None:
    """price x quantity - discount allocations, in shop or presentment money (None: the payload lacks it)."""
    price = _side(line, "price", which)
    if price is None:
        return None
    gross = price * int(line.get("quantity") or 0)
    discount = Decimal(0)
    for allocation in line.get("discount_allocations") or []:
        if isinstance(allocation, dict):
            discount += _side(allocation, "amount", which) or Decimal(0)
    return max(money.cents(gross - discount), money.ZERO)


def customer_of(order: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The customer's key and profile (email, name). The key is Shopify's customer id when the order has one, else
    a hash of the email (the same person's guest orders group together), else the order itself."""
    customer: dict[str, Any] = order["customer"] if isinstance(order.get("customer"), dict) else {}
    email_value = next(
        (v for v in (order.get("email"), order.get("contact_email"), customer.get("email")) if isinstance(v, str)), None
    )
    email = normalize_email(email_value) if email_value and "@" in email_value else None
    name = " ".join(str(p) for p in (customer.get("first_name"), customer.get("last_name")) if p) or None
    if name is None:
        billing: dict[str, Any] = order["billing_address"] if isinstance(order.get("billing_address"), dict) else {}
        name = billing.get("name") or None
    keys = customer_keys(customer.get("id"), email)
    profile = {"email": email, "name": name, "shopify_customer_id": str(customer["id"]) if customer.get("id") else None}
    return (keys[0] if keys else f"order:{order['id']}"), profile


def customer_keys(shopify_customer_id: Any, email: str | None) -> list[str]:
    """The keys a customer's preorders may be filed under: `cid:<Shopify customer id>`, and for guest orders
    `em:<hash of the normalised email>` (the email itself is never a key)."""
    keys = [f"cid:{shopify_customer_id}"] if shopify_customer_id else []
    if email:
        keys.append("em:" + hashlib.sha256(normalize_email(email).encode()).hexdigest()[:32])
    return keys


def _due_from_terms(order: dict[str, Any]) -> str | None:
    terms: dict[str, Any] = order["payment_terms"] if isinstance(order.get("payment_terms"), dict) else {}
    dues = [
        parse_time(s.get("due_at"))
        for s in terms.get("payment_schedules") or []
        if isinstance(s, dict) and not s.get("completed_at")
    ]
    found = [d for d in dues if d is not None]
    return min(found).date().isoformat() if found else None


def _due_from_offer(offer: dict[str, Any], placed: datetime) -> str | None:
    trigger = offer.get("balance_due_trigger")
    if trigger == "time_after_checkout":
        return (placed + timedelta(days=int(offer.get("balance_due_days") or 0))).date().isoformat()
    if trigger == "exact_time" and offer.get("balance_due_at"):
        moment = parse_time(offer["balance_due_at"])
        return moment.date().isoformat() if moment else None
    return None


def _market_of(offer: dict[str, Any]) -> int | None:
    markets = offer.get("market_ids") or []
    return int(markets[0]) if len(markets) == 1 else None


# ---------------------------------------------------------------------------------------------------- the rules
def preorder_lines(
    order: dict[str, Any], plan_offers: dict[int, dict[str, Any]], placed: datetime
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The order's preorder lines with their figures, and the order-level figures (totals for currency
    conversions, all lines' revenue for refund shares). `plan_offers`: selling plan id -> offer item. Pure."""
    lines = [line for line in order.get("line_items") or [] if isinstance(line, dict)]
    chosen = [i for i, line in enumerate(lines) if _plan(line) in plan_offers]
    if not chosen:
        return [], {}
    shop_total = _side(order, "total_price", SHOP)
    shop_outstanding = _side(order, "total_outstanding", SHOP)
    shop_side = (
        money.ZERO if shop_total is None else shop_total,
        money.ZERO if shop_outstanding is None else shop_outstanding,
    )
    figures = {
        suffix: _split(order, lines, chosen, which, shop_side) for which, suffix in ((SHOP, ""), (PRESENTMENT, "_p"))
    }
    due_terms = _due_from_terms(order)
    out: list[dict[str, Any]] = []
    for n, i in enumerate(chosen):
        line = lines[i]
        plan = _plan(line)
        offer = plan_offers[plan] if plan is not None else {}
        values: dict[str, Any] = {
            "line_id": str(line.get("id")),
            "offer_id": offer["offer_id"],
            "selling_plan_id": plan,
            "variant_id": int(line["variant_id"]) if line.get("variant_id") else None,
            "product_id": int(line["product_id"]) if line.get("product_id") else None,
            "quantity": int(line.get("quantity") or 0),
            "market_id": _market_of(offer),
            "due_on": due_terms or _due_from_offer(offer, placed),
        }
        for suffix, f in figures.items():
            for name in ("revenue", "deposit", "balance", "revenue_deposit"):
                values[f"{name}{suffix}"] = money.render(f[name][n])
        out.append({k: v for k, v in values.items() if v is not None})
    totals = {
        f"{name}{suffix}": money.render(f[name][0])
        for suffix, f in figures.items()
        for name in ("total", "revenue_all")
    }
    return out, totals


def _split(
    order: dict[str, Any],
    lines: list[dict[str, Any]],
    chosen: list[int],
    which: str,
    shop_side: tuple[Decimal, Decimal],
) -> dict[str, list[Decimal]]:
    """In shop or presentment money: each chosen line's revenue, deposit, balance and the deposit portion of its
    revenue; and (one-element lists) the order's total and all its lines' revenue."""
    every_line = [line_revenue(line, which) for line in lines]
    if any(r is None for r in every_line):  # no presentment prices: presented in the shop's currency
        every_line = [line_revenue(line, SHOP) for line in lines]
    every = [r or money.ZERO for r in every_line]
    revenue = [every[i] for i in chosen]
    shop_total, shop_outstanding = shop_side
    if which == SHOP:
        total, outstanding = shop_side
    else:
        given_total = _side(order, "total_price", PRESENTMENT)
        total = shop_total if given_total is None else given_total
        given_outstanding = _side(order, "total_outstanding", PRESENTMENT)
        if given_outstanding is not None:
            outstanding = given_outstanding
        else:  # converted at the order's own rate
            outstanding = money.scale(shop_outstanding, total, shop_total) if shop_total else shop_outstanding
    all_revenue = sum(every, Decimal(0))
    # The preorder lines' share of what the order costs (taxes, shipping and order discounts pro rata): all of it
    # when every line is a preorder line. Only they can owe a balance; the rest of their share is the deposit.
    share = total if len(chosen) == len(lines) else money.scale(total, sum(revenue, Decimal(0)), all_revenue)
    balance_total = min(max(outstanding, money.ZERO), share)
    deposits = money.allocate(share - balance_total, revenue)
    balances = money.allocate(balance_total, revenue)
    paid_at_checkout = [
        money.scale(r, d, d + b) if d + b else r for r, d, b in zip(revenue, deposits, balances, strict=True)
    ]
    return {
        "revenue": revenue,
        "deposit": deposits,
        "balance": balances,
        "revenue_deposit": paid_at_checkout,
        "total": [total],
        "revenue_all": [all_revenue],
    }


def _plan(line: dict[str, Any]) -> int | None:
    value = line.get("selling_plan_id")
    if isinstance(value, dict):  # tolerate `{"id": ...}` and GraphQL-style gids
        value = value.get("id")
    if isinstance(value, str):
        value = value.rsplit("/", 1)[-1]
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def cancel_reason(value: Any) -> str:
    if value is None or value == "":
        return UNKNOWN_REASON
    reason = str(value).strip().lower()
    return reason if reason in CANCEL_REASONS else "other"


# ---------------------------------------------------------------------------------------------------- the topics
def on_order_created(ledger: Ledger, shop: Shop, order: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    moment = now or ids.now()
    order_id = str(order["id"])
    plans = sorted({p for p in (_plan(line) for line in order.get("line_items") or []) if p is not None})
    owners = ledger.offers.owners(shop.shop_id, plans) if plans else {}
    if not owners:
        return {"order_id": order_id, "preorder_lines": 0}
    offers = ledger.offers.offers(shop.shop_id, sorted(set(owners.values())))
    plan_offers = {plan: offers[offer_id] for plan, offer_id in owners.items() if offer_id in offers}
    placed = parse_time(order.get("created_at")) or moment
    lines, totals = preorder_lines(order, plan_offers, placed)
    if not lines:
        return {"order_id": order_id, "preorder_lines": 0}
    customer_key, profile = customer_of(order)
    placed_at = ids.iso(placed)
    values = {
        "order_name": order.get("name"),
        "placed_at": placed_at,
        "currency": str(order.get("currency") or shop.currency),
        "presentment_currency": str(order.get("presentment_currency") or order.get("currency") or shop.currency),
        "customer_key": customer_key,
        "lines": lines,
        **totals,
        "recorded_at": ids.iso(moment),
    }
    recorded = ledger.orders.record_order(shop.shop_id, order_id, {k: v for k, v in values.items() if v is not None})
    ledger.orders.touch_customer(shop.shop_id, customer_key, profile, placed_at)
    outcome = {"order_id": order_id, "preorder_lines": len(lines), "recorded": recorded}
    logger.info("preorder order", extra={"shop_id": shop.shop_id, **outcome})  # ids and counts only, never contacts
    return outcome


def _amounts(payload: dict[str, Any]) -> dict[str, Any]:
    """A transaction's amount as given (`amount`, `currency`) and its `amount_set` sides when present."""
    values: dict[str, Any] = {
        "amount": money.render(money.amount(payload.get("amount"))),
        "currency": payload.get("currency"),
    }
    for side, which in (("amount_shop", SHOP), ("amount_presentment", PRESENTMENT)):
        found = money.money_set(payload.get("amount_set"), which)
        values[side] = money.render(found) if found is not None else None
    return values


def on_transaction(ledger: Ledger, shop: Shop, txn: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    moment = now or ids.now()
    order_id, txn_id = str(txn["order_id"]), str(txn["id"])
    event = {
        "kind": str(txn.get("kind") or ""),
        "status": str(txn.get("status") or ""),
        "at": when(txn, "processed_at", "created_at", default=moment),
        "parent_id": str(txn["parent_id"]) if txn.get("parent_id") else None,
        **_amounts(txn),
    }
    stored = ledger.orders.add_event(shop.shop_id, order_id, f"txn:{txn_id}", _compact(event), moment)
    return {"order_id": order_id, "transaction_id": txn_id, "kind": event["kind"], "stored": stored}


def on_cancelled(ledger: Ledger, shop: Shop, order: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    moment = now or ids.now()
    order_id = str(order["id"])
    event = {"at": when(order, "cancelled_at", default=moment), "reason": cancel_reason(order.get("cancel_reason"))}
    stored = ledger.orders.add_event(shop.shop_id, order_id, "cancel", event, moment)
    return {"order_id": order_id, "reason": event["reason"], "stored": stored}


def on_refund(ledger: Ledger, shop: Shop, refund: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The refund's successful `refund` transactions, summed (shop and presentment sides when `amount_set` gives
    them), with the lines it names (their subtotals weigh the refund over the order's lines)."""
    moment = now or ids.now()
    order_id, refund_id = str(refund["order_id"]), str(refund["id"])
    issued = [
        t
        for t in refund.get("transactions") or []
        if isinstance(t, dict) and t.get("kind") == "refund" and t.get("status") == "success"
    ]
    amounts = [_amounts(t) for t in issued]
    event: dict[str, Any] = {
        "at": when(refund, "created_at", "processed_at", default=moment),
        "amount": money.render(sum((money.amount(a["amount"]) for a in amounts), Decimal(0))),
        "currency": next((a["currency"] for a in amounts if a["currency"]), None),
    }
    for side in ("amount_shop", "amount_presentment"):
        if amounts and all(a[side] is not None for a in amounts):
            event[side] = money.render(sum((money.amount(a[side]) for a in amounts), Decimal(0)))
    subtotals: dict[str, str] = {}
    for item in refund.get("refund_line_items") or []:
        if isinstance(item, dict) and item.get("line_item_id") is not None:
            subtotal = _side(item, "subtotal", SHOP) or money.ZERO
            line_id = str(item["line_item_id"])
            subtotals[line_id] = money.render(money.amount(subtotals.get(line_id)) + subtotal)
    if subtotals:
        event["line_subtotals"] = subtotals
    stored = ledger.orders.add_event(shop.shop_id, order_id, f"refund:{refund_id}", _compact(event), moment)
    return {"order_id": order_id, "refund_id": refund_id, "amount": event["amount"], "stored": stored}


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
