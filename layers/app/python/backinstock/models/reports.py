"""Back-in-stock reports (reference 000): the shared filters, the per-report extras and the representations (the
manifest and the export jobs are every family's: `models.reporting`).

Queries arrive as strings and are parsed laxly; the same models parse the JSON body of an export (`*/export`).
`from`/`to` are ISO dates (inclusive, UTC days); the window is resolved against today in the service (defaults,
`from` after `to`, the maximum length), where the clock is.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backinstock.models.reporting import IN_RANGE, parse_date
from backinstock.models.signups import Channel

DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 366
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500
Granularity = Literal["day", "week", "month"]


WINDOW_RULE = f"`from` must not be after `to`, and the window spans at most {MAX_WINDOW_DAYS} days: a 422 otherwise."


class _Filters(BaseModel):
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
    variant_id: int | None = Field(default=None, ge=1, le=2**53, description="Shopify variant id")
    product_id: int | None = Field(default=None, ge=1, le=2**53, description="Shopify product id")
    channel: Channel | None = None

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _date(cls, value: Any) -> date | None:
        return parse_date(value)


class ReportQuery(_Filters):
    """The shared filters (summary)."""


class SeriesQuery(_Filters):
    """The shared filters and the bucket size of a time series."""

    granularity: Granularity = Field(default="day", description="day / week (ISO weeks, Monday) / month")


class DemandQuery(_Filters):
    sort_by: Literal["pending", "total", "last_requested_at"] = "pending"
    direction: Literal["desc", "asc"] = "desc"
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE)


class DemandExport(_Filters):
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


class Totals(_Out):
    signups: int
    pending: int = Field(description="Waiting, no send attempted: the list's status=pending over the window")
    blocked: int = Field(description="A send was attempted but stopped (the list's status blocked)")
    notified: int
    conversions: int = Field(description="Signups of the window, notified, with a medium/high-confidence order")
    conversion_rate: float = Field(description="conversions / notified (0 when none were notified)")
    recovered_revenue: str = Field(description="Attributed revenue ordered in the window, two decimals")


class SummaryReport(_Out):
    window: Window
    currency: str
    totals: Totals


class SignupsPoint(_Out):
    date: str
    signups: int
    pending: int = Field(description="Waiting, no send attempted: the list's status=pending")
    blocked: int = Field(description="A send was attempted but stopped (the list's status blocked)")
    notified: int


class SignupsReport(_Out):
    window: Window
    granularity: str
    series: list[SignupsPoint]


class NotificationsPoint(_Out):
    date: str
    sent: int
    blocked: int
    email: int
    sms: int
    push: int


class NotificationsReport(_Out):
    window: Window
    granularity: str
    series: list[NotificationsPoint]


class ConversionsPoint(_Out):
    date: str
    orders: int
    recovered_revenue: str


class ConversionsReport(_Out):
    window: Window
    granularity: str
    currency: str
    series: list[ConversionsPoint]


class DemandRow(_Out):
    shopify_variant_id: int
    shopify_product_id: int | None
    variant_title: str | None
    product_title: str | None
    pending: int
    total: int
    last_requested_at: str | None


class DemandMeta(_Out):
    total_count: int
    page: int
    per_page: int
    total_pages: int


class DemandReport(_Out):
    window: Window
    sort_by: str
    direction: str
    rows: list[DemandRow]
    meta: DemandMeta
