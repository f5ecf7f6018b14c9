"""Restocks (issue 23): a restock campaign as the merchant sees and steers it, `/back_in_stock/restocks`.

A campaign notifies a variant's waitlist in batches (`services.campaigns`); a webhook restock starts one, and so does
`POST /back_in_stock/restocks` by hand, under the same rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from backinstock.models.reporting import IN_RANGE
from backinstock.models.signups import DEFAULT_PER_PAGE, MAX_PER_PAGE, MomentWindow, PageMeta, ShopifyId

State = Literal["scheduled", "waiting", "sending", "paused", "completed", "cancelled", "stopped", "failed"]
STATES: tuple[str, ...] = State.__args__  # type: ignore[attr-defined]
ACTIVE_STATES = ("scheduled", "waiting", "sending", "paused")
MAX_QUANTITY = 1_000_000


class RestockCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)
    contract_rules: ClassVar[tuple[str, ...]] = (
        "A variant that is not in the shop's catalog needs shopify_product_id, and a variant of the catalog takes "
        "only its own product: a 422 otherwise.",
    )

    shopify_variant_id: ShopifyId = Field(description="The variant whose waitlist is notified")
    shopify_product_id: ShopifyId | None = Field(
        default=None, description="Resolved from the shop's catalog when omitted; an unknown variant needs it"
    )
    quantity: int | None = Field(
        default=None,
        ge=1,
        le=MAX_QUANTITY,
        description="Units coming in. With batching in multiplier mode a batch is quantity x multiplier; omitted, "
        "that mode sends one batch of everyone (fixed mode and wait_hours apply as set)",
    )


class RestockListQuery(MomentWindow):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    variant_id: int | None = Field(default=None, ge=1, le=2**53, description="Shopify variant id")
    state: State | None = Field(default=None, description="Only campaigns in this state")
    from_: datetime | None = Field(
        default=None, alias="from", description="ISO 8601: started at or after", json_schema_extra=IN_RANGE
    )
    to: datetime | None = Field(
        default=None, description="ISO 8601: started at or before (a date covers its day)", json_schema_extra=IN_RANGE
    )
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE)
    as_of: datetime | None = Field(
        default=None,
        description="Snapshot time from meta.as_of of the first page: campaigns started later are left out",
        json_schema_extra=IN_RANGE,
    )


# ----------------------------------------------------------------------------------------------- representations
class _Representation(BaseModel):
    model_config = ConfigDict(defer_build=True)
    keep_nulls: ClassVar[bool] = True


class RestockVariant(_Representation):
    shopify_variant_id: int
    shopify_product_id: int
    title: str | None = Field(description="The variant's title in the catalog")
    product_title: str | None


class Trigger(_Representation):
    type: Literal["webhook", "manual"] = Field(
        description="webhook: Shopify's inventory update crossed the stock threshold; manual: POST /restocks"
    )
    quantity: int | None = Field(description="The restocked quantity (webhook), or the one given (manual)")


class RestockCounts(_Representation):
    eligible: int = Field(
        description="Signups waiting when the campaign started (the waitlist's counters; channels and opt-in are "
        "applied as batches are picked); once every batch is queued, exactly the ones it queued"
    )
    queued: int = Field(description="Sends queued for the send worker so far")
    sent: int = Field(description="Alerts the provider accepted")
    blocked: int = Field(description="Sends stopped, with a reason: see blocked_by_reason")
    blocked_by_reason: dict[str, int] = Field(description="Blocked sends per reason, as the send log words it")
    failed: int = Field(
        description="Waiting signups this campaign will not alert because it failed (a batch failed after its "
        "retries): they stay pending"
    )


class Restock(_Representation):
    id: str
    variant: RestockVariant
    trigger: Trigger
    state: State = Field(
        description="scheduled (about to send), waiting (cooldown or batch interval: see waiting_for), sending, "
        "paused, completed, cancelled (its unsent signups stay pending), stopped (stock ran out again), failed"
    )
    waiting_for: Literal["cooldown", "batch_interval"] | None = Field(
        description="With state waiting: the cooldown after the variant's previous campaign, or the wait between "
        "batches (settings delivery.batching.wait_hours)"
    )
    next_batch_at: str | None = Field(description="When the next batch is due, while waiting")
    batches: int = Field(description="Batches queued so far")
    counts: RestockCounts
    started_at: str
    paused_at: str | None
    finished_at: str | None = Field(
        description="When it ended: completed (its last send processed), cancelled, stopped or failed"
    )
    estimated_finish_at: str | None = Field(
        description="While sending: when the last queued send should be processed at the pace measured so far "
        "(null before the first send, or while paused or waiting)"
    )
    outcome: str | None = Field(description="Why it ended, in words")


class RestockList(_Representation):
    restocks: list[Restock]
    meta: PageMeta
