"""Restock detection from `inventory_levels/update`.

A variant restocks when its available quantity, summed over the shop's locations (only `location_ids` when
`delivery.locations.filter_enabled`), rises from below `delivery.stock_threshold` to at least it. Each location's
level is stored only if Shopify's `updated_at` is newer than the stored one (out-of-order and repeated webhooks
change nothing), and the in-stock flip is one conditional write (a restock is detected once, whatever the
concurrency). A restock starts the variant's campaign (`services.campaigns`); dropping below the threshold ends
the episode. Inventory items are mapped to variants by the product webhooks; an unknown item is logged and ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from backinstock import ids
from backinstock.errors import Conflict, NotFound
from backinstock.models import restocks as m
from backinstock.models.settings import Locations
from backinstock.repositories import restocks as restock_repo
from backinstock.repositories.catalog import CatalogRepository
from backinstock.repositories.restocks import RestockRepository
from backinstock.repositories.rollups import RollupRepository
from backinstock.repositories.shops import Shop, ShopRepository
from backinstock.services import campaigns, rollups, signups
from backinstock.services.attribution import parse_time
from backinstock.services.settings import settings_of

logger = Logger(child=True)


@dataclass(frozen=True)
class Restocks:
    catalog: CatalogRepository
    restocks: RestockRepository
    campaigns: campaigns.Campaigns


def available_total(levels: dict[int, int], locations: Locations) -> int:
    if locations.filter_enabled:
        allowed = set(locations.location_ids)
        levels = {loc: qty for loc, qty in levels.items() if loc in allowed}
    return sum(levels.values())


def on_inventory_level(restocks: Restocks, shop: Shop, payload: dict[str, Any], now: datetime | None = None) -> str:
    moment = now or ids.now()
    if payload.get("available") is None:
        return "untracked"  # the item's inventory is not tracked: nothing to compare
    item_id, location_id = int(payload["inventory_item_id"]), int(payload["location_id"])
    pointer = restocks.catalog.variant_of_inventory_item(shop.shop_id, item_id)
    if pointer is None:
        logger.warning("inventory update for an unknown inventory item ignored", extra={"inventory_item_id": item_id})
        return "unknown_item"
    variant_id, product_id = int(pointer["variant_id"]), int(pointer["product_id"])
    updated_at = ids.iso(parse_time(payload.get("updated_at"), moment))
    if not restocks.restocks.set_level(
        shop.shop_id, variant_id, location_id, int(payload["available"]), updated_at, item_id
    ):
        return "stale"
    delivery = settings_of(shop).delivery  # once per webhook: the shop's leaves parsed into the settings model
    total = available_total(restocks.restocks.levels(shop.shop_id, variant_id), delivery.locations)
    at = ids.iso(moment)
    if total < delivery.stock_threshold:
        return (
            "sold_out" if restocks.restocks.flip_out_of_stock(shop.shop_id, variant_id, total, at) else "out_of_stock"
        )
    episode = restocks.restocks.flip_in_stock(shop.shop_id, variant_id, total, at)
    if episode is None:
        # Already in stock. If the flip's campaign never started (a crash between the two), start it now.
        state, campaign = (
            restocks.restocks.state(shop.shop_id, variant_id) or {},
            restocks.restocks.campaign(shop.shop_id, variant_id),
        )
        episode_now = int(state.get("episode", 0))
        if campaign is not None and int(campaign.get("episode", 0)) >= episode_now:
            return "in_stock"
        episode = episode_now
    logger.info("variant restocked", extra={"variant_id": variant_id, "available": total, "episode": episode})
    started = campaigns.start(restocks.campaigns, shop, variant_id, product_id, total, episode, moment, delivery)
    return "restocked" if started else "restocked_campaign_running"


# ------------------------------------------------------------------------------------------ the merchant's view
# `/back_in_stock/restocks`: campaigns listed, read, started by hand, paused, resumed and cancelled. The campaign's
# record (`repositories.restocks`) holds what the steps and the controls write; its sends' outcomes
# come from the rollup aggregator (dimension `rc:<id>`, `services.rollups`), never from a write per send.
QUIET_FOR = timedelta(minutes=10)  # a campaign whose last batch is queued is completed once its sends stop coming
NOT_FOUND = "Restock campaign not found"


@dataclass(frozen=True)
class RestockBook:
    restocks: RestockRepository
    rollups: RollupRepository
    catalog: CatalogRepository
    shops: ShopRepository
    # Built only by the actions that start an execution (create, resume): the others need no Step Functions client
    campaigns: Callable[[], campaigns.Campaigns] | None = None


def _time(value: Any) -> datetime | None:
    return ids.parse(str(value)) if value else None


def view(record: dict[str, Any], counters: dict[str, Any] | None, now: datetime) -> m.Restock:
    counters = counters or {}
    sent, blocked = int(counters.get("sent", 0)), int(counters.get("blocked", 0))
    by_reason = {
        name[len(rollups.BLOCKED_PREFIX) :]: int(value)
        for name, value in sorted(counters.items())
        if name.startswith(rollups.BLOCKED_PREFIX) and int(value)
    }
    queued, done = int(record.get("queued", 0)), sent + blocked
    last_send = counters.get(rollups.LAST_SEND)
    last_send_at = datetime.fromtimestamp(int(last_send), UTC) if last_send else None
    status, finished_at = record.get("status"), _time(record.get("finished_at"))
    state: str
    if status == "finished":
        quiet_since = max(t for t in (finished_at, last_send_at) if t is not None) if finished_at else now
        if done >= queued or now - quiet_since >= QUIET_FOR:
            state = "completed"
            finished_at = max(t for t in (finished_at, last_send_at) if t is not None) if finished_at else now
        else:
            state, finished_at = "sending", None
    elif status in ("cancelled", "stopped", "failed"):
        state = str(status)
    elif record.get("control") == restock_repo.PAUSED:
        state = "paused"
    else:
        state = str(record.get("phase") or "scheduled")
    eligible = max(int(record.get("eligible", 0)), queued)
    estimate = None
    first_batch = _time(record.get("first_batch_at"))
    if state == "sending" and done and first_batch and last_send_at and last_send_at > first_batch:
        rate = done / (last_send_at - first_batch).total_seconds()  # sends a second, as measured so far
        left = (queued if status == "finished" else eligible) - done
        estimate = ids.iso(max(now, last_send_at) + timedelta(seconds=max(0, left) / rate))
    quantity = record.get("restocked_quantity")
    return m.Restock(
        id=record["campaign_id"],
        variant=m.RestockVariant(
            shopify_variant_id=int(record["variant_id"]),
            shopify_product_id=int(record["product_id"]),
            title=record.get("variant_title"),
            product_title=record.get("product_title"),
        ),
        trigger=m.Trigger(type=record.get("trigger", "webhook"), quantity=None if quantity is None else int(quantity)),
        state=state,
        waiting_for=record.get("waiting_for") if state == "waiting" else None,
        next_batch_at=record.get("next_batch_at") if state == "waiting" else None,
        batches=int(record.get("batches", 0)),
        counts=m.RestockCounts(
            eligible=eligible,
            queued=queued,
            sent=sent,
            blocked=blocked,
            blocked_by_reason=by_reason,
            failed=int(record.get("failed", 0)),
        ),
        started_at=record["started_at"],
        paused_at=record.get("paused_at") if state == "paused" else None,
        finished_at=ids.iso(finished_at) if finished_at and state not in m.ACTIVE_STATES else None,
        estimated_finish_at=estimate,
        outcome=record.get("outcome") if state not in m.ACTIVE_STATES else None,
    )


def _views(book: RestockBook, shop_id: str, records: list[dict[str, Any]], now: datetime) -> list[m.Restock]:
    dims = [rollups.campaign_dimension(r["campaign_id"]) for r in records]
    counters = book.rollups.counters(shop_id, dims) if dims else {}
    return [view(r, counters.get(d), now) for r, d in zip(records, dims, strict=True)]


def list_restocks(
    book: RestockBook, shop_id: str, query: m.RestockListQuery, now: datetime | None = None
) -> m.RestockList:
    """Newest first. The campaigns of the window are read from their records (one Query: a shop starts a few
    campaigns a day, not thousands) and their counts in one BatchGetItem per 100 of them; the variant filter is
    applied to the records, the state filter to the views (a state depends on the counts)."""
    moment = now or ids.now()
    upper = min(book for book in (query.to, query.as_of, moment) if book is not None)
    first, last = ids.id_bounds(query.from_, upper)
    records = book.restocks.records(shop_id, first, last)
    if query.variant_id is not None:
        records = [r for r in records if int(r["variant_id"]) == query.variant_id]
    if query.state is not None:
        views = [v for v in _views(book, shop_id, records, moment) if v.state == query.state]
        start = (query.page - 1) * query.per_page
        shown, total = views[start : start + query.per_page], len(views)
    else:
        start = (query.page - 1) * query.per_page
        shown, total = _views(book, shop_id, records[start : start + query.per_page], moment), len(records)
    meta = m.PageMeta.of(total, query.page, query.per_page, ids.iso(upper))
    return m.RestockList(restocks=shown, meta=meta)


def _require(book: RestockBook, shop_id: str, campaign_id: str) -> dict[str, Any]:
    record = book.restocks.record(shop_id, campaign_id) if ids.is_uuid(campaign_id) else None
    if record is None:
        raise NotFound(f"{NOT_FOUND}: no restock campaign {campaign_id} in this shop")
    return record


def _answer(book: RestockBook, shop_id: str, record: dict[str, Any], now: datetime) -> m.Restock:
    return _views(book, shop_id, [record], now)[0]


def get_restock(book: RestockBook, shop_id: str, campaign_id: str, now: datetime | None = None) -> m.Restock:
    return _answer(book, shop_id, _require(book, shop_id, campaign_id), now or ids.now())


def _closed(record: dict[str, Any], verb: str) -> Conflict:
    return Conflict(
        f"Restock campaign {record['campaign_id']} has ended ({record.get('status')}): it cannot be {verb}; "
        "start another with POST /back_in_stock/restocks"
    )


def pause_restock(book: RestockBook, shop_id: str, campaign_id: str, now: datetime | None = None) -> m.Restock:
    """Hold further sends: the next step parks the workflow, the send worker holds the campaign's queued messages
    (sends already with the provider complete). Idempotent: a paused campaign answers as it is."""
    moment = now or ids.now()
    record = _require(book, shop_id, campaign_id)
    if record.get("status") == restock_repo.RUNNING and record.get("control") != restock_repo.PAUSED:
        record = book.restocks.pause(shop_id, campaign_id, ids.iso(moment)) or _require(book, shop_id, campaign_id)
    if record.get("status") != restock_repo.RUNNING:
        raise _closed(record, "paused")
    return _answer(book, shop_id, record, moment)


def resume_restock(book: RestockBook, shop_id: str, campaign_id: str, now: datetime | None = None) -> m.Restock:
    """Continue where it stopped: a workflow still waiting goes on by itself; one that parked (it saw the pause)
    is started again from the state it kept, under a new execution name. Idempotent: a running campaign answers as
    it is. Each transition is a conditional write, so a concurrent step's park and this resume never both win."""
    moment = now or ids.now()
    for _ in range(3):  # the record moved between the read and the write (the workflow parked): read again
        record = _require(book, shop_id, campaign_id)
        if record.get("status") != restock_repo.RUNNING:
            raise _closed(record, "resumed")
        if record.get("control") != restock_repo.PAUSED:
            return _answer(book, shop_id, record, moment)
        parked = record.get("parked")
        resumed = book.restocks.resume(shop_id, campaign_id, parked=bool(parked))
        if resumed is None:
            continue
        if parked:
            _restart(book, shop_id, campaign_id, str(parked), int(resumed.get("resumes", 1)), moment)
        return _answer(book, shop_id, resumed, moment)
    return _answer(book, shop_id, _require(book, shop_id, campaign_id), moment)


