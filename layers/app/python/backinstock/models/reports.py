"""Back-in-stock reports (reference 000): the shared filters, the per-report extras and the representations (the
manifest and the export jobs are every family's: `models.reporting`).

Queries arrive as strings and are parsed laxly; the same models parse the JSON body of an export (`*/export`).
`from`/`to` are ISO dates (inclusive, UTC days); the window is resolved against today in the service (defaults,
`from` after `to`, the maximum length), where the clock is.

Each report's answer declares its CSV file (`csv = Table(...)`, `models.reporting`): its columns are the fields, so
a new column is one field.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backinstock.models.reporting import (
    DEFAULT_WINDOW_DAYS,
    IN_RANGE,
    MAX_BUCKETS,
    MAX_WINDOW_DAYS,
    Table,
    parse_date,
)
from backinstock.models.signups import Channel

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500
Granularity = Literal["day", "week", "month"]
CHANNELS = ("email", "sms", "push")


WINDOW_RULE = (
    f"`from` must not be after `to`, and the window spans at most {MAX_BUCKETS} buckets of the report's granularity "
    f"({MAX_WINDOW_DAYS} days at day granularity or without one, {MAX_BUCKETS} weeks at week, {MAX_BUCKETS} months "
    "at month): a 422 otherwise."
)


class WindowFilters(BaseModel):
    """The window every report takes, back-in-stock's and the preorder family's: `from` and `to`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    # Rules JSON Schema cannot state: written in the description of every operation that takes the model.
    contract_rules: ClassVar[tuple[str, ...]] = (WINDOW_RULE,)

    from_: date | None = Field(
        default=None,
        alias="from",
        description=f"ISO 8601 date, inclusive; default {DEFAULT_WINDOW_DAYS - 1} days before `to`",
        json_schema_extra=IN_RANGE,
    )
    to: date | None = Field(
        default=None, description="ISO 8601 date, inclusive; default today (UTC)", json_schema_extra=IN_RANGE
    )

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _date(cls, value: Any) -> date | None:
        return parse_date(value)


class ReportFilters(WindowFilters):
    """The filters every back-in-stock report takes (reference 000's shared filters)."""

    variant_id: int | None = Field(default=None, ge=1, le=2**53, description="Shopify variant id")
    product_id: int | None = Field(default=None, ge=1, le=2**53, description="Shopify product id")
    channel: Channel | None = None


class ReportQuery(ReportFilters):
    """The shared filters (summary)."""


class SeriesQuery(ReportFilters):
    """The shared filters and the bucket size of a time series."""

    granularity: Granularity = Field(default="day", description="day / week (ISO weeks, Monday) / month")


class DemandQuery(ReportFilters):
    sort_by: Literal["pending", "total", "last_requested_at"] = "pending"
    direction: Literal["desc", "asc"] = "desc"
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE)


class DemandExport(ReportFilters):
    """products_in_demand's export: without `page`/`per_page`, every row."""

    sort_by: Literal["pending", "total", "last_requested_at"] = "pending"
    direction: Literal["desc", "asc"] = "desc"
    page: int | None = Field(default=None, ge=1, le=100_000, description="Export one page only (with per_page)")
    per_page: int | None = Field(default=None, ge=1, le=MAX_PER_PAGE)


# ----------------------------------------------------------------------------------------------- representations
class _Out(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)
    keep_nulls: ClassVar[bool] = True


class Window(_Out):
    from_: str = Field(alias="from")
    to: str


SIGNUP_COHORT = "Basis: the signups created in the window (the signups report's buckets), by their status now."
ORDERS_IN_WINDOW = (
    "Basis: the orders placed in the window attributed to an alert at medium/high confidence (the conversions "
    "report's buckets)."
)


