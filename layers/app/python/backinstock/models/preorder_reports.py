"""Preorder reports (reference 001): the filters, the per-report extras and the nine representations.

Queries arrive as strings and are parsed laxly; the same models parse the JSON body of an export (`*/export`).
Shared with the back-in-stock reports (`models.reports`): the window (`from`/`to`, ISO dates, inclusive UTC days,
resolved in the service), granularity, the window echo. Money is a string with two decimals, in the shop's
currency or, with `currency`, in that presentment currency (only orders presented in it count).

Each report's answer declares its CSV file (`csv = Table(...)`, `models.reporting`): its columns are the fields, so
a new column is one field. Every file has the reporting currency and its exchange rate (`conversion.rate`, the
`exchange_rate` column) on each row.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from backinstock.models.common import SPACE
from backinstock.models.reporting import Column, Table
from backinstock.models.reports import WINDOW_RULE, Granularity, Window, WindowFilters
from backinstock.models.rollups import CANCEL_REASONS

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500
MAX_OFFER_IDS = 50


class _Out(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True, defer_build=True)
    keep_nulls: ClassVar[bool] = True


class DatePoint(_Out):
    """One bucket; only the requested metrics appear (`metrics`)."""

    date: str
    orders: int | None = None
    units: int | None = None
    revenue: str | None = None
    customers: int | None = None
    deposits_collected: str | None = None
    balances_collected: str | None = None
    cancelled_orders: int | None = None
    refunds_issued: str | None = None

    @model_serializer(mode="wrap")
    def _requested_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        return {k: v for k, v in out.items() if v is not None}


# by_date's metrics: DatePoint's fields, in their order (its CSV columns too); `metrics` restricts them. Money is
# what a string carries.
BY_DATE_METRICS = tuple(name for name in DatePoint.model_fields if name != "date")
MONEY_METRICS = frozenset(n for n in BY_DATE_METRICS if DatePoint.model_fields[n].annotation == str | None)


# ------------------------------------------------------------------------------------------------------ filters
class PreorderFilters(WindowFilters):
    """Every preorder read: the window and offer scoping, and the reporting currency."""

    model_config = ConfigDict(defer_build=True)

    offer_id: UUID | None = Field(default=None, description="Scope to one offer")
    offer_ids: list[UUID] | None = Field(
        default=None,
        alias="offer_ids[]",
        max_length=MAX_OFFER_IDS,
        description="Scope to several offers (repeat the parameter: offer_ids[]=...&offer_ids[]=...)",
    )
    currency: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z]{3}$",
        description="Reporting currency (ISO 4217), default the shop's: every order counts, its shop-money amounts "
        "converted at the rates Shopify applied to the orders presented in it (see conversion); a currency no order "
        "was presented in is a 422 naming those that can be used",
    )

    @field_validator("currency", mode="before")
    @classmethod
    def _code(cls, value: Any) -> Any:
        if isinstance(value, str) and not (len(value.strip()) == 3 and value.strip().isalpha()):
            raise ValueError("must be a 3-letter ISO 4217 currency code like USD")
        return value.strip() if isinstance(value, str) else value

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    def offers(self) -> list[str] | None:
        """The offer scope: `offer_id` and `offer_ids[]` together, or None for every offer."""
        wanted = [*(self.offer_ids or ()), *([self.offer_id] if self.offer_id else [])]
        return sorted({str(o) for o in wanted}) if wanted else None


class _Catalog(PreorderFilters):
    """The product / variant / market extras (summary, revenue, by_date and the product and variant breakdowns)."""

    product_id: int | None = Field(default=None, ge=1, le=2**53, description="Shopify product id")
    variant_id: int | None = Field(default=None, ge=1, le=2**53, description="Shopify variant id")
    market_id: int | None = Field(default=None, ge=1, le=2**53, description="Shopify market id")


class SummaryQuery(_Catalog):
    pass


_BOTH_PORTIONS_OFF = "include_deposits and include_balances cannot both be false"
_OFFER_SCOPE = "by_variant requires offer_id or offer_ids[]: variant rows are per offer"


class RevenueQuery(_Catalog):
    # As a body (its export), JSON Schema states the rule; as a query (separate parameters), the description does.
    model_config = ConfigDict(
        json_schema_extra={
            "not": {
                "required": ["include_deposits", "include_balances"],
                "properties": {"include_deposits": {"const": False}, "include_balances": {"const": False}},
            }
        }
    )
    contract_rules: ClassVar[tuple[str, ...]] = (WINDOW_RULE, f"{_BOTH_PORTIONS_OFF}: a 422 otherwise.")

    granularity: Granularity = Field(default="day", description="day / week (ISO weeks, Monday) / month")
    include_deposits: bool = Field(default=True, description="Count the deposit portion of each line")
    include_balances: bool = Field(default=True, description="Count the balance portion of each line")

    @model_validator(mode="after")
    def _one_portion(self) -> RevenueQuery:
        if not (self.include_deposits or self.include_balances):
            raise ValueError(f"{_BOTH_PORTIONS_OFF}: revenue is the deposit portion, the balance portion, or both")
        return self


class ByOfferQuery(PreorderFilters):
    pass


class ByVariantQuery(_Catalog):
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["offer_id"], "properties": {"offer_id": {"type": "string"}}},
                {"required": ["offer_ids[]"], "properties": {"offer_ids[]": {"type": "array", "minItems": 1}}},
            ]
        }
    )
    contract_rules: ClassVar[tuple[str, ...]] = (WINDOW_RULE, f"{_OFFER_SCOPE}: a 422 otherwise.")

    @model_validator(mode="after")
    def _offer_scope(self) -> ByVariantQuery:
        if self.offers() is None:
            raise ValueError(_OFFER_SCOPE)
        return self


class ByProductQuery(_Catalog):
    pass


_METRIC = f"(?:{'|'.join(BY_DATE_METRICS)})"
_ITEM = f"[{SPACE}]*(?:{_METRIC}[{SPACE}]*)?"
# `_known`'s rule for JSON Schema: comma-separated, blanks around names and empty items ignored, at least one name.
METRICS_PATTERN = f"^(?:{_ITEM},)*[{SPACE}]*{_METRIC}[{SPACE}]*(?:,{_ITEM})*$"


class ByDateQuery(_Catalog):
    granularity: Granularity = Field(default="day", description="day / week (ISO weeks, Monday) / month")
    metrics: str | None = Field(
        default=None,
        max_length=200,
        description=f"Comma-separated metric columns to compute (default all): {', '.join(BY_DATE_METRICS)}",
        json_schema_extra={"pattern": METRICS_PATTERN},
    )

    @field_validator("metrics")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is None:
            return None
        names = [n.strip() for n in value.split(",") if n.strip()]
        unknown = [n for n in names if n not in BY_DATE_METRICS]
        if unknown or not names:
            raise ValueError(
                f"unknown metric {', '.join(unknown) or '(none given)'}; known: {', '.join(BY_DATE_METRICS)}"
            )
        return ",".join(n for n in BY_DATE_METRICS if n in names)

    def metric_names(self) -> list[str]:
        return self.metrics.split(",") if self.metrics else list(BY_DATE_METRICS)


class CancellationsQuery(PreorderFilters):
    pass


class BalanceCollectionQuery(PreorderFilters):
    pass


class CustomersQuery(PreorderFilters):
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE)


class CustomersExport(PreorderFilters):
    """The customers export: without `page`/`per_page`, every customer."""

    page: int | None = Field(default=None, ge=1, le=100_000, description="Export one page only (with per_page)")
    per_page: int | None = Field(default=None, ge=1, le=MAX_PER_PAGE)


# ----------------------------------------------------------------------------------------------- representations
REPORTING_CURRENCY = (
    "The reporting currency: every amount of the answer is in it, in its minor units (JPY: none, KWD: three)"
)


class Conversion(_Out):
    """How the answer's amounts were obtained: the shop's own money, or converted from it."""

    basis: Literal["shop_money", "converted"] = Field(
        description="shop_money: Shopify's shop_money amounts of every order, as they are; converted: those amounts "
        "times rate"
    )
    shop_currency: str = Field(description="The currency the shop's amounts are kept in")
    rate: Annotated[str | None, Column("exchange_rate")] = Field(
        description="Units of the reporting currency per unit of the shop's (6 decimals)"
    )
    source: str | None = Field(description="Where the rate comes from, in words")


class SummaryTotals(_Out):
    orders: int
    units: int
    revenue: str
    customers: int
    deposits_collected: str
    balances_collected: str
    balances_outstanding: str
    cancelled_orders: int
    refunds_issued: str


class OfferFigures(_Out):
    offer_id: str
    offer_name: str | None
    orders: int
    units: int
    revenue: str


class PreorderSummaryReport(_Out):
    csv: ClassVar[Table] = Table(rows="totals", before=("window", "currency", "conversion.rate"))

    window: Window
    currency: str = Field(description=REPORTING_CURRENCY)
    conversion: Conversion
    totals: SummaryTotals
    by_offer_top_5: list[OfferFigures]


class RevenuePoint(_Out):
    date: str
    revenue: str


class RevenueTotals(_Out):
    revenue: str


class RevenueReport(_Out):
    csv: ClassVar[Table] = Table(
        rows="series", after=("currency", "conversion.rate", "window", "include_deposits", "include_balances")
    )

    window: Window
    currency: str = Field(description=REPORTING_CURRENCY)
    conversion: Conversion
    granularity: str
    include_deposits: bool
    include_balances: bool
    series: list[RevenuePoint]
    totals: RevenueTotals


class OfferRow(OfferFigures):
    customers: int


class ByOfferReport(_Out):
    csv: ClassVar[Table] = Table(rows="rows", after=("currency", "conversion.rate"))

    window: Window
    currency: str = Field(description=REPORTING_CURRENCY)
    conversion: Conversion
    rows: list[OfferRow]


class VariantRow(_Out):
    offer_id: str
    shopify_variant_id: int
    shopify_product_id: int | None
    variant_title: str | None
    product_title: str | None
    orders: int
    units: int
    revenue: str


class ByVariantReport(_Out):
    csv: ClassVar[Table] = Table(rows="rows", after=("currency", "conversion.rate"))

    window: Window
    currency: str = Field(description=REPORTING_CURRENCY)
    conversion: Conversion
    rows: list[VariantRow]


class ProductRow(_Out):
    shopify_product_id: int
    product_title: str | None
    variants: int = Field(description="Variants of the product with preorders in the window")
    orders: int
    units: int
    revenue: str


class ByProductReport(_Out):
    csv: ClassVar[Table] = Table(rows="rows", after=("currency", "conversion.rate"))

    window: Window
    currency: str = Field(description=REPORTING_CURRENCY)
    conversion: Conversion
    rows: list[ProductRow]


class ByDateReport(_Out):
    csv: ClassVar[Table] = Table(rows="series", after=("currency", "conversion.rate"))

    window: Window
    currency: str = Field(description=REPORTING_CURRENCY)
    conversion: Conversion
    granularity: str
    metrics: list[str]
    series: list[DatePoint]


class CancellationTotals(_Out):
    cancelled_orders: int
    cancelled_units: int
    cancelled_revenue: str
    refunds_issued: str


class ReasonRow(_Out):
    reason: str = Field(description=f"One of {', '.join(CANCEL_REASONS)}")
    orders: Annotated[int, Column("cancelled_orders")]


class OfferCancellations(_Out):
    offer_id: str
    offer_name: str | None
    cancelled_orders: int
    refunds_issued: str


class CancellationsReport(_Out):
    csv: ClassVar[Table] = Table(
        rows={"total": "totals", "reason": "by_reason", "offer": "by_offer"}, after=("currency", "conversion.rate")
    )

    window: Window
    currency: str = Field(description=REPORTING_CURRENCY)
    conversion: Conversion
    totals: CancellationTotals
    by_reason: list[ReasonRow]
    by_offer: list[OfferCancellations]


class BalanceFigures(_Out):
    balances_due: str
    balances_collected: str
    balances_failed: str
    balances_outstanding: str
    collected_count: int
    failed_count: int
    collection_rate: float = Field(description="balances_collected / balances_due (0 when nothing was due)")


class OfferBalances(BalanceFigures):
    offer_id: str
    offer_name: str | None


class BalanceCollectionReport(_Out):
    csv: ClassVar[Table] = Table(rows={"total": "totals", "offer": "by_offer"}, after=("currency", "conversion.rate"))

    window: Window
    currency: str = Field(description=REPORTING_CURRENCY)
    conversion: Conversion
    totals: BalanceFigures
    by_offer: list[OfferBalances]


class CustomerRow(_Out):
    email: str | None
    name: str | None
    orders: int
    units: int
    revenue: str
    balances_outstanding: str
    last_order_at: str | None = Field(description="Their latest preorder; null once the customer's data was erased")


class CustomersMeta(_Out):
    total_count: int
    page: int
    per_page: int
    total_pages: int


class CustomersReport(_Out):
    csv: ClassVar[Table] = Table(rows="customers", after=("currency", "conversion.rate"))

    window: Window
    currency: str = Field(description=REPORTING_CURRENCY)
    conversion: Conversion
    customers: list[CustomerRow]
    meta: CustomersMeta
