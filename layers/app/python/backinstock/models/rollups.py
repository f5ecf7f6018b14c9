"""What one stream record does to the report rollups: the value that `services.rollups` computes (pure rules) and
`repositories.rollups` applies (idempotently). It lives here, below both, so the repository never imports a
service."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

PREORDERS = "po"  # the preorder report dimensions: `po`, `po:o:<offer>`, ... (services/preorder_rollups.py)
CUSTOMER_ROWS = "pcu"  # per-customer rows of the preorder reports: `pcu[:o:<offer>][:c:<currency>]#<G>#<date>#<key>`
CUSTOMER_ROW_ENTITY = "rollup_customer"

# Shopify's order cancel reasons, and "unknown" for a cancellation without one (before cancel_reason was captured).
CANCEL_REASONS = ("customer", "declined", "fraud", "inventory", "other", "staff", "unknown")
Counters = dict[str, Decimal]
Deltas = dict[tuple[str, str], Counters]  # (dimension, bucket key) -> counter -> delta


@dataclass
class Change:
    """What one stream record does to the rollups. `plain` always applies; each `once` group applies only the first
    time its key is seen (orders counted once per order, conversions once per signup); `latest` are max-updates
    (`last_requested_at`), idempotent by nature."""

    shop_id: str
    plain: Deltas = field(default_factory=dict)
    once: dict[str, Deltas] = field(default_factory=dict)
    latest: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)

    def empty(self) -> bool:
        return not self.plain and not self.once and not self.latest


def entity_of(dimension: str) -> str:
    """The `entity` of the rollup item of a dimension. Customer rows have their own: their creation is itself a
    change the aggregator counts (distinct customers); other rollup items are never aggregated."""
    if dimension == CUSTOMER_ROWS or dimension.startswith(CUSTOMER_ROWS + ":"):
        return CUSTOMER_ROW_ENTITY
    return "rollup"


def net(plus: Deltas, minus: Deltas) -> Deltas:
    """`plus - minus`, slot by slot, without the counters that come to zero (what a change of an item moves)."""
    out: Deltas = {}
    for slot in sorted(set(plus) | set(minus)):  # sorted: the same order in every process (chaos seeds replay)
        counters: Counters = defaultdict(Decimal)
        for name, value in plus.get(slot, {}).items():
            counters[name] += value
        for name, value in minus.get(slot, {}).items():
            counters[name] -= value
        nonzero = {k: v for k, v in counters.items() if v}
        if nonzero:
            out[slot] = nonzero
    return out
