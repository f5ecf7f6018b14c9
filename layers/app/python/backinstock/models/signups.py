"""Signups (the waitlist) and notifications (the send log): request bodies, list queries and representations
(reference 004).

Request bodies are strict (`"5"` is not an integer, `"yes"` is not a boolean) and reject unknown keys. List queries
arrive as strings, so they are parsed laxly, but bounds are enforced: an out-of-range `page` or `per_page` is a 422,
never silently clamped.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

from backinstock.models.common import SPACE
from backinstock.models.reporting import IN_RANGE, RANGE_TEXT, in_range, parse_date

MAX_BULK_IDS = 1000
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_QUANTITY = 10_000
# An email address as SES takes it (RFC 5321, no SMTPUTF8): an ASCII dot-atom local part of at most 64 characters,
# and a domain of LDH labels (an internationalised domain in its `xn--` form), the last a name of 2+ characters. No
# NUL, control, zero-width or full-width character passes, so one person is one spelling.
# NFC maps two characters into that alphabet (KELVIN SIGN to K, GREEK VARIA to `): the patterns, which describe what
# is sent, take them too.
_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~\\u212a\\u1fef-"
_LOCAL = f"[{_ATEXT}]+(?:\\.[{_ATEXT}]+)*"
_LABEL = "[A-Za-z0-9\\u212a](?:[A-Za-z0-9\\u212a-]{0,61}[A-Za-z0-9\\u212a])?"
_TOP = "[A-Za-z\\u212a](?:[A-Za-z0-9\\u212a-]{0,61}[A-Za-z0-9\\u212a])"
EMAIL = re.compile(f"^{_LOCAL}@(?:{_LABEL}\\.)+{_TOP}$")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# What the two checks accept before normalizing (`normalize_email`, `normalize_phone`), for the JSON Schema: the code
# and the document agree on every string. The local part's 64 characters are a second pattern (JSON Schema `allOf`):
# one regular expression cannot say both without a lookahead, which generators of test data cannot follow.
EMAIL_PATTERN = f"^[{SPACE}]*{_LOCAL}@(?:{_LABEL}\\.)+{_TOP}[{SPACE}]*$"
EMAIL_LOCAL_PATTERN = f"^[{SPACE}]*[^@]{{1,64}}@"
_PHONE_NOISE = f"[{SPACE}().-]"
PHONE_PATTERN = f"^{_PHONE_NOISE}*\\+{_PHONE_NOISE}*[1-9](?:{_PHONE_NOISE}*[0-9]){{6,14}}{_PHONE_NOISE}*$"

ShopifyId = Annotated[StrictInt, Field(ge=1, le=2**53)]
SignupId = Annotated[str, Field(min_length=1, max_length=64)]
Channel = Literal["email", "sms", "push"]


# `defer_build`: a model's validator is built when it is first used, not when the module is imported, so a handler
# pays only for the models its action uses (import time is cold start).
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


def normalize_email(value: str) -> str:
    """NFC, surrounding whitespace off, case-folded (the domain's case never matters; the local part's does not for
    any provider a shop's customers use, and one person must be one signup)."""
    return unicodedata.normalize("NFC", value).strip().lower()


def normalize_phone(value: str) -> str:
    return re.sub(r"[\s().-]", "", value)


# ---------------------------------------------------------------------------------------------- request bodies
# The contact each channel requires, as JSON Schema says it (`if`/`then`), beside the validator that enforces it.
_CONTACT_FOR_CHANNEL: dict[str, Any] = {
    "allOf": [
        {
            "if": {"properties": {"channel": {"const": channel}}, "required": ["channel"]},
            "then": {"properties": {contact: {"type": "string"}}, "required": [contact]},
        }
        for channel, contact in (("email", "email"), ("sms", "phone"))
    ]
}


class SignupCreate(_Body):
    model_config = ConfigDict(json_schema_extra=_CONTACT_FOR_CHANNEL)
    contract_rules: ClassVar[tuple[str, ...]] = (
        "A variant that is not in the shop's catalog needs shopify_product_id, and a variant of the catalog takes "
        "only its own product: a 422 otherwise.",
    )

    channel: Literal["email", "sms"] = Field(description="email or sms (push signups come from the storefront)")
    shopify_variant_id: ShopifyId
    email: str | None = Field(
        default=None,
        max_length=254,
        description="Required for the email channel",
        json_schema_extra={"pattern": EMAIL_PATTERN, "allOf": [{"pattern": EMAIL_LOCAL_PATTERN}]},
    )
    phone: str | None = Field(
        default=None,
        max_length=32,
        description="E.164, required for the sms channel",
        json_schema_extra={"pattern": PHONE_PATTERN},
    )
    shopify_product_id: ShopifyId | None = Field(default=None, description="Resolved from the variant when omitted")
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)] = 1
    name: str | None = Field(default=None, max_length=200, description="Customer name")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = normalize_email(value)
        if not EMAIL.match(value) or len(value.split("@", 1)[0]) > 64:
            raise ValueError(
                "must be an email address like jane@example.com: ASCII letters, digits and !#$%&'*+/=?^_`{|}~- "
                "around single dots, at most 64 before the @, and a domain (an internationalised one in its xn-- "
                f"form) (got {value!r})"
            )
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = normalize_phone(value)
        if not E164.match(value):
            raise ValueError(f"must be an E.164 phone number like +15551234567 (got {value!r})")
        return value

    @model_validator(mode="after")
    def _contact_for_channel(self) -> SignupCreate:
        if self.channel == "email" and self.email is None:
            raise ValueError("email is required for the email channel")
        if self.channel == "sms" and self.phone is None:
            raise ValueError("phone is required for the sms channel")
        return self

    @property
    def contact(self) -> str:
        return (self.email if self.channel == "email" else self.phone) or ""


