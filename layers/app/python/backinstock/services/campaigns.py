"""Restock campaigns: a restocked variant's waitlist notified in batches, as a Step Functions workflow.

One execution per campaign (`workflows/campaign.asl.json`): Wait (`wait_seconds`: 0, or the rest of a cooldown),
then SendBatch -> MoreToSend? -> Wait -> SendBatch ... Nothing lives in memory: the cursor into the waitlist
travels in the execution's state, the campaign row records progress, and a retried step re-queues the same sends
(send ids are `restock-<signup id>`, so the worker's claims make a replay send nothing twice).

Rules (reference 003, delivery):
- who: waiting signups of the variant, oldest first; with `any_variant` on for the product, of every variant of
  the product. Only eligible ones are picked (channel enabled, opt-in confirmed where required); the send worker
  still applies the other rules (SMS verification, plan quota) and logs a blocked send with its reason.
- batching off: everyone in one batch. A batch is queued `STEP_LIMIT` signups per step, with no wait between the
  steps of one batch, so that one Lambda invocation stays short whatever the batch size.
- batching on: `batch_size` (fixed) or restocked quantity x `multiplier` per batch, `wait_hours` between
  batches; stock is re-checked before every batch and the campaign stops when the variant is out of stock again.
- one campaign per variant at a time (`RestockRepository.claim_campaign`), and a restock within the cooldown
  of the previous campaign's last batch starts its campaign only when the cooldown ends: flapping stock does not
  flood anyone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from backinstock import ids
from backinstock.models.settings import Delivery, Settings
from backinstock.providers.workflows import StepFunctionsWorkflow
from backinstock.queue import SENDS_PER_MESSAGE, SendQueue
from backinstock.repositories import restocks as restock_repo
from backinstock.repositories.restocks import RestockRepository
from backinstock.repositories.rollups import RollupRepository
from backinstock.repositories.shops import Shop, ShopRepository
from backinstock.services.settings import settings_of

logger = Logger(child=True)

STEP_LIMIT = 1_000  # signups queued by one step when batching is off
MIN_COOLDOWN = timedelta(hours=1)  # between the last batch of one campaign and the first of the next
CAMPAIGN_PREFIX = "restock-"


@dataclass(frozen=True)
class Campaigns:
    restocks: RestockRepository
    shops: ShopRepository
    queue: SendQueue
    workflow: StepFunctionsWorkflow  # the campaign state machine's executions
    seconds_per_hour: int = 3600  # the local run scales `wait_hours` down (CAMPAIGN_SECONDS_PER_HOUR)
    rollups: RollupRepository | None = None  # the waitlist's counters: a campaign's `eligible` at its start


def send_id(signup_id: str) -> str:
    """One restock alert per signup, whatever the campaign: a signup alerted (or blocked) is no longer waiting."""
    return f"{CAMPAIGN_PREFIX}{signup_id}"


def cooldown(delivery: Delivery) -> timedelta:
    batching = delivery.batching
    return max(MIN_COOLDOWN, timedelta(hours=batching.wait_hours)) if batching.enabled else MIN_COOLDOWN


def any_variant_applies(settings: Settings, product_id: int) -> bool:
    option = settings.delivery.any_variant
    return option.enabled and (not option.product_ids or product_id in option.product_ids)


def start(
    campaigns: Campaigns,
    shop: Shop,
    variant_id: int,
    product_id: int,
    quantity: int,
    episode: int,
    now: datetime | None = None,
    delivery: Delivery | None = None,
    trigger: str = "webhook",
    titles: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Start the variant's campaign for a restock of `quantity` units (None: unknown, a manual start without
    one). None when one is already running. `delivery`: the shop's delivery settings, when the caller has them
    already. `trigger`: `webhook` or `manual` (a manual campaign does not stop on the variant's stock level: its
    inventory may live outside Shopify). `titles`: the variant's and product's titles for the record."""
    moment = now or ids.now()
    previous = campaigns.restocks.campaign(shop.shop_id, variant_id)
    delay = 0  # seconds of this clock: the cooldown is scaled as every wait of the workflow is (the local run's hour)
    if previous and previous.get("last_batch_at"):
        rest = _scaled(campaigns, int(cooldown(delivery or settings_of(shop).delivery).total_seconds()))
        ready_at = datetime.fromisoformat(previous["last_batch_at"].replace("Z", "+00:00")) + timedelta(seconds=rest)
        delay = max(0, math.ceil((ready_at - moment).total_seconds()))
    campaign_id = ids.uuid7(moment)
    campaign = {
        "campaign_id": campaign_id,
        "shop_id": shop.shop_id,
        "variant_id": variant_id,
        "product_id": product_id,
        "restocked_quantity": quantity,
        "episode": episode,
        "started_at": ids.iso(moment),
        "first_batch_at": ids.iso(moment + timedelta(seconds=delay)),  # after the cooldown: what `simulate` shows
        "batches": 0,
        "queued": 0,
        "trigger": trigger,
        "phase": "waiting" if delay else "scheduled",
        "waiting_for": "cooldown" if delay else None,
        "next_batch_at": ids.iso(moment + timedelta(seconds=delay)) if delay else None,  # delay is scaled already
        "variant_title": (titles or {}).get("title"),
        "product_title": (titles or {}).get("product_title"),
    }
    if not campaigns.restocks.claim_campaign(shop.shop_id, variant_id, campaign):
        logger.info("restock while a campaign runs: no second campaign", extra={"variant_id": variant_id})
        return None
    state = {
        "shop_id": shop.shop_id,
        "variant_id": variant_id,
        "product_id": product_id,
        "campaign_id": campaign_id,
        "restocked_quantity": quantity,
        "trigger": trigger,
        "cursor": None,
        "in_batch": False,
        "batch_left": None,
        "batches": 0,
        "queued": 0,
        "done": False,
        "wait_seconds": delay,
    }
    try:
        execution_arn = campaigns.workflow.start(f"restock-{campaign_id}", state)
    except Exception:
        campaigns.restocks.release_claim(shop.shop_id, variant_id, campaign_id)
        raise
    logger.info(
        "restock campaign started",
        extra={"variant_id": variant_id, "campaign_id": campaign_id, "quantity": quantity, "delay_s": delay},
    )
    return {**campaign, "execution_arn": execution_arn, "delay_seconds": delay, "status": "running"}


