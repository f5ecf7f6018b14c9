"""Preorder offers: the inputs the admin CLI validates (`OfferCreate`, `OfferUpdate`), the list query and the
representations of `GET /preorders/offers` and `GET /preorders/offers/:id`.

An offer is the app's name for a Shopify selling plan group: the selling plans it owns (an order line whose
`selling_plan_id` is one of them is a preorder line of the offer), the variants attached, the deposit taken at
checkout (Shopify's `checkoutCharge`: a percentage of the price, or a fixed amount), when the remaining balance is
due, and its markets. Inputs are strict and reject unknown keys, like every request body of the API.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from backinstock.models.signups import DEFAULT_PER_PAGE, MAX_PER_PAGE, PageMeta, ShopifyId, parse_moment

MAX_SELLING_PLANS = 31  # Shopify's limit per selling plan group; an update stays within one 100-write transaction
MAX_VARIANTS = 250
MAX_MARKETS = 50
MAX_BALANCE_DUE_DAYS = 3650
OfferStatus = Literal["enabled", "disabled"]
DepositType = Literal["percentage", "fixed_amount"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class VariantRef(_Input):
    shopify_variant_id: ShopifyId
    shopify_product_id: ShopifyId | None = Field(
        default=None, description="Resolved from the shop's catalog when omitted"
    )


class DepositInput(_Input):
    """Shopify's `checkoutCharge`: `percentage` (0-100 of the line price) or `fixed_amount` (per unit, in the
    shop's currency)."""

    type: DepositType
    value: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2, strict=False)]

    @model_validator(mode="after")
    def _percentage_at_most_100(self) -> DepositInput:
        if self.type == "percentage" and self.value > 100:
            raise ValueError(f"a percentage deposit is at most 100 (got {self.value})")
        return self


class BalanceDueInput(_Input):
    """When the rest is charged: a number of days after checkout, or a fixed date (UTC)."""

    days_after_checkout: Annotated[StrictInt, Field(ge=0, le=MAX_BALANCE_DUE_DAYS)] | None = None
    due_at: datetime | None = Field(default=None, description="ISO 8601 date or date-time (UTC when no offset)")

    @field_validator("due_at", mode="before")
    @classmethod
    def _moment(cls, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime.combine(value, time.min, tzinfo=UTC)
        return parse_moment(value, end_of_day=False)

    @model_validator(mode="after")
    def _exactly_one(self) -> BalanceDueInput:
        if (self.days_after_checkout is None) == (self.due_at is None):
            raise ValueError("give exactly one of days_after_checkout and due_at")
        return self


def _unique(values: list[int], what: str) -> list[int]:
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        raise ValueError(f"{what} are listed more than once: {duplicates}")
    return values


def _clean_name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


class OfferCreate(_Input):
    name: str = Field(min_length=1, max_length=255)
    status: OfferStatus = "enabled"
    selling_plan_ids: list[ShopifyId] = Field(min_length=1, max_length=MAX_SELLING_PLANS)
    variants: list[VariantRef] = Field(default_factory=list, max_length=MAX_VARIANTS)
    deposit: DepositInput
    balance_due: BalanceDueInput | None = None
    market_ids: list[ShopifyId] = Field(default_factory=list, max_length=MAX_MARKETS)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _clean_name(value)

    @field_validator("selling_plan_ids")
    @classmethod
    def _plans(cls, value: list[int]) -> list[int]:
        return _unique(value, "selling plan ids")

    @field_validator("market_ids")
    @classmethod
    def _markets(cls, value: list[int]) -> list[int]:
        return _unique(value, "market ids")

    @field_validator("variants")
    @classmethod
    def _variants(cls, value: list[VariantRef]) -> list[VariantRef]:
        _unique([v.shopify_variant_id for v in value], "variant ids")
        return value


class OfferUpdate(_Input):
    """Only what is given changes; lists (selling plans, variants, markets) are replaced wholesale."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    status: OfferStatus | None = None
    selling_plan_ids: list[ShopifyId] | None = Field(default=None, min_length=1, max_length=MAX_SELLING_PLANS)
    variants: list[VariantRef] | None = Field(default=None, max_length=MAX_VARIANTS)
    deposit: DepositInput | None = None
    balance_due: BalanceDueInput | None = None
    clear_balance_due: bool = Field(default=False, description="Remove the balance due rule")
    market_ids: list[ShopifyId] | None = Field(default=None, max_length=MAX_MARKETS)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _clean_name(value)

    @field_validator("selling_plan_ids")
    @classmethod
    def _plans(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else _unique(value, "selling plan ids")

    @field_validator("market_ids")
    @classmethod
    def _markets(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else _unique(value, "market ids")

    @field_validator("variants")
    @classmethod
    def _variants(cls, value: list[VariantRef] | None) -> list[VariantRef] | None:
        if value is not None:
            _unique([v.shopify_variant_id for v in value], "variant ids")
        return value

    @model_validator(mode="after")
    def _one_rule(self) -> OfferUpdate:
        if self.clear_balance_due and self.balance_due is not None:
            raise ValueError("give balance_due or clear_balance_due, not both")
        return self


# ---------------------------------------------------------------------------------------------------- list query
class OfferListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE)
    status: OfferStatus | None = None
    variant_id: int | None = Field(default=None, ge=1, le=2**53, description="Offers that attach this Shopify variant")
    product_id: int | None = Field(
        default=None, ge=1, le=2**53, description="Offers that attach a variant of this product"
    )
    as_of: datetime | None = Field(
        default=None,
        description="Snapshot time from meta.as_of of the first page: offers created later are left out, so pages "
        "stay stable while new offers arrive",
    )

    @field_validator("as_of", mode="before")
    @classmethod
    def _as_of(cls, value: Any) -> datetime | None:
        return None if value is None else parse_moment(value, end_of_day=False)


# ----------------------------------------------------------------------------------------------- representations
class _Representation(BaseModel):
    model_config = ConfigDict(defer_build=True)

    keep_nulls: ClassVar[bool] = True


class OfferVariant(_Representation):
    shopify_variant_id: int
    shopify_product_id: int | None
    title: str | None = Field(description="The variant's title, when the shop's catalog knows it")
    product_title: str | None


class Deposit(_Representation):
    type: DepositType
    percentage: str | None = Field(description="Of the line price, 2 decimals (type percentage)")
    amount: str | None = Field(description="Per unit, in the shop's currency, 2 decimals (type fixed_amount)")


class BalanceDue(_Representation):
    trigger: Literal["time_after_checkout", "exact_time", "no_remaining_balance"]
    days_after_checkout: int | None
    due_at: str | None = Field(description="UTC ISO 8601 (trigger exact_time)")


class Offer(_Representation):
    id: str
    name: str
    status: OfferStatus
    selling_plan_ids: list[int]
    variants: list[OfferVariant]
    deposit: Deposit
    balance_due: BalanceDue | None = Field(description="null: no rule set (the merchant collects the balance)")
    market_ids: list[int]
    created_at: str
    updated_at: str


class OfferList(_Representation):
    offers: list[Offer]
    meta: PageMeta
