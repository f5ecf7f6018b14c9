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
from backinstock.queue import SENDS_PER_MESSAGE, SendQueue
from backinstock.repositories import restocks as restock_repo
from backinstock.repositories.restocks import RestockRepository
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
    sfn: Any  # boto3 Step Functions client
    state_machine_arn: str
    seconds_per_hour: int = 3600  # the local run scales `wait_hours` down (CAMPAIGN_SECONDS_PER_HOUR)


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
    c: Campaigns,
    shop: Shop,
    variant_id: int,
    product_id: int,
    quantity: int,
    episode: int,
    now: datetime | None = None,
    delivery: Delivery | None = None,
) -> dict[str, Any] | None:
    """Start the variant's campaign for a restock of `quantity` units. None when one is already running.
    `delivery`: the shop's delivery settings, when the caller has them already."""
    moment = now or ids.now()
    previous = c.restocks.campaign(shop.shop_id, variant_id)
    delay = 0  # seconds of this clock: the cooldown is scaled as every wait of the workflow is (the local run's hour)
    if previous and previous.get("last_batch_at"):
        rest = _scaled(c, int(cooldown(delivery or settings_of(shop).delivery).total_seconds()))
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
    }
    if not c.restocks.claim_campaign(shop.shop_id, variant_id, campaign):
        logger.info("restock while a campaign runs: no second campaign", extra={"variant_id": variant_id})
        return None
    state = {
        "shop_id": shop.shop_id,
        "variant_id": variant_id,
        "product_id": product_id,
        "campaign_id": campaign_id,
        "restocked_quantity": quantity,
        "cursor": None,
        "in_batch": False,
        "batch_left": None,
        "batches": 0,
        "queued": 0,
        "done": False,
        "wait_seconds": delay,
    }
    try:
        response = c.sfn.start_execution(
            stateMachineArn=c.state_machine_arn, name=f"restock-{campaign_id}", input=json.dumps(state)
        )
    except Exception:
        c.restocks.release_claim(shop.shop_id, variant_id, campaign_id)
        raise
    logger.info(
        "restock campaign started",
        extra={"variant_id": variant_id, "campaign_id": campaign_id, "quantity": quantity, "delay_s": delay},
    )
    return {**campaign, "execution_arn": response["executionArn"], "delay_seconds": delay}


def _scaled(c: Campaigns, seconds: int) -> int:
    return math.ceil(seconds * c.seconds_per_hour / 3600)


def batch_size_text(delivery: Delivery) -> str:
    """The batch size rule, as a person reads it."""
    batching = delivery.batching
    return str(batching.batch_size) if batching.mode == "fixed" else f"restocked quantity x {batching.multiplier}"


def batch_size(settings: Settings, quantity: int) -> int | None:
    """Signups per batch; None: one batch of everyone (batching off)."""
    batching = settings.delivery.batching
    if not batching.enabled:
        return None
    if batching.mode == "fixed":
        return batching.batch_size
    return max(1, quantity * batching.multiplier)


def step(c: Campaigns, state: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """One SendBatch of the workflow: re-check stock, pick the next batch, queue it. Returns the next state."""
    moment = now or ids.now()
    shop_id, variant_id = state["shop_id"], int(state["variant_id"])
    shop = c.shops.get(shop_id)
    if shop is None:
        return _close(c, state, "stopped", "the shop no longer exists", moment)
    settings = settings_of(shop)
    restock = c.restocks.state(shop_id, variant_id) or {}
    if not restock.get("in_stock"):
        return _close(c, state, "stopped", "sold out again before the batch", moment)
    channels = [name for name in ("email", "sms", "push") if getattr(settings.channels, name).enabled]
    product_id = int(state["product_id"])
    if any_variant_applies(settings, product_id):
        index, partition = "GSI2", f"SHOP#{shop_id}#PRODUCT#{product_id}"
    else:
        index, partition = "GSI1", f"SHOP#{shop_id}#VARIANT#{variant_id}"
    # A batch bigger than STEP_LIMIT (or everyone, batching off) is queued over several steps with no wait between
    # them, so that one Lambda invocation stays short: `in_batch` says a batch is under way, `batch_left` what it
    # still takes (None: no limit).
    size = batch_size(settings, int(state["restocked_quantity"]))
    starting = not state.get("in_batch")
    left_in_batch: int | None = size if starting else state.get("batch_left")
    take = STEP_LIMIT if left_in_batch is None else min(left_in_batch, STEP_LIMIT)
    picked, cursor = restock_repo.waiting_signups(c.restocks, index, partition, state.get("cursor"), take, channels)
    sends = [{"send_id": send_id(s["signup_id"]), "signup_id": s["signup_id"], "allow_resend": False} for s in picked]
    messages = [
        {
            "kind": "send",
            "shop_id": shop_id,
            "campaign_id": state["campaign_id"],
            "sends": sends[i : i + SENDS_PER_MESSAGE],
        }
        for i in range(0, len(sends), SENDS_PER_MESSAGE)
    ]
    refused = c.queue.send_many(messages)
    if refused:  # raise: the step is retried and re-queues the same send ids (the worker sends each once)
        raise RuntimeError(f"{len(refused)} of {len(messages)} send messages were refused by SQS")
    at = ids.iso(moment)
    new_batch = starting and bool(sends)
    if sends:
        c.restocks.record_batch(shop_id, variant_id, state["campaign_id"], len(sends), at, new_batch)
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
        return _close(c, next_state, "finished", "every waiting signup was queued", moment)
    left = None if left_in_batch is None else left_in_batch - len(sends)
    if left is None or left > 0:  # the batch goes on in the next step, at once
        return {**next_state, "in_batch": True, "batch_left": left, "done": False, "wait_seconds": 0}
    wait = timedelta(hours=settings.delivery.batching.wait_hours)
    return {
        **next_state,
        "in_batch": False,
        "batch_left": None,
        "done": False,
        "wait_seconds": _scaled(c, int(wait.total_seconds())),
    }


def abandon(c: Campaigns, state: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The workflow's Catch: a batch failed after its retries. Close the campaign so the next restock can run."""
    error = state.get("error") or {}
    logger.error("campaign failed", extra={"campaign_id": state.get("campaign_id"), "error": error.get("Error")})
    return _close(c, state, "failed", f"a batch failed: {error.get('Error', 'unknown error')}", now or ids.now())


def _close(c: Campaigns, state: dict[str, Any], status: str, reason: str, moment: datetime) -> dict[str, Any]:
    c.restocks.close_campaign(
        state["shop_id"], int(state["variant_id"]), state["campaign_id"], status, reason, ids.iso(moment)
    )
    logger.info("campaign closed", extra={"campaign_id": state["campaign_id"], "status": status, "reason": reason})
    return {**state, "done": True, "wait_seconds": 0, "status": status, "outcome": reason}
