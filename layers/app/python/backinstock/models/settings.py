"""Settings: the shop-level singleton, five capabilities (reference 003).

Two families of models:
- the full blocks (`Channels`, `Delivery`, ...): what GET and PATCH return; their defaults are exactly the
  reference's "Full settings shape";
- the patch blocks (`ChannelsPatch`, ...): deep-partial request bodies. Every field is optional, nothing is
  coerced (strict: `"yes"` is not a boolean, `"5"` is not an integer), unknown keys are rejected, `null` is rejected
  (omit a key to leave it alone). Lists are leaves: `location_ids` / `product_ids` are replaced wholesale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from backinstock.models.common import SPACE, SchemaPattern, optional

MAX_ID_LIST = 250
MAX_BATCH_SIZE = 10_000
MAX_MULTIPLIER = 1_000
MAX_WAIT_HOURS = 720
MAX_STOCK_THRESHOLD = 1_000_000
MAX_SIGNUPS_THRESHOLD = 1_000_000
MAX_RESEND_SPACING_MINUTES = 1_440
DEFAULT_RESEND_SPACING_MINUTES = 10
TAG_MAX_LENGTH = 40
DEFAULT_TAG = "STOQ-back-in-stock"


# ---------------------------------------------------------------------------------------------- full blocks
class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class EnabledFlag(_Block):
    enabled: bool


class SmsVerification(_Block):
    """Restricted-content verification started the first time SMS is enabled. Read-only."""

    status: Literal["pending", "verified", "rejected"]
    started_at: datetime


class SmsChannel(_Block):
    enabled: bool = False
    verification: SmsVerification | None = Field(
        default=None,
        description="Present once SMS has been enabled: SMS sends may be held while the status is pending.",
    )


class Channels(_Block):
    email: EnabledFlag = EnabledFlag(enabled=True)
    sms: SmsChannel = SmsChannel()
    push: EnabledFlag = EnabledFlag(enabled=True)


class Batching(_Block):
    enabled: bool = False
    mode: Literal["multiplier", "fixed"] = "multiplier"
    multiplier: int = 3
    batch_size: int = 100
    wait_hours: int = 24


class Locations(_Block):
    filter_enabled: bool = False
    location_ids: list[int] = []


class AnyVariant(_Block):
    enabled: bool = False
    product_ids: list[int] = []


class Delivery(_Block):
    batching: Batching = Batching()
    stock_threshold: int = 1
    locations: Locations = Locations()
    any_variant: AnyVariant = AnyVariant()
    resend_spacing_minutes: int = Field(
        default=DEFAULT_RESEND_SPACING_MINUTES,
        description="At most one alert per signup in this many minutes, whatever asks for it (notify, bulk notify, "
        "a restock): a request inside the window joins the send in flight or is held",
    )


class Compliance(_Block):
    optin_required: bool = False


class OrderTags(_Block):
    enabled: bool = False
    tag: str = DEFAULT_TAG


class Tagging(_Block):
    order_tags: OrderTags = OrderTags()


class SignupsThreshold(_Block):
    count: int = 10
    notify: bool = True


class ScheduledReports(_Block):
    daily: bool = False
    weekly: bool = False
    monthly: bool = False


class Alerts(_Block):
    signups_threshold: SignupsThreshold = SignupsThreshold()
    scheduled_reports: ScheduledReports = ScheduledReports()


class Settings(_Block):
    channels: Channels = Channels()
    delivery: Delivery = Delivery()
    compliance: Compliance = Compliance()
    tagging: Tagging = Tagging()
    alerts: Alerts = Alerts()


# --------------------------------------------------------------------------------------------- patch blocks
class _Patch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


def _ids(value: list[int]) -> list[int]:
    # Replaced wholesale; duplicates carry no meaning, so keep the first occurrence of each id.
    return list(dict.fromkeys(value))


def _tag(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must be a non-empty tag")
    if "," in value:
        raise ValueError("must be a single tag: Shopify separates tags with commas")
    if len(value) > TAG_MAX_LENGTH:
        raise ValueError(f"must be at most {TAG_MAX_LENGTH} characters (got {len(value)})")
    return value


ShopifyId = Annotated[int, Field(ge=1, le=2**53)]
IdList = Annotated[list[ShopifyId], Field(max_length=MAX_ID_LIST), AfterValidator(_ids)]
# The same rule for JSON Schema: no comma, at least one character that is not whitespace, the length as sent.
TAG_PATTERN = f"^[^,]*[^,{SPACE}][^,]*$"
Tag = Annotated[str, Field(max_length=TAG_MAX_LENGTH), SchemaPattern(TAG_PATTERN), AfterValidator(_tag)]


class EnabledFlagPatch(_Patch):
    enabled: bool = optional()


class ChannelsPatch(_Patch):
    email: EnabledFlagPatch = optional()
    sms: EnabledFlagPatch = optional()
    push: EnabledFlagPatch = optional()


class BatchingPatch(_Patch):
    enabled: bool = optional()
    mode: Literal["multiplier", "fixed"] = optional(description="multiplier: restocked quantity x multiplier; fixed")
    multiplier: Annotated[int, Field(ge=1, le=MAX_MULTIPLIER)] = optional()
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH_SIZE)] = optional()
    wait_hours: Annotated[int, Field(ge=0, le=MAX_WAIT_HOURS)] = optional()


class LocationsPatch(_Patch):
    filter_enabled: bool = optional()
    location_ids: IdList = optional(description="Shopify numeric location ids; replaced wholesale")


class AnyVariantPatch(_Patch):
    enabled: bool = optional()
    product_ids: IdList = optional(description="Shopify numeric product ids; replaced wholesale")


class DeliveryPatch(_Patch):
    batching: BatchingPatch = optional()
    stock_threshold: Annotated[int, Field(ge=1, le=MAX_STOCK_THRESHOLD)] = optional()
    locations: LocationsPatch = optional()
    any_variant: AnyVariantPatch = optional()
    resend_spacing_minutes: Annotated[int, Field(ge=0, le=MAX_RESEND_SPACING_MINUTES)] = optional(
        description="Minutes between two alerts of one signup, 0-1440 (default 10; 0: no spacing beyond one send "
        "in flight at a time)"
    )


class CompliancePatch(_Patch):
    optin_required: bool = optional()


class OrderTagsPatch(_Patch):
    enabled: bool = optional()
    tag: Tag = optional(description=f"A single Shopify tag, 1-{TAG_MAX_LENGTH} characters, no commas")


class TaggingPatch(_Patch):
    order_tags: OrderTagsPatch = optional()


class SignupsThresholdPatch(_Patch):
    count: Annotated[int, Field(ge=1, le=MAX_SIGNUPS_THRESHOLD)] = optional()
    notify: bool = optional()


class ScheduledReportsPatch(_Patch):
    daily: bool = optional()
    weekly: bool = optional()
    monthly: bool = optional()


class AlertsPatch(_Patch):
    signups_threshold: SignupsThresholdPatch = optional()
    scheduled_reports: ScheduledReportsPatch = optional()


class SettingsPatch(_Patch):
    channels: ChannelsPatch = optional()
    delivery: DeliveryPatch = optional()
    compliance: CompliancePatch = optional()
    tagging: TaggingPatch = optional()
    alerts: AlertsPatch = optional()


# Capability name -> (full block, patch block). The top-level settings object is the capability "" (all five).
CAPABILITIES: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "channels": (Channels, ChannelsPatch),
    "delivery": (Delivery, DeliveryPatch),
    "compliance": (Compliance, CompliancePatch),
    "tagging": (Tagging, TaggingPatch),
    "alerts": (Alerts, AlertsPatch),
}


def flatten_patch(patch: BaseModel, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """The leaves a patch sets, as paths: {("delivery", "batching", "mode"): "fixed", ...}. Lists are leaves."""
    leaves: dict[tuple[str, ...], Any] = {}
    for name in patch.model_fields_set:
        value = getattr(patch, name)
        if isinstance(value, BaseModel):
            leaves.update(flatten_patch(value, (*prefix, name)))
        else:
            leaves[(*prefix, name)] = value
    return leaves