def _scaled(campaigns: Campaigns, seconds: int) -> int:
    return math.ceil(seconds * campaigns.seconds_per_hour / 3600)


def batch_size_text(delivery: Delivery) -> str:
    """The batch size rule, as a person reads it."""
    batching = delivery.batching
    return str(batching.batch_size) if batching.mode == "fixed" else f"restocked quantity x {batching.multiplier}"


def batch_size(settings: Settings, quantity: int | None) -> int | None:
    """Signups per batch; None: one batch of everyone (batching off, or multiplier mode without a quantity)."""
    batching = settings.delivery.batching
    if not batching.enabled:
        return None
    if batching.mode == "fixed":
        return batching.batch_size
    return None if quantity is None else max(1, quantity * batching.multiplier)


def step(campaigns: Campaigns, state: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """One SendBatch of the workflow: re-check stock, pick the next batch, queue it. Returns the next state."""
    moment = now or ids.now()
    shop_id, variant_id = state["shop_id"], int(state["variant_id"])
    steered = steered_state(campaigns, state)  # the merchant's pause or cancel: one read of the campaign's record
    if steered is not None:
        return steered
    shop = campaigns.shops.get(shop_id)
    if shop is None:
        return _close(campaigns, state, "stopped", "the shop no longer exists", moment)
    settings = settings_of(shop)
    if state.get("trigger", "webhook") == "webhook":
        restock = campaigns.restocks.state(shop_id, variant_id) or {}
        if not restock.get("in_stock"):
            return _close(campaigns, state, "stopped", "sold out again before the batch", moment)
    channels = [name for name in ("email", "sms", "push") if getattr(settings.channels, name).enabled]
    product_id = int(state["product_id"])
    whole_product = any_variant_applies(settings, product_id)  # the product's waitlist, not the variant's
    # A batch bigger than STEP_LIMIT (or everyone, batching off) is queued over several steps with no wait between
    # them, so that one Lambda invocation stays short: `in_batch` says a batch is under way, `batch_left` what it
    # still takes (None: no limit).
    quantity = state.get("restocked_quantity")
    size = batch_size(settings, None if quantity is None else int(quantity))
    starting = not state.get("in_batch")
    left_in_batch: int | None = size if starting else state.get("batch_left")
    take = STEP_LIMIT if left_in_batch is None else min(left_in_batch, STEP_LIMIT)
    picked, cursor = campaigns.restocks.waiting_signups(
        shop_id, variant_id, product_id, whole_product, state.get("cursor"), take, channels, int(moment.timestamp())
    )
    campaign_id = state["campaign_id"]
    sends = [
        {
            "send_id": send_id(s["signup_id"]),
            "signup_id": s["signup_id"],
            "allow_resend": False,
            "campaign_id": campaign_id,
        }
        for s in picked
    ]
    messages = [
        {
            "kind": "send",
            "shop_id": shop_id,
            "campaign_id": state["campaign_id"],
            "sends": sends[i : i + SENDS_PER_MESSAGE],
        }
        for i in range(0, len(sends), SENDS_PER_MESSAGE)
    ]
    refused = campaigns.queue.send_many(messages)
    if refused:  # raise: the step is retried and re-queues the same send ids (the worker sends each once)
        raise RuntimeError(f"{len(refused)} of {len(messages)} send messages were refused by SQS")
    at = ids.iso(moment)
    new_batch = starting and bool(sends)
    left = None if left_in_batch is None else left_in_batch - len(sends)
    wait = (
        0
        if cursor is None or left is None or left > 0
        else _scaled(campaigns, settings.delivery.batching.wait_hours * 3600)
    )
    if sends or (state.get("batches") == 0 and starting):
        progress: dict[str, Any] = {
            "phase": "waiting" if wait else "sending",
            "waiting_for": "batch_interval" if wait else None,
            "next_batch_at": ids.iso(moment + timedelta(seconds=wait)) if wait else None,
        }
        if int(state["batches"]) == 0 and starting:
            progress["eligible"] = _eligible(campaigns, shop_id, whole_product, variant_id, product_id)
        campaigns.restocks.record_batch(shop_id, variant_id, campaign_id, len(sends), at, new_batch, progress)
    next_state = {
        **state,
        "cursor": cursor,
        "batches": int(state["batches"]) + (1 if new_batch else 0),
        "queued": int(state["queued"]) + len(sends),
    }
    logger.info(
        "campaign batch queued",
        extra={"campaign_id": state["campaign_id"], "queued": len(sends), "more": cursor is not None},
    )
    if cursor is None:
        # Every waiting signup was queued: `eligible` is exactly what this campaign queued.
        extra = {"eligible": int(next_state["queued"])}
        return _close(campaigns, next_state, "finished", "every waiting signup was queued", moment, extra)
    if left is None or left > 0:  # the batch goes on in the next step, at once
        return {**next_state, "in_batch": True, "batch_left": left, "done": False, "wait_seconds": 0}
    return {**next_state, "in_batch": False, "batch_left": None, "done": False, "wait_seconds": wait}


def abandon(campaigns: Campaigns, state: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The workflow's Catch: a batch failed after its retries. Close the campaign so the next restock can run."""
    error = state.get("error") or {}
    logger.error("campaign failed", extra={"campaign_id": state.get("campaign_id"), "error": error.get("Error")})
    record = campaigns.restocks.record(state["shop_id"], state["campaign_id"]) or {}
    failed = max(0, int(record.get("eligible", 0)) - int(record.get("queued", 0)))
    reason = f"a batch failed: {error.get('Error', 'unknown error')}"
    return _close(campaigns, state, "failed", reason, now or ids.now(), {"failed": failed})


def _close(
    campaigns: Campaigns,
    state: dict[str, Any],
    status: str,
    reason: str,
    moment: datetime,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    campaigns.restocks.close_campaign(
        state["shop_id"], int(state["variant_id"]), state["campaign_id"], status, reason, ids.iso(moment), extra
    )
    logger.info("campaign closed", extra={"campaign_id": state["campaign_id"], "status": status, "reason": reason})
    return {**state, "done": True, "wait_seconds": 0, "status": status, "outcome": reason}


def _eligible(campaigns: Campaigns, shop_id: str, whole_product: bool, variant_id: int, product_id: int) -> int:
    """Signups waiting at the campaign's start, from the waitlist's all-time counters (one GetItem, no Query of the
    whole waitlist); exact once every batch is queued (`step` then records what it queued)."""
    if campaigns.rollups is None:
        return 0
    dimension = f"p:{product_id}" if whole_product else f"v:{variant_id}"
    return campaigns.rollups.total(shop_id, dimension, "signups_pending", consistent=False)


def steered_state(campaigns: Campaigns, state: dict[str, Any]) -> dict[str, Any] | None:
    """Before a step: the campaign's record says what the merchant asked. None: go on. A cancelled (or otherwise
    closed) campaign ends its execution; a paused one keeps its state in the record and ends its execution too
    (`resume` starts another from that state), so nothing waits on a paused campaign."""
    shop_id, campaign_id = state["shop_id"], state["campaign_id"]
    record = campaigns.restocks.record(shop_id, campaign_id)
    if record is None:  # a campaign started before records existed: nothing can steer it
        return None
    if record.get("status") != restock_repo.RUNNING:
        logger.info("campaign closed by the merchant", extra={"campaign_id": campaign_id, "status": record["status"]})
        return {**state, "done": True, "wait_seconds": 0, "status": record["status"], "outcome": record.get("outcome")}
    if record.get("control") != restock_repo.PAUSED:
        return None
    parked = {**state, "done": False, "wait_seconds": 0}
    if campaigns.restocks.park(shop_id, campaign_id, json.dumps(parked, separators=(",", ":"))):
        logger.info("campaign paused: its execution ends until a resume", extra={"campaign_id": campaign_id})
        return {**state, "done": True, "wait_seconds": 0, "status": "paused", "outcome": "paused by the merchant"}
    return steered_state(campaigns, state)  # resumed or cancelled meanwhile: read again


def hold_of(repo: RestockRepository, shop_id: str, campaign_id: str) -> str | None:
    """What the send worker does with a campaign's message: `cancelled` (drop its sends: their signups stay
    pending), `paused` (hold them: queue the message again, delayed), None (send). One eventually consistent
    GetItem per message (up to 50 sends)."""
    record = repo.record(shop_id, campaign_id, consistent=False)
    if record is None:
        return None
    if record.get("status") == restock_repo.CANCELLED:
        return "cancelled"
    if record.get("status") == restock_repo.RUNNING and record.get("control") == restock_repo.PAUSED:
        return "paused"
    return None