def _restart(book: RestockBook, shop_id: str, campaign_id: str, parked: str, n: int, moment: datetime) -> None:
    if book.campaigns is None:
        raise RuntimeError("resuming a parked campaign needs the campaign workflow")
    c = book.campaigns()
    try:
        c.workflow.start(f"restock-{campaign_id}-r{n}", json.loads(parked))
    except Exception as exc:
        if "ExecutionAlreadyExists" in type(exc).__name__ or "ExecutionAlreadyExists" in str(exc):
            return  # a retry of this very resume: the execution runs
        book.restocks.unresume(shop_id, campaign_id, parked, ids.iso(moment))
        raise


def cancel_restock(book: RestockBook, shop_id: str, campaign_id: str, now: datetime | None = None) -> m.Restock:
    """End it: the next step ends the workflow, the send worker drops the campaign's queued messages; signups not
    yet alerted stay pending. Idempotent: a cancelled campaign answers as it is; a completed one is a 409."""
    moment = now or ids.now()
    record = _require(book, shop_id, campaign_id)
    if record.get("status") == restock_repo.RUNNING:
        book.restocks.cancel(shop_id, campaign_id, int(record["variant_id"]), ids.iso(moment))
        record = _require(book, shop_id, campaign_id)
    if record.get("status") != restock_repo.CANCELLED:
        raise _closed(record, "cancelled")
    return _answer(book, shop_id, record, moment)


