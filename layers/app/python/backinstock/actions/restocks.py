"""Restocks (issue 23): restock campaigns as the merchant sees and steers them. A campaign notifies a variant's
waitlist in batches when the variant restocks (a Shopify inventory webhook), or when the merchant starts one."""

from __future__ import annotations

from backinstock.models import restocks as m
from backinstock.registry import Access, Action, Sample

RESOURCE = "restocks"
_PREFIX = "/back_in_stock/restocks"
_READ = frozenset({Access.TABLE_READ})
_STEER = frozenset({Access.TABLE_READ, Access.TABLE_WRITE})
_IDEMPOTENCY_NOTE = (
    "Send an Idempotency-Key header to make retries safe: the same key and body replay the first response "
    "(Idempotent-Replayed: true) without a second effect; the same key with another body is a 422."
)
_STATE_NOTE = (
    "state: scheduled, waiting (waiting_for: cooldown or batch_interval), sending, paused, completed, cancelled, "
    "stopped (stock ran out again), failed. Counts: eligible, queued, sent, blocked (by reason), failed."
)

LIST = Action(
    name="list_restocks",
    method="GET",
    path=_PREFIX,
    resource=RESOURCE,
    description="List restock campaigns, newest first: what each restock is doing, filtered by variant, state and "
    "start window",
    handler="restocks.list_restocks",
    access=_READ,
    aliases=("restock campaigns", "show restocks", "how far has the restock got", "running restocks"),
    query_model=m.RestockListQuery,
    response_model=m.RestockList,
    sample=Sample(f"{_PREFIX}?variant_id=101&state=completed"),
    notes=(
        "Newest first (by start). Pages are stable: pass meta.as_of back as `as_of`. per_page defaults to 50, at "
        "most 200.",
        _STATE_NOTE,
    ),
)

GET = Action(
    name="get_restock",
    method="GET",
    path=f"{_PREFIX}/:id",
    resource=RESOURCE,
    description="Read one restock campaign: variant, trigger, state, counts, times and an estimate of when it ends",
    handler="restocks.get_restock",
    access=_READ,
    aliases=("show restock", "restock progress", "is the restock done"),
    response_model=m.Restock,
    sample=Sample(f"{_PREFIX}/{{restock_id}}"),
    notes=(
        _STATE_NOTE,
        "sent and blocked follow the send log within seconds (the rollup aggregator counts them); "
        "estimated_finish_at extrapolates the pace measured so far.",
    ),
)

CREATE = Action(
    name="create_restock",
    method="POST",
    path=_PREFIX,
    resource=RESOURCE,
    description="Notify everyone waiting for a variant: start a restock campaign by hand, under a webhook "
    "restock's rules",
    handler="restocks.create_restock",
    access=_STEER | {Access.CAMPAIGN_RUN, Access.IDEMPOTENCY},
    aliases=("notify everyone waiting for this variant", "start a restock", "send the restock alerts now"),
    body_model=m.RestockCreate,
    response_model=m.Restock,
    sample=Sample(_PREFIX, {"shopify_variant_id": 102, "shopify_product_id": 10, "quantity": 5}),
    success_status=202,
    idempotent=True,
    notes=(
        "Same rules as a restock from Shopify: only eligible signups (channel enabled, opt-in confirmed where "
        "required), the batching setting, the cooldown after the variant's previous campaign (state waiting). It "
        "does not stop on the variant's stock level: the inventory may live outside Shopify.",
        "409 while a campaign of the variant runs (pause, resume or cancel that one).",
        _IDEMPOTENCY_NOTE,
    ),
)

PAUSE = Action(
    name="pause_restock",
    method="POST",
    path=f"{_PREFIX}/:id/pause",
    resource=RESOURCE,
    description="Pause a restock campaign: no further sends until it is resumed",
    handler="restocks.pause_restock",
    access=_STEER,
    aliases=("pause the restock", "hold the restock alerts"),
    response_model=m.Restock,
    sample=Sample(f"{_PREFIX}/{{restock_id}}/pause"),
    notes=(
        "Sends already with the provider complete; queued ones are held. Idempotent: a paused campaign answers as "
        "it is. 409 once it has ended.",
    ),
)

RESUME = Action(
    name="resume_restock",
    method="POST",
    path=f"{_PREFIX}/:id/resume",
    resource=RESOURCE,
    description="Resume a paused restock campaign where it stopped",
    handler="restocks.resume_restock",
    access=_STEER | {Access.CAMPAIGN_RUN},
    aliases=("resume the restock", "continue the restock alerts"),
    response_model=m.Restock,
    sample=Sample(f"{_PREFIX}/{{restock_id}}/resume"),
    notes=("Idempotent: a campaign that is not paused answers as it is. 409 once it has ended.",),
)

CANCEL = Action(
    name="cancel_restock",
    method="POST",
    path=f"{_PREFIX}/:id/cancel",
    resource=RESOURCE,
    description="Cancel a restock campaign: it sends nothing more and its unsent signups stay pending",
    handler="restocks.cancel_restock",
    access=_STEER,
    aliases=("cancel the restock", "stop the restock alerts", "restock started by mistake"),
    response_model=m.Restock,
    sample=Sample(f"{_PREFIX}/{{restock_id}}/cancel"),
    notes=(
        "Sends already with the provider complete; the others are dropped and their signups stay pending (the next "
        "restock alerts them). Idempotent: a cancelled campaign answers as it is. 409 once it has completed, "
        "stopped or failed.",
    ),
)

ACTIONS = (LIST, GET, CREATE, PAUSE, RESUME, CANCEL)
