"""`backinstock seed`: a realistic history for a shop, written through the same paths as production, so the reports
and exports have something to show.

Over the last `days` days: signups created by the waitlist service (`create_signup`, at their historical time); about
two in three notified through the send worker's rules (`process_send`: email sends go out through the provider, SMS
sends are blocked while the shop's SMS verification is pending, as in production); about one in three email sends
followed by an order that the attribution service attributes (`attribute_order`: half carry the alert's UTM marker,
high confidence; the others match by contact and variant, medium). The table's stream then feeds the rollups (the
local run's stream poller, or the aggregator in AWS).

And a preorder history (`seed_preorders`): two offers (created by the offers service, as `backinstock offers create`
does), orders on them from a pool of returning customers, some presented in EUR, through the ledger's webhook
functions at their historical times: the checkout's deposit charge, balances collected when due (some failing first,
some never retried), cancellations with their reasons (some unknown), refunds.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from backinstock import deps, ids
from backinstock.errors import Conflict
from backinstock.models.signups import SignupCreate
from backinstock_tools.local.demo import CATALOG, put_catalog

PRICES = {9001: Decimal("32.00"), 9002: Decimal("129.00"), 9003: Decimal("24.50")}
WEIGHTS = (5, 3, 2, 4, 4, 1)  # demand per demo variant: a few popular, one quiet


Progress = Callable[[str], None]


def _ticks(total: int, steps: int = 10) -> set[int]:
    """The counts at which progress is reported: about every tenth, and the last."""
    return {max(1, round(total * k / steps)) for k in range(1, steps + 1)} if total else set()


def seed(
    shop_id: str,
    signups: int,
    days: int,
    rng_seed: int = 7,
    now: datetime | None = None,
    preorders: int = 0,
    progress: Progress | None = None,
    guard: AbstractContextManager[object] | None = None,
) -> dict[str, int]:
    """`progress` gets a line about every tenth of each part; `guard` is held around each signup and each preorder
    (the local server passes its invocation lock, so a seed in its background interleaves with requests)."""
    from backinstock.services.settings import settings_of

    rng = random.Random(rng_seed)
    moment = now or ids.now()
    shop = deps.shops().require(shop_id)
    put_catalog(shop_id)
    waitlist, sender = deps.waitlist(), deps.sender()
    settings = settings_of(shop)
    counts = {"signups": 0, "sent": 0, "blocked": 0, "orders": 0}
    start = moment - timedelta(days=days)
    run = uuid.uuid4().hex[:6]  # contacts unique per run: seeding twice adds a second history
    report = progress or (lambda line: None)
    ticks = _ticks(signups)
    for n in range(signups):
        with guard or nullcontext():
            _seed_signup(shop_id, shop, settings, (waitlist, sender), counts, rng, n, run, start, days, moment)
        if n + 1 in ticks:
            report(
                f"signups {n + 1}/{signups} ({counts['sent']} sent, {counts['blocked']} blocked, "
                f"{counts['orders']} orders)"
            )
    if preorders:
        counts.update(seed_preorders(shop_id, preorders, days, random.Random(rng_seed + 1), moment, report, guard))
    return counts


def _seed_signup(
    shop_id: str,
    shop: Any,
    settings: Any,
    services: tuple[Any, Any],
    counts: dict[str, int],
    rng: random.Random,
    n: int,
    run: str,
    start: datetime,
    days: int,
    moment: datetime,
) -> None:
    """One signup of the history, with its send and order when the dice say so."""
    from backinstock.services import attribution, sending
    from backinstock.services.signups import create_signup

    waitlist, sender = services
    created = start + timedelta(seconds=rng.uniform(0, days * 86400))
    variant = rng.choices(CATALOG, weights=WEIGHTS)[0]
    sms = rng.random() < 0.2
    body = SignupCreate(
        channel="sms" if sms else "email",
        shopify_variant_id=variant.variant_id,
        email=None if sms else f"shopper{n}.{run}@example.com",
        phone=f"+1555{rng.randrange(10**6, 10**7)}" if sms else None,
        name=f"Shopper {n}",
    )
    try:
        signup = create_signup(waitlist, shop_id, body, now=created)
    except Conflict:  # a random phone number drawn twice for the same variant: skip it
        return
    counts["signups"] += 1
    if rng.random() > 0.65:
        return
    sent_at = min(created + timedelta(hours=rng.uniform(1, 24 * 10)), moment)
    outcome = sending.process_send(
        sender, shop, settings, {"send_id": uuid.uuid4().hex, "signup_id": signup.id}, now=sent_at
    )
    if outcome.status == "blocked":
        counts["blocked"] += 1
        return
    counts["sent"] += 1
    if sms or rng.random() > 0.35:
        return
    ordered_at = min(sent_at + timedelta(hours=rng.uniform(0.5, 72)), moment)
    order: dict[str, Any] = {
        "id": 5_000_000 + n,
        "name": f"#{1000 + n}",
        "email": signup.contact,
        "created_at": ids.iso(ordered_at),
        "currency": shop.currency,
        "line_items": [
            {
                "id": 1,
                "variant_id": variant.variant_id,
                "product_id": variant.product_id,
                "price": str(PRICES[variant.product_id]),
                "quantity": rng.choice((1, 1, 1, 2)),
            }
        ],
    }
    if rng.random() < 0.5:
        order["note_attributes"] = [{"name": "utm_source", "value": "backinstock"}]
    attribution.attribute_order(deps.attribution(), shop, order, now=ordered_at)
    counts["orders"] += 1


REASONS = ("customer", "customer", "inventory", "declined", "fraud", "other", "staff", None)


def seed_preorders(
    shop_id: str,
    orders: int,
    days: int,
    rng: random.Random,
    moment: datetime,
    progress: Progress | None = None,
    guard: AbstractContextManager[object] | None = None,
) -> dict[str, int]:
    from backinstock.models.preorders import OfferCreate
    from backinstock.services import offers, preorder_ledger

    shop = deps.shops().require(shop_id)
    run = uuid.uuid4()
    plan = run.int % 10**9  # selling plans are unique per shop: a second seed gets new ones
    start = moment - timedelta(days=days)
    drop = offers.create_offer(
        deps.offers(),
        shop_id,
        OfferCreate.model_validate(
            {
                "name": "Merino Beanie: winter drop",
                "selling_plan_ids": [plan + 1],
                "variants": [{"shopify_variant_id": 40001}, {"shopify_variant_id": 40002}],
                "deposit": {"type": "percentage", "value": 50},
                "balance_due": {"days_after_checkout": max(1, days // 4)},
                "market_ids": [1],
            }
        ),
        now=start,
    )
    runner = offers.create_offer(
        deps.offers(),
        shop_id,
        OfferCreate.model_validate(
            {
                "name": "Trail Runner pre-release",
                "selling_plan_ids": [plan + 2],
                "variants": [{"shopify_variant_id": v} for v in (40011, 40012, 40013)],
                "deposit": {"type": "fixed_amount", "value": 20},
                "balance_due": {"due_at": (start + timedelta(days=days * 2 // 3)).date()},
                "market_ids": [1, 2],
            }
        ),
        now=start,
    )
    choices = [(drop, plan + 1, 9001), (runner, plan + 2, 9002)]
    buyers = [(f"buyer{k}.{run.hex[:6]}@example.com", run.int % 10**12 + k) for k in range(max(3, orders // 2))]
    counts = {"offers": 2, "preorders": 0, "balances_collected": 0, "balances_failed": 0, "cancellations": 0}
    counts["refunds"] = 0
    ledger = deps.ledger()
    report = progress or (lambda line: None)
    ticks = _ticks(orders)
    for n in range(orders):
        if n in ticks:
            report(f"preorders {n}/{orders} ({counts['cancellations']} cancelled, {counts['refunds']} refunds)")
        with guard or nullcontext():
            placed = start + timedelta(seconds=rng.uniform(0, days * 86400))
            offer, selling_plan, product = rng.choice(choices)
            variant = rng.choice(offer.variants).shopify_variant_id
            quantity = rng.choice((1, 1, 1, 2))
            price = PRICES[product]
            total = price * quantity
            deposit = total / 2 if offer.deposit.type == "percentage" else min(total, Decimal(20) * quantity)
            rate = Decimal("0.92") if rng.random() < 0.25 else Decimal(1)
            email, customer_id = rng.choice(buyers)
            order_id = run.int % 10**9 * 1000 + n
            payload = {
                "id": order_id,
                "name": f"#P{1000 + n}",
                "email": email,
                "created_at": ids.iso(placed),
                "currency": shop.currency,
                "presentment_currency": "EUR" if rate != 1 else shop.currency,
                "total_price": str(total),
                "total_price_set": _money_set(total, rate),
                "total_outstanding": str(total - deposit),
                "customer": {
                    "id": customer_id,
                    "email": email,
                    "first_name": "Buyer",
                    "last_name": str(customer_id % 1000),
                },
                "line_items": [
                    {
                        "id": 1,
                        "variant_id": variant,
                        "product_id": product,
                        "price": str(price),
                        "price_set": _money_set(price, rate),
                        "quantity": quantity,
                        "selling_plan_id": selling_plan,
                    }
                ],
            }
            preorder_ledger.on_order_created(ledger, shop, payload, now=placed)
            counts["preorders"] += 1
            checkout = {"id": order_id * 10, "order_id": order_id, "kind": "sale", "status": "success"}
            checkout |= {
                "amount": str(deposit),
                "currency": shop.currency,
                "processed_at": ids.iso(placed - timedelta(seconds=2)),
            }
            preorder_ledger.on_transaction(ledger, shop, checkout, now=placed)

            balance = total - deposit

            def charge(
                number: int, at: datetime, status: str, order_id: int = order_id, balance: Decimal = balance
            ) -> bool:
                """A charge of the balance at `at`, if that is not in the future."""
                if at > moment:
                    return False
                txn = {"id": order_id * 10 + number, "order_id": order_id, "kind": "sale", "status": status}
                txn |= {"amount": str(balance), "currency": shop.currency, "processed_at": ids.iso(at)}
                preorder_ledger.on_transaction(ledger, shop, txn, now=at)
                counts["balances_collected" if status == "success" else "balances_failed"] += 1
                return True

            draw = rng.random()
            if draw < 0.12:
                cancelled_at = placed + timedelta(days=rng.uniform(0.5, 10))
                if cancelled_at <= moment:
                    cancellation = {
                        "id": order_id,
                        "cancelled_at": ids.iso(cancelled_at),
                        "cancel_reason": rng.choice(REASONS),
                    }
                    preorder_ledger.on_cancelled(ledger, shop, cancellation, now=cancelled_at)
                    counts["cancellations"] += 1
                    refunded_at = cancelled_at + timedelta(hours=rng.uniform(1, 48))
                    if rng.random() < 0.6 and refunded_at <= moment:
                        _refund(ledger, shop, order_id, n, deposit, refunded_at)
                        counts["refunds"] += 1
                continue
            due = (
                placed + timedelta(days=max(1, days // 4))
                if offer.id == drop.id
                else start + timedelta(days=days * 2 // 3)
            )
            due = max(due, placed + timedelta(hours=1))
            if draw < 0.3:  # the first charge fails; half are retried two days later
                if charge(1, due, "failure") and rng.random() < 0.5:
                    charge(2, due + timedelta(days=2), "success")
            else:
                charge(1, due, "success")
            if rng.random() < 0.05 and placed + timedelta(days=3) <= moment:
                _refund(ledger, shop, order_id, n, Decimal("10.00"), placed + timedelta(days=3))
                counts["refunds"] += 1
    report(f"preorders {orders}/{orders} ({counts['cancellations']} cancelled, {counts['refunds']} refunds)")
    return counts


def _money_set(amount: Decimal, rate: Decimal) -> dict[str, Any]:
    return {
        "shop_money": {"amount": str(amount)},
        "presentment_money": {"amount": str((amount * rate).quantize(Decimal("0.01")))},
    }


def _refund(ledger: Any, shop: Any, order_id: int, n: int, amount: Decimal, at: datetime) -> None:
    from backinstock.services import preorder_ledger

    refund = {
        "id": order_id * 10 + 9,
        "order_id": order_id,
        "created_at": ids.iso(at),
        "transactions": [{"kind": "refund", "status": "success", "amount": str(amount), "currency": shop.currency}],
    }
    preorder_ledger.on_refund(ledger, shop, refund, now=at)


def seed_waitlist(shop_id: str, variant_id: int, count: int, progress: Progress | None = None) -> dict[str, int]:
    """`count` customers waiting for one variant (email signups created by the waitlist service, now, nothing sent):
    a restock of a few hundred to watch (`backinstock restocks watch`). Addresses `waiting-<variant>-<n>@example.com`;
    one already waiting is left as it is."""
    from backinstock.services.signups import create_signup

    waitlist = deps.waitlist()
    created = 0
    ticks = _ticks(count)
    for n in range(1, count + 1):
        body = SignupCreate(
            channel="email", shopify_variant_id=variant_id, email=f"waiting-{variant_id}-{n}@example.com"
        )
        try:
            create_signup(waitlist, shop_id, body)
            created += 1
        except Conflict:
            pass
        if progress and n in ticks:
            progress(f"{n} of {count} signups")
    return {"variant_id": variant_id, "waiting": created}