def create_restock(book: RestockBook, shop_id: str, body: m.RestockCreate, now: datetime | None = None) -> m.Restock:
    """ "Notify everyone waiting for this variant": a campaign started by hand, under a webhook restock's rules
    (eligible signups only, the batching setting, the cooldown after the variant's previous campaign, one campaign
    per variant at a time: a 409 while one runs). It does not stop on the variant's stock level."""
    moment = now or ids.now()
    shop = book.shops.require(shop_id)
    variant = signups.resolve_variant(book.catalog, shop_id, body.shopify_variant_id, body.shopify_product_id)
    if book.campaigns is None:
        raise RuntimeError("starting a campaign needs the campaign workflow")
    episode = int((book.restocks.state(shop_id, body.shopify_variant_id) or {}).get("episode", 0))
    started = campaigns.start(
        book.campaigns(),
        shop,
        body.shopify_variant_id,
        variant["product_id"],
        body.quantity,  # type: ignore[arg-type]
        episode,
        moment,
        trigger="manual",
        titles=variant,
    )
    if started is None:
        running = book.restocks.campaign(shop_id, body.shopify_variant_id) or {}
        raise Conflict(
            f"A restock campaign of variant {body.shopify_variant_id} is running ({running.get('campaign_id')}): "
            "pause, resume or cancel it at /back_in_stock/restocks/:id"
        )
    return _answer(book, shop_id, _require(book, shop_id, started["campaign_id"]), moment)