class Totals(_Out):
    signups: int = Field(description=f"Signups created in the window. {SIGNUP_COHORT}")
    pending: int = Field(
        description="Of them, waiting with no send attempted: the list's status=pending over the window. "
        + SIGNUP_COHORT
    )
    blocked: int = Field(
        description=f"Of them, a send was attempted but stopped (the list's status blocked). {SIGNUP_COHORT}"
    )
    notified: int = Field(
        description="Of them, those notified (at any time since). Signups, not sends: the notifications report counts "
        f"sends made in the window, resends and sends to older signups included. {SIGNUP_COHORT}"
    )
    conversions: int = Field(
        description=f"Attributed orders: the sum of the conversions report's orders. {ORDERS_IN_WINDOW}"
    )
    conversion_rate: float = Field(
        description="The share of the notified signups (above) that converted to an attributed order at medium/high "
        f"confidence, whenever ordered: converted / notified, 0 when none were notified. {SIGNUP_COHORT}"
    )
    recovered_revenue: str = Field(
        description="The revenue of those orders, two decimals: the sum of the conversions report's "
        f"recovered_revenue. {ORDERS_IN_WINDOW}"
    )


class SummaryReport(_Out):
    csv: ClassVar[Table] = Table(rows="totals", before=("window", "currency"))

    window: Window
    currency: str = Field(description="The shop's currency: every amount is in it")
    totals: Totals


SERIES_DATE = (
    "The bucket's first day: the day, the ISO week's Monday or the month's first, except that a bucket the window's "
    "start cuts is labelled `from` (it counts the window's days only); a bucket the end cuts counts up to `to`"
)


class SignupsPoint(_Out):
    date: str = Field(description=SERIES_DATE)
    signups: int = Field(description="Signups created in the bucket")
    pending: int = Field(description="Waiting, no send attempted: the list's status=pending")
    blocked: int = Field(description="A send was attempted but stopped (the list's status blocked)")
    notified: int = Field(description="Of the bucket's signups, those notified since (signups, not sends)")


class SignupsReport(_Out):
    csv: ClassVar[Table] = Table(rows="series")

    window: Window
    granularity: str
    series: list[SignupsPoint]


class NotificationsPoint(_Out):
    date: str = Field(description=SERIES_DATE)
    sent: int = Field(
        description="Sends made in the bucket (by sent_at; resends and sends to older signups included): the send "
        "log's status=sent rows. Not the summary's notified, which counts signups created in the window"
    )
    blocked: int = Field(description="Sends attempted in the bucket but stopped: the send log's status=blocked rows")
    email: int = Field(description="Of sent, over email")
    sms: int = Field(description="Of sent, over sms")
    push: int = Field(description="Of sent, over push")
    blocked_email: int = Field(description="Of blocked, over email")
    blocked_sms: int = Field(description="Of blocked, over sms")
    blocked_push: int = Field(description="Of blocked, over push")


class NotificationsReport(_Out):
    csv: ClassVar[Table] = Table(rows="series")

    window: Window
    granularity: str
    series: list[NotificationsPoint]


class ConversionsPoint(_Out):
    date: str = Field(description=SERIES_DATE)
    orders: int = Field(description="Orders placed in the bucket attributed to an alert at medium/high confidence")
    recovered_revenue: str = Field(description="Their attributed revenue, two decimals, in the report's currency")


class ConversionsReport(_Out):
    csv: ClassVar[Table] = Table(rows="series", after=("currency",))

    window: Window
    granularity: str
    currency: str
    series: list[ConversionsPoint]


class DemandRow(_Out):
    shopify_variant_id: int
    shopify_product_id: int | None
    variant_title: str | None
    product_title: str | None
    pending: int = Field(
        description="The variant's waitlist now: its signups whose status is pending, whenever created (the signups "
        "list's status=pending for the variant, without a window)"
    )
    total: int = Field(description="Signups for the variant created in the window, any status")
    last_requested_at: str | None = Field(
        description="The latest signup for the variant in the window; the latest ever when none is in the window"
    )


class DemandMeta(_Out):
    total_count: int
    page: int
    per_page: int
    total_pages: int


class DemandReport(_Out):
    csv: ClassVar[Table] = Table(rows="rows")

    window: Window
    sort_by: str
    direction: str
    rows: list[DemandRow]
    meta: DemandMeta
