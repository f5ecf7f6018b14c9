"""Preorders: offers (a Shopify selling plan group as the app knows it). Offers are created and changed with the
admin CLI (`backinstock offers ...`); the API reads them. The preorder reports (reference 001) are a report family of
their own (`actions/preorder_reports.py`)."""

from __future__ import annotations

from backinstock.models import preorders as m
from backinstock.registry import Access, Action, Sample

RESOURCE = "preorders"
_PREFIX = "/preorders/offers"
_READ = frozenset({Access.TABLE_READ})

LIST_OFFERS = Action(
    name="list_offers",
    method="GET",
    path=_PREFIX,
    resource=RESOURCE,
    description="List preorder offers: selling plans, attached variants, deposit, balance due, markets",
    handler="preorders.list_offers",
    access=_READ,
    aliases=("preorder offers", "show preorder offers", "selling plan groups", "list preorders"),
    query_model=m.OfferListQuery,
    response_model=m.OfferList,
    sample=Sample(f"{_PREFIX}?status=enabled&variant_id=101"),
    notes=(
        "Newest first. Pages are stable: pass meta.as_of back as `as_of` with the next pages and offers created "
        "since are left out. per_page defaults to 50, at most 200; out-of-range values are a 422.",
        "Filters: status (enabled / disabled), variant_id, product_id (offers that attach it).",
        "Offers are created and changed with the admin CLI (`backinstock offers create|update`).",
    ),
)

GET_OFFER = Action(
    name="get_offer",
    method="GET",
    path=f"{_PREFIX}/:id",
    resource=RESOURCE,
    description="Read one preorder offer",
    handler="preorders.get_offer",
    access=_READ,
    aliases=("show preorder offer", "read an offer", "selling plan group"),
    response_model=m.Offer,
    sample=Sample(f"{_PREFIX}/{{offer_id}}"),
    notes=("404 for an id that does not exist in this shop (another shop's offer ids included).",),
)

ACTIONS = (LIST_OFFERS, GET_OFFER)
