"""The report rollups: what one changed item (a stream record's old and new image) adds to the counters.

Rules (docs/DATA_MODEL.md, "Report rollups"):
- An item contributes counters to rollup items `(dimension, bucket)`; a change contributes `new - old`, so an
  INSERT adds, a REMOVE takes back, a MODIFY moves (a notified signup leaves `pending` for `notified`; a transferred
  signup leaves its old variant's dimensions for the new one's).
- Dimensions are what the report filters need: the shop (`all`), `ch:<channel>`, `v:<variant>`,
  `v:<variant>:ch:<channel>`, `p:<product>`, `p:<product>:ch:<channel>`; every bucket granularity (day, ISO week,
  month). Variant demand (products_in_demand) lives on day items of `dem`, `dem:ch:<c>`, `dem:p:<p>`,
  `dem:p:<p>:ch:<c>`, one counter pair per variant (`t_<variant>`, `p_<variant>`), and on their all-time item
  (`TOTAL`): `p_<variant>`, the variant's waitlist now (its signups whose status is pending, whenever created).
- Signups count in the bucket of their `created_at`: `signups`, `pending` and `signups_blocked` (their status, as
  the list reports it: `models.status`), `notified`, `unsubscribed`. Sends in the bucket of `sent_at`: `sent`,
  `blocked`, `sent_<channel>`, `blocked_<channel>`.
  Attributions at medium or high confidence in the bucket of `ordered_at`: `orders`
  (once per order), `revenue` (exact decimal); and `converted` (once per signup) in the bucket of the signup's
  creation (read from its UUIDv7 id), so that `converted / notified` is a share of one cohort.
- All time (bucket `TOTAL`) of each dimension: `signups` and `signups_<status>`, `notifications` and
  `notifications_<status>`: the lists' `meta.total_count` for their filter combinations; and `pending` of `v:<v>`.
- Attributions are immutable (conditional put): only their INSERT counts.
- A signup or log row moved to its issue-23 key by `backinstock migrate keys` (marked `relocated` while it moves:
  repositories/migration.py): the copy's INSERT and the old row's REMOVE count nothing.
- A restock campaign's sends (a send log row with `campaign_id`): all time, dimension `rc:<campaign id>`: `sent`,
  `blocked`, `blocked:<reason>`, and `l_send` (the latest send's time, a max-update).
- Preorder ledger orders (and the per-customer rows their counters create): `services.preorder_rollups`.

Pure functions: no boto3. `repositories.rollups` applies a `Change` (`models.rollups`) idempotently.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from backinstock import buckets
from backinstock.keys import RELOCATED
from backinstock.models.rollups import CUSTOMER_ROW_ENTITY, Change, Deltas, net
from backinstock.models.status import status_of
from backinstock.services import preorder_rollups

CONVERTING = ("medium", "high")
ENTITIES = ("signup", "notification", "attribution", preorder_rollups.ENTITY, CUSTOMER_ROW_ENTITY)
TOTAL = "TOTAL"  # the bucket of all-time counters


def dimensions(variant_id: Any, product_id: Any, channel: str) -> list[str]:
    return [
        "all",
        f"ch:{channel}",
        f"v:{variant_id}",
        f"v:{variant_id}:ch:{channel}",
        f"p:{product_id}",
        f"p:{product_id}:ch:{channel}",
    ]


def demand_dimensions(product_id: Any, channel: str) -> list[str]:
    return ["dem", f"dem:ch:{channel}", f"dem:p:{product_id}", f"dem:p:{product_id}:ch:{channel}"]


def dimension_for(variant_id: int | None, product_id: int | None, channel: str | None) -> str:
    """The one dimension a report reads for its filters (the narrowest: variant, else product, else the shop)."""
    if variant_id is not None:
        base = f"v:{variant_id}"
    elif product_id is not None:
        base = f"p:{product_id}"
    else:
        return f"ch:{channel}" if channel else "all"
    return f"{base}:ch:{channel}" if channel else base


def demand_dimension_for(product_id: int | None, channel: str | None) -> str:
    base = f"dem:p:{product_id}" if product_id is not None else "dem"
    return f"{base}:ch:{channel}" if channel else base


def uuid7_day(value: str) -> Any:
    """The creation date (UTC) carried by a UUIDv7's first 48 bits."""
    ms = int(value.replace("-", "")[:12], 16)
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def _add(target: Deltas, dims: list[str], keys: list[str], counters: Mapping[str, int | Decimal], sign: int) -> None:
    for dim in dims:
        for key in keys:
            slot = target.setdefault((dim, key), defaultdict(Decimal))
            for name, value in counters.items():
                if value:
                    slot[name] += sign * Decimal(value)


def _signup(item: dict[str, Any], target: Deltas, sign: int) -> None:
    day = buckets.day_of(item["created_at"])
    notified = bool(item.get("notified_at"))
    unsubscribed = bool(item.get("unsubscribed_at"))
    status = status_of(item)  # the list's status: a report's pending is the list's status=pending
    pending = int(status == "pending")
    counters = {
        "signups": 1,
        "pending": pending,
        "signups_blocked": int(status == "blocked"),  # `blocked` counts sends (below)
        "notified": int(notified),
        "unsubscribed": int(unsubscribed),
    }
    variant, product, channel = item["variant_id"], item["product_id"], item["channel"]
    _add(target, dimensions(variant, product, channel), buckets.labels_of(day), counters, sign)
    demand = {f"t_{variant}": 1, f"p_{variant}": pending}
    _add(target, demand_dimensions(product, channel), [buckets.label(day, buckets.DAY)], demand, sign)
    _add(target, [f"v:{variant}"], [TOTAL], {"pending": pending}, sign)  # all time: the merchant alerts' count
    # All time, per demand dimension: each variant's waitlist now (products_in_demand's `pending`), one item read
    _add(target, demand_dimensions(product, channel), [TOTAL], {f"p_{variant}": pending}, sign)
    # All time, per list filter combination: the signup list's `meta.total_count` (services/signups.py)
    _add(target, dimensions(variant, product, channel), [TOTAL], {"signups": 1, f"signups_{status}": 1}, sign)