class NotifyBody(_Body):
    allow_resend: StrictBool = Field(default=False, description="Required to re-notify an already-notified signup")


class BulkNotifyBody(_Body):
    signup_ids: list[SignupId] = Field(min_length=1, max_length=MAX_BULK_IDS, description="At most 1000 ids")
    allow_resend: StrictBool = False


class BulkDeleteBody(_Body):
    signup_ids: list[SignupId] = Field(min_length=1, max_length=MAX_BULK_IDS, description="At most 1000 ids")


class TransferBody(_Body):
    contract_rules: ClassVar[tuple[str, ...]] = (
        "from_shopify_variant_id and to_shopify_variant_id must differ: a 422 otherwise.",
    )
    from_shopify_variant_id: ShopifyId
    to_shopify_variant_id: ShopifyId
    to_shopify_product_id: ShopifyId
    from_shopify_product_id: ShopifyId | None = Field(default=None, description="Resolved when omitted")
    scope: Literal["pending", "notified", "all"] = "pending"

    @model_validator(mode="after")
    def _different(self) -> TransferBody:
        if self.from_shopify_variant_id == self.to_shopify_variant_id:
            raise ValueError("from_shopify_variant_id and to_shopify_variant_id must differ")
        return self


# ------------------------------------------------------------------------------------------------- list queries
def parse_moment(value: Any, end_of_day: bool) -> datetime:
    """ISO 8601 date or date-time. A bare date covers its whole day (`to=2026-06-01` includes that day); a
    date-time without an offset is UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.max if end_of_day else time.min)
    else:
        text = str(value).strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.max if end_of_day else time.min)
        else:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                raise ValueError(
                    f"must be an ISO 8601 date or date-time like 2026-06-01T12:00:00Z (got {text!r})"
                ) from None
    shown = value.isoformat() if isinstance(value, date) else str(value).strip()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # an offset that carries year 1 or 9999 out of range
        raise ValueError(f"must be {RANGE_TEXT} (got {shown!r})") from None
    in_range(moment.date(), shown)
    return moment


class MomentWindow(BaseModel):
    """A list's window of moments (`from`, `to`, and the page snapshot `as_of`), for a query model declaring those
    fields: a date or a moment, UTC; `to` a date covers its day; `from` not after `to`."""

    contract_rules: ClassVar[tuple[str, ...]] = ("`from` must not be after `to`: a 422 otherwise.",)

    @field_validator("from_", "as_of", mode="before", check_fields=False)
    @classmethod
    def _start(cls, value: Any) -> datetime | None:
        return None if value is None else parse_moment(value, end_of_day=False)

    @field_validator("to", mode="before", check_fields=False)
    @classmethod
    def _end(cls, value: Any) -> datetime | None:
        return None if value is None else parse_moment(value, end_of_day=True)

    @model_validator(mode="after")
    def _window(self) -> Self:
        start, end = getattr(self, "from_", None), getattr(self, "to", None)
        if start and end and start > end:
            raise ValueError("from must not be after to")
        return self


class ListQuery(_Query, MomentWindow):
    """The filters and paging of the signup and notification lists."""

    # Rules JSON Schema cannot state: written in the description of every operation that takes the model.
    contract_rules: ClassVar[tuple[str, ...]] = ("`from` must not be after `to`: a 422 otherwise.",)
    from_: datetime | None = Field(
        default=None, alias="from", description="ISO 8601: window start (inclusive)", json_schema_extra=IN_RANGE
    )
    to: datetime | None = Field(
        default=None,
        description="ISO 8601: window end (inclusive; a date covers its day)",
        json_schema_extra=IN_RANGE,
    )
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE)
    variant_id: int | None = Field(default=None, ge=1, le=2**53, description="Shopify variant id")
    product_id: int | None = Field(default=None, ge=1, le=2**53, description="Shopify product id")
    channel: Channel | None = None
    as_of: datetime | None = Field(
        default=None,
        description="Snapshot time from meta.as_of of the first page: rows created later are left out, so pages "
        "stay stable while new rows arrive",
        json_schema_extra=IN_RANGE,
    )

    def upper_bound(self, now: datetime) -> datetime:
        """The newest `created_at` this request lists: the earliest of `to`, `as_of` and now."""
        bounds = [b for b in (self.to, self.as_of, now) if b is not None]
        return min(bounds)


class SignupListQuery(ListQuery):
    status: Literal["pending", "notified", "unsubscribed"] | None = Field(
        default=None, description="pending / notified / unsubscribed (blocked sends: the notification log)"
    )
    email: str | None = Field(default=None, min_length=1, max_length=254, description="Partial, case-insensitive")
    phone: str | None = Field(default=None, min_length=1, max_length=32, description="Partial match")

    @field_validator("status", mode="before")
    @classmethod
    def _not_blocked(cls, value: Any) -> Any:
        if value == "blocked":
            raise ValueError(
                "blocked is not a filterable status: list blocked sends with "
                "GET /back_in_stock/notifications?status=blocked"
            )
        return value


class NotificationListQuery(ListQuery):
    status: Literal["sent", "blocked"] | None = None


class SignupExport(BaseModel):
    """The waitlist export: the list's filters (a window on created_at), every matching row."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    from_: date | None = Field(
        default=None, alias="from", description="ISO 8601 date: created on or after", json_schema_extra=IN_RANGE
    )
    to: date | None = Field(default=None, description="ISO 8601 date: created on or before", json_schema_extra=IN_RANGE)
    channel: Channel | None = None
    status: Literal["pending", "notified", "unsubscribed"] | None = None
    variant_id: int | None = Field(default=None, ge=1, le=2**53)
    product_id: int | None = Field(default=None, ge=1, le=2**53)
    email: str | None = Field(default=None, min_length=1, max_length=254, description="Partial, case-insensitive")
    phone: str | None = Field(default=None, min_length=1, max_length=32, description="Partial match")

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _date(cls, value: Any) -> date | None:
        return parse_date(value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else normalize_email(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalize_phone(value)


# ----------------------------------------------------------------------------------------------- representations
class _Representation(BaseModel):
    model_config = ConfigDict(defer_build=True)

    keep_nulls: ClassVar[bool] = True  # the reference shows `null` fields: `api.http.dump` keeps them


class Variant(_Representation):
    shopify_variant_id: int
    shopify_product_id: int
    title: str | None


class Customer(_Representation):
    id: str
    email: str | None
    phone: str | None = None
    name: str | None


class Optin(_Representation):
    required: bool
    confirmed: bool | None = Field(description="Only meaningful when double opt-in is required; null otherwise")


class Signup(_Representation):
    id: str
    status: Literal["pending", "notified", "unsubscribed", "blocked"]
    channel: Channel
    contact: str
    quantity: int
    variant: Variant
    customer: Customer
    optin: Optin
    notifications_sent: int
    last_notified_at: str | None
    created_at: str


class PageMeta(_Representation):
    total_count: int
    page: int
    per_page: int
    total_pages: int
    as_of: str = Field(description="Pass back as `as_of` with the next pages for a stable listing")

    @classmethod
    def of(cls, total: int, page: int, per_page: int, as_of: str) -> PageMeta:
        """The meta of page `page` (of `per_page` items) of a listing of `total` items as of `as_of`."""
        pages = math.ceil(total / per_page)
        return cls(total_count=total, page=page, per_page=per_page, total_pages=pages, as_of=as_of)


class SignupList(_Representation):
    signups: list[Signup]
    meta: PageMeta


class Notification(_Representation):
    id: str
    status: Literal["sent", "blocked"]
    blocked_reason: str | None
    channel: Channel
    contact: str
    shopify_variant_id: int
    shopify_product_id: int
    signup_id: str
    sent_at: str


class NotificationList(_Representation):
    notifications: list[Notification]
    meta: PageMeta


class Deleted(_Representation):
    deleted: bool
    signup_id: str


Spacing = Literal["joined", "held"]
_SPACING = (
    "Present when the resend spacing window (settings delivery.resend_spacing_minutes) kept this request from "
    "queueing a second alert: `joined`, a send of this signup is already queued or in flight and this request "
    "joined it; `held`, the signup was alerted within the window and nothing more is sent now"
)
_HELD_UNTIL = "With spacing `held` or `joined`: when the window ends and a new alert may be asked for"


class Queued(_Representation):
    keep_nulls: ClassVar[bool] = False  # `coalesced` and `spacing` appear only when they happened
    signup_id: str
    queued: bool
    coalesced: bool | None = Field(
        default=None,
        description="true when this request did not queue a send of its own: it joined the one queued or in flight, "
        "or was held by the spacing window (see `spacing`)",
    )
    spacing: Spacing | None = Field(default=None, description=_SPACING)
    held_until: str | None = Field(default=None, description=_HELD_UNTIL)


class BulkFailure(_Representation):
    signup_id: str
    error: str


class SpacedSend(_Representation):
    keep_nulls: ClassVar[bool] = False
    signup_id: str
    spacing: Spacing = Field(description=_SPACING)
    held_until: str | None = Field(default=None, description=_HELD_UNTIL)


class BulkNotifyResult(_Representation):
    keep_nulls: ClassVar[bool] = False  # `spaced` appears only when the spacing window held or joined a send
    success: list[str]
    failed: list[BulkFailure]
    spaced: list[SpacedSend] | None = Field(
        default=None,
        description="The ids of `success` that queued no send of their own: they joined a send already queued or "
        "in flight, or were held by the resend spacing window (delivery.resend_spacing_minutes). Omitted when none.",
    )


class BulkDeleted(_Representation):
    deleted_count: int


class TransferAccepted(_Representation):
    success: bool
    scope: str
    from_shopify_variant_id: int
    to_shopify_variant_id: int
    transfer_id: str = Field(description="Traces the asynchronous move in logs")
