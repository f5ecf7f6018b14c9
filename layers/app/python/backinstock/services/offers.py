"""Preorder offers: create and change them (the admin CLI), read them (`GET /preorders/offers[/:id]`).

An offer is the app's name for a Shopify selling plan group (models/preorders.py). Rules:
- A selling plan id belongs to at most one offer of a shop: the offer and the claims of its plans are written in one
  transaction (repositories/offers.py), so a plan named by two concurrent creates goes to exactly one (409 for the
  other, naming the owner).
- Another shop's offer id reads exactly like an id that does not exist: 404, same message.
- Variants are stored with their product id (given, or resolved from the catalog when the variant is known); titles
  are read from the catalog when the offer is shown, so a product renamed since reads with its new title.
- An update is conditional on the version it read: a concurrent change is a 409 (read again and retry), never lost.
- The order ledger (services/preorder_ledger.py) finds an order line's offer by its `selling_plan_id`. Disabled
  offers still own their plans: an order Shopify took on one is still a preorder, and counts.

No HTTP and no boto3: the repositories are passed in (`Offers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from backinstock import ids, money
from backinstock.errors import Conflict, NotFound, Problem, ValidationFailed
from backinstock.models import preorders as m
from backinstock.models.signups import PageMeta
from backinstock.repositories.catalog import CatalogRepository
from backinstock.repositories.offers import OfferChanged, OfferRepository, PlanTaken

NOT_FOUND = "Offer not found"
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Offers:
    offers: OfferRepository
    catalog: CatalogRepository


# ------------------------------------------------------------------------------------------------ representation
def deposit_of(item: dict[str, Any]) -> m.Deposit:
    value = money.render(money.amount(item["deposit_value"]))
    percentage = item["deposit_type"] == "percentage"
    return m.Deposit(
        type=item["deposit_type"], percentage=value if percentage else None, amount=None if percentage else value
    )


def balance_due_of(item: dict[str, Any]) -> m.BalanceDue | None:
    trigger = item.get("balance_due_trigger")
    if trigger is None and item["deposit_type"] == "percentage" and money.amount(item["deposit_value"]) >= HUNDRED:
        trigger = "no_remaining_balance"  # everything is paid at checkout
    if trigger is None:
        return None
    return m.BalanceDue(
        trigger=trigger, days_after_checkout=item.get("balance_due_days"), due_at=item.get("balance_due_at")
    )


def view(item: dict[str, Any], known: dict[int, dict[str, Any]]) -> m.Offer:
    """The offer as the API shows it; `known` are the catalog items of its variants (titles)."""
    variants = []
    for v in item.get("variants") or []:
        variant_id = int(v["variant_id"])
        found = known.get(variant_id) or {}
        product_id = v.get("product_id") or found.get("product_id")
        variants.append(
            m.OfferVariant(
                shopify_variant_id=variant_id,
                shopify_product_id=int(product_id) if product_id else None,
                title=found.get("title"),
                product_title=found.get("product_title"),
            )
        )
    return m.Offer(
        id=item["offer_id"],
        name=item["name"],
        status=item["status"],
        selling_plan_ids=[int(p) for p in item.get("selling_plan_ids") or []],
        variants=variants,
        deposit=deposit_of(item),
        balance_due=balance_due_of(item),
        market_ids=[int(x) for x in item.get("market_ids") or []],
        created_at=item["created_at"],
        updated_at=item["updated_at"],
    )


def _views(offers: Offers, shop_id: str, items: list[dict[str, Any]]) -> list[m.Offer]:
    variant_ids = [int(v["variant_id"]) for item in items for v in item.get("variants") or []]
    known = offers.catalog.variants(shop_id, variant_ids) if variant_ids else {}
    return [view(item, known) for item in items]


# --------------------------------------------------------------------------------------------------------- reads
def get_offer(offers: Offers, shop_id: str, offer_id: str) -> m.Offer:
    return _views(offers, shop_id, [_require(offers, shop_id, offer_id)])[0]


def _require(offers: Offers, shop_id: str, offer_id: str) -> dict[str, Any]:
    item = offers.offers.offer(shop_id, offer_id) if ids.is_uuid(offer_id) else None
    if item is None:
        raise NotFound(f"{NOT_FOUND}: no offer {offer_id} in this shop")
    return item


def list_offers(offers: Offers, shop_id: str, query: m.OfferListQuery, now: datetime | None = None) -> m.OfferList:
    """Newest first; `as_of` (meta.as_of of the first page) keeps the pages stable while offers are created."""
    upper = min(b for b in (query.as_of, now or ids.now()) if b is not None)
    matching = offers.offers.list_ids(shop_id, upper, query.status, query.variant_id, query.product_id)
    start = (query.page - 1) * query.per_page
    page_ids = matching[start : start + query.per_page]
    found = offers.offers.offers(shop_id, page_ids) if page_ids else {}
    items = [found[i] for i in page_ids if i in found]
    meta = PageMeta.of(len(matching), query.page, query.per_page, ids.iso(upper))
    return m.OfferList(offers=_views(offers, shop_id, items), meta=meta)


# -------------------------------------------------------------------------------------------------------- writes
def _variants(offers: Offers, shop_id: str, refs: list[m.VariantRef]) -> list[dict[str, Any]]:
    """Each variant with its product id: as given, else the catalog's. A product id that contradicts the catalog is
    refused; a variant unknown to the catalog without one keeps no product id (order lines carry it anyway)."""
    known = offers.catalog.variants(shop_id, [r.shopify_variant_id for r in refs]) if refs else {}
    out: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for i, ref in enumerate(refs):
        catalog_product = known.get(ref.shopify_variant_id, {}).get("product_id")
        if ref.shopify_product_id and catalog_product and int(catalog_product) != ref.shopify_product_id:
            problems.append(
                Problem(
                    "product_mismatch",
                    f"variant {ref.shopify_variant_id} belongs to product {catalog_product} in the catalog, "
                    f"not {ref.shopify_product_id}",
                    f"variants.{i}.shopify_product_id",
                )
            )
        product_id = ref.shopify_product_id or (int(catalog_product) if catalog_product else None)
        out.append({"variant_id": ref.shopify_variant_id, **({"product_id": product_id} if product_id else {})})
    if problems:
        raise ValidationFailed(problems=problems)
    return out


def _balance_due(rule: m.BalanceDueInput | None) -> dict[str, Any]:
    if rule is None:
        return {"balance_due_trigger": None, "balance_due_days": None, "balance_due_at": None}
    if rule.days_after_checkout is not None:
        return {
            "balance_due_trigger": "time_after_checkout",
            "balance_due_days": rule.days_after_checkout,
            "balance_due_at": None,
        }
    assert rule.due_at is not None
    return {"balance_due_trigger": "exact_time", "balance_due_days": None, "balance_due_at": ids.iso(rule.due_at)}


def _derived(values: dict[str, Any]) -> dict[str, Any]:
    """The filter attributes of the list (`contains` on lists of numbers)."""
    variants = values["variants"]
    return {
        "variant_ids": [v["variant_id"] for v in variants],
        "product_ids": sorted({v["product_id"] for v in variants if v.get("product_id")}),
    }


def _taken(exc: PlanTaken) -> Conflict:
    return Conflict(
        problems=[
            Problem(
                "selling_plan_taken",
                f"selling plan {exc.selling_plan_id} already belongs to offer {exc.owner}: a selling plan belongs "
                "to at most one offer",
                "selling_plan_ids",
            )
        ]
    )


def create_offer(offers: Offers, shop_id: str, body: m.OfferCreate, now: datetime | None = None) -> m.Offer:
    moment = now or ids.now()
    at = ids.iso(moment)
    values: dict[str, Any] = {
        "entity": "offer",
        "shop_id": shop_id,
        "offer_id": ids.uuid7(moment),
        "name": body.name,
        "status": body.status,
        "selling_plan_ids": list(body.selling_plan_ids),
        "variants": _variants(offers, shop_id, body.variants),
        "deposit_type": body.deposit.type,
        "deposit_value": money.render(body.deposit.value),
        **_balance_due(body.balance_due),
        "market_ids": list(body.market_ids),
        "created_at": at,
        "updated_at": at,
        "version": 1,
    }
    values.update(_derived(values))
    try:
        offers.offers.create({k: v for k, v in values.items() if v is not None})
    except PlanTaken as exc:
        raise _taken(exc) from None
    return get_offer(offers, shop_id, values["offer_id"])


def update_offer(
    offers: Offers, shop_id: str, offer_id: str, body: m.OfferUpdate, now: datetime | None = None
) -> m.Offer:
    current = _require(offers, shop_id, offer_id)
    values = dict(current)
    for name in ("name", "status"):
        if getattr(body, name) is not None:
            values[name] = getattr(body, name)
    if body.selling_plan_ids is not None:
        values["selling_plan_ids"] = list(body.selling_plan_ids)
    if body.variants is not None:
        values["variants"] = _variants(offers, shop_id, body.variants)
    if body.deposit is not None:
        values["deposit_type"] = body.deposit.type
        values["deposit_value"] = money.render(body.deposit.value)
    if body.balance_due is not None or body.clear_balance_due:
        values.update(_balance_due(body.balance_due))
    if body.market_ids is not None:
        values["market_ids"] = list(body.market_ids)
    values.update(_derived(values))
    values["updated_at"] = ids.iso(now or ids.now())
    read_version = int(current.get("version", 1))
    values["version"] = read_version + 1
    before = {int(p) for p in current.get("selling_plan_ids") or []}
    after = {int(p) for p in values["selling_plan_ids"]}
    stored = {k: v for k, v in values.items() if v is not None}  # the read item's keys: the repository's
    try:
        offers.offers.replace(stored, read_version, sorted(after - before), sorted(before - after))
    except PlanTaken as exc:
        raise _taken(exc) from None
    except OfferChanged:
        raise Conflict(f"offer {offer_id} was changed by someone else meanwhile: read it again and retry") from None
    return get_offer(offers, shop_id, offer_id)