def _notification(item: dict[str, Any], target: Deltas, sign: int) -> None:
    day = buckets.day_of(item["sent_at"])
    sent = item.get("status") == "sent"
    channel = item["channel"]
    counters = {
        "sent": int(sent),
        "blocked": int(not sent),
        f"sent_{channel}": int(sent),
        f"blocked_{channel}": int(not sent),
    }
    dims = dimensions(item["variant_id"], item["product_id"], channel)
    _add(target, dims, buckets.labels_of(day), counters, sign)
    # All time, per list filter combination: the send log's `meta.total_count` (services/notifications.py)
    _add(target, dims, [TOTAL], {"notifications": 1, f"notifications_{item['status']}": 1}, sign)
    if item.get("campaign_id"):  # a restock campaign's send: its counts (GET /back_in_stock/restocks/:id)
        outcome = {"sent": int(sent), "blocked": int(not sent)}
        if not sent:
            outcome[f"{BLOCKED_PREFIX}{item.get('blocked_reason') or 'unknown'}"] = 1
        _add(target, [campaign_dimension(item["campaign_id"])], [TOTAL], outcome, sign)


BLOCKED_PREFIX = "blocked:"  # a campaign's blocked sends per reason: `blocked:<the reason's words>`
LAST_SEND = "l_send"  # a campaign's latest processed send (epoch seconds), a max-update


def campaign_dimension(campaign_id: str) -> str:
    """The all-time counters of one restock campaign: `sent`, `blocked`, `blocked:<reason>`, `l_send`."""
    return f"rc:{campaign_id}"


def change_of(old: dict[str, Any] | None, new: dict[str, Any] | None) -> Change | None:
    """The rollup change of one item change (images as plain dicts), or None when it touches no report."""
    entity = (new or old or {}).get("entity")
    if entity not in ENTITIES:
        return None
    if entity == preorder_rollups.ENTITY:
        return preorder_rollups.order_change(old, new)
    if entity == CUSTOMER_ROW_ENTITY:
        return preorder_rollups.customer_row_change(old, new)
    shop_id = str((new or old or {})["shop_id"])
    change = Change(shop_id)
    if entity == "attribution":
        if old is None and new is not None:
            _attribution(new, change)
        return None if change.empty() else change
    if (old is None) != (new is None) and RELOCATED in (new or old or {}):
        # A row's move to its issue-23 key (`migrate keys`): its copy's INSERT and its old key's REMOVE. It was
        # counted when first written; the move is no new signup, no removed one, no alert.
        return None
    handler = _signup if entity == "signup" else _notification
    plus: Deltas = {}
    minus: Deltas = {}
    if new is not None:
        handler(new, plus, 1)
    if old is not None:
        handler(old, minus, 1)
    change.plain = net(plus, minus)
    if entity == "notification" and new is not None and new.get("campaign_id"):
        at = int(datetime.fromisoformat(new["sent_at"].replace("Z", "+00:00")).timestamp())
        change.latest[(campaign_dimension(new["campaign_id"]), TOTAL)] = {LAST_SEND: at}
    if entity == "signup" and new is not None and (old is None or old.get("variant_id") != new["variant_id"]):
        # A new signup (or one moved to another variant) requests its variant: the day's latest request time and
        # the variant's product, for products_in_demand's rows.
        at = int(datetime.fromisoformat(new["created_at"].replace("Z", "+00:00")).timestamp())
        day_key = buckets.label(buckets.day_of(new["created_at"]), buckets.DAY)
        variant = new["variant_id"]
        for dim in demand_dimensions(new["product_id"], new["channel"]):
            for bucket in (day_key, TOTAL):  # the day's, and all time's (a waitlist older than a report's window)
                change.latest[(dim, bucket)] = {f"l_{variant}": at, f"r_{variant}": int(new["product_id"])}
    return None if change.empty() else change


def _attribution(item: dict[str, Any], change: Change) -> None:
    if item.get("confidence") not in CONVERTING:
        return
    dims = dimensions(item["variant_id"], item["product_id"], item["channel"])
    ordered = buckets.labels_of(buckets.day_of(item["ordered_at"]))
    _add(change.plain, dims, ordered, {"revenue": Decimal(str(item.get("revenue") or "0"))}, 1)
    orders: Deltas = {}
    _add(orders, dims, ordered, {"orders": 1}, 1)
    change.once[f"ORDER#{item['order_id']}"] = orders
    if item.get("signup_id"):
        converted: Deltas = {}
        _add(converted, dims, buckets.labels_of(uuid7_day(item["signup_id"])), {"converted": 1}, 1)
        change.once[f"CONVERTED#{item['signup_id']}"] = converted
    change.plain = {k: v for k, v in change.plain.items() if any(v.values())}


def pending_changes(change: Change) -> list[tuple[int, int]]:
    """(variant, delta) of each variant whose all-time pending count this change moves."""
    out = []
    for (dimension, bucket), counters in change.plain.items():
        if bucket == TOTAL and dimension.startswith("v:") and counters.get("pending"):
            out.append((int(dimension[2:]), int(counters["pending"])))
    return out
