"""`backinstock seed`: a realistic history for a shop, written through the same paths as production, so the reports
and exports have something to show.

Over the last `days` days: signups created by the waitlist service (`create_signup`, at their historical time); about
two in three notified through the send worker's rules (`process_send`: email sends go out through the provider, SMS
sends are blocked while the shop's SMS verification is pending, as in production); about one in three email sends
followed by an order that the attribution service attributes (`attribute_order`: half carry the alert's UTM marker,
high confidence; the others match by contact and variant, medium). The table's stream then feeds the rollups (the
local run's stream poller, or the aggregator in AWS).
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from backinstock import deps, ids
from backinstock.errors import Conflict
from backinstock.models.signups import SignupCreate
from backinstock_tools.local.demo import CATALOG

PRICES = {9001: Decimal("32.00"), 9002: Decimal("129.00"), 9003: Decimal("24.50")}
WEIGHTS = (5, 3, 2, 4, 4, 1)  # demand per demo variant: a few popular, one quiet


def seed(shop_id: str, signups: int, days: int, rng_seed: int = 7, now: datetime | None = None) -> dict[str, int]:
    from backinstock.services import attribution, sending
    from backinstock.services.settings import settings_of
    from backinstock.services.signups import create_signup

    rng = random.Random(rng_seed)
    moment = now or ids.now()
    shop = deps.shops().require(shop_id)
    catalog = deps.catalog()
    for v in CATALOG:
        catalog.put_variant(shop_id, v.variant_id, v.product_id, v.title, v.product_title, v.handle)
    waitlist, sender = deps.waitlist(), deps.sender()
    settings = settings_of(shop)
    counts = {"signups": 0, "sent": 0, "blocked": 0, "orders": 0}
    start = moment - timedelta(days=days)
    run = uuid.uuid4().hex[:6]  # contacts unique per run: seeding twice adds a second history
    for n in range(signups):
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
            continue
        counts["signups"] += 1
        if rng.random() > 0.65:
            continue
        sent_at = min(created + timedelta(hours=rng.uniform(1, 24 * 10)), moment)
        outcome = sending.process_send(
            sender, shop, settings, {"send_id": uuid.uuid4().hex, "signup_id": signup.id}, now=sent_at
        )
        if outcome.status == "blocked":
            counts["blocked"] += 1
            continue
        counts["sent"] += 1
        if sms or rng.random() > 0.35:
            continue
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
    return counts
