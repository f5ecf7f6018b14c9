"""`backinstock offers ...`: a shop's preorder offers, validated with the API's models."""

from __future__ import annotations

import argparse
from typing import Any

from backinstock_tools import cli_args as t
from backinstock_tools.cli.common import Commands, Stop, _print


def _variant_refs(values: list[str] | None) -> list[dict[str, int]] | None:
    """`--variant-id 111` (product from the catalog) or `--variant-id 111:11` (variant 111 of product 11)."""
    if values is None:
        return None
    refs = []
    for value in values:
        variant, _, product = value.partition(":")
        try:
            ref = {"shopify_variant_id": int(variant)}
            if product:
                ref["shopify_product_id"] = int(product)
        except ValueError:
            raise Stop(f"--variant-id takes a variant id or VARIANT:PRODUCT (got {value!r})") from None
        refs.append(ref)
    return refs


def _offer_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The create / update options that were given, as the offer models' fields."""
    from decimal import Decimal, InvalidOperation

    fields: dict[str, Any] = {}
    for option, field in (("name", "name"), ("status", "status")):
        if getattr(args, option) is not None:
            fields[field] = getattr(args, option)
    if args.selling_plan_id is not None:
        fields["selling_plan_ids"] = args.selling_plan_id
    if args.variant_id is not None:
        fields["variants"] = _variant_refs(args.variant_id)
    if args.market_id is not None or getattr(args, "clear_markets", False):
        fields["market_ids"] = args.market_id or []
    for option, kind in (("deposit_percent", "percentage"), ("deposit_amount", "fixed_amount")):
        value = getattr(args, option)
        if value is not None:
            try:
                fields["deposit"] = {"type": kind, "value": Decimal(value)}
            except InvalidOperation:
                raise Stop(f"--{option.replace('_', '-')} takes a number (got {value!r})") from None
    if args.balance_due_days is not None:
        fields["balance_due"] = {"days_after_checkout": args.balance_due_days}
    elif args.balance_due_date is not None:  # a datetime already (the option's type is the model's field)
        fields["balance_due"] = {"due_at": args.balance_due_date}
    return fields


def _print_model(model: Any) -> None:
    _print(model.model_dump(mode="json"))


def cmd_offers_create(args: argparse.Namespace) -> int:
    from backinstock import deps
    from backinstock.models.preorders import OfferCreate
    from backinstock.services import offers

    deps.shops().require(args.shop_id)
    body = _validated(OfferCreate, _offer_fields(args))
    _print_model(offers.create_offer(deps.offers(), args.shop_id, body))
    return 0


def cmd_offers_update(args: argparse.Namespace) -> int:
    from backinstock import deps
    from backinstock.models.preorders import OfferUpdate
    from backinstock.services import offers

    deps.shops().require(args.shop_id)
    fields = _offer_fields(args)
    if args.clear_balance_due:
        fields["clear_balance_due"] = True
    body = _validated(OfferUpdate, fields)
    _print_model(offers.update_offer(deps.offers(), args.shop_id, args.offer_id, body))
    return 0


def cmd_offers_list(args: argparse.Namespace) -> int:
    from backinstock import deps
    from backinstock.models.preorders import OfferListQuery
    from backinstock.services import offers

    deps.shops().require(args.shop_id)
    query = {"page": args.page, "per_page": args.per_page, "status": args.status}
    query |= {"variant_id": args.variant_id, "product_id": args.product_id}
    model = _validated(OfferListQuery, {k: v for k, v in query.items() if v is not None})
    _print_model(offers.list_offers(deps.offers(), args.shop_id, model))
    return 0


def cmd_offers_get(args: argparse.Namespace) -> int:
    from backinstock import deps
    from backinstock.services import offers

    deps.shops().require(args.shop_id)
    _print_model(offers.get_offer(deps.offers(), args.shop_id, args.offer_id))
    return 0


def _validated(model: Any, fields: dict[str, Any]) -> Any:
    """The model, or the API's 422 (every problem, one line each) for what the options gave."""
    from pydantic import ValidationError

    from backinstock.api.validation import problems_from
    from backinstock.errors import ValidationFailed

    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise ValidationFailed(problems=problems_from(exc, model, what="options")) from None


def register(sub: Commands) -> None:
    """`offers create | update | list | get`."""
    offers = sub.add_parser("offers", help="manage a shop's preorder offers (Shopify selling plan groups)")
    offers_sub = offers.add_subparsers(dest="offers", required=True)
    offer_create = offers_sub.add_parser("create", help="create an offer; prints it as JSON with its id")
    offer_update = offers_sub.add_parser("update", help="change an offer: only the options given; lists are replaced")
    for offer_parser, creating in ((offer_create, True), (offer_update, False)):
        offer_parser.add_argument("--shop-id", type=t.shop_id(), required=True)
        if not creating:
            offer_parser.add_argument("--offer-id", type=t.uuid_text(), required=True)
        offer_parser.add_argument(
            "--name", type=t.model_field("preorders:OfferUpdate", "name", "Spring drop", ""), required=creating
        )
        offer_parser.add_argument("--status", choices=("enabled", "disabled"))
        offer_parser.add_argument(
            "--selling-plan-id",
            type=t.shopify_id("7101"),
            action="append",
            required=creating,
            help="a Shopify selling plan of the group (repeat for each); a plan belongs to at most one offer",
        )
        offer_parser.add_argument(
            "--variant-id",
            type=t.variant_ref(),
            action="append",
            help="an attached variant (repeat): VARIANT, product from the catalog, or VARIANT:PRODUCT",
        )
        deposit = offer_parser.add_mutually_exclusive_group(required=creating)
        deposit.add_argument(
            "--deposit-percent", type=t.percent(), help="deposit at checkout: percent of the price (0-100)"
        )
        deposit.add_argument(
            "--deposit-amount", type=t.amount(), help="deposit at checkout: a fixed amount per unit (shop currency)"
        )
        due = offer_parser.add_mutually_exclusive_group()
        due.add_argument(
            "--balance-due-days", type=t.integer(0, 3650, "30"), help="the balance is due this many days after checkout"
        )
        due.add_argument(
            "--balance-due-date",
            type=t.model_field("preorders:BalanceDueInput", "due_at", "2027-03-01", "next week"),
            help="the balance is due on this date (YYYY-MM-DD, or a date-time)",
        )
        offer_parser.add_argument(
            "--market-id", type=t.shopify_id(), action="append", help="a Shopify market id (repeat)"
        )
        if not creating:
            offer_parser.add_argument("--clear-balance-due", action="store_true", help="remove the balance rule")
            offer_parser.add_argument("--clear-markets", action="store_true", help="remove every market id")
        offer_parser.set_defaults(func=cmd_offers_create if creating else cmd_offers_update)
    offer_list = offers_sub.add_parser("list", help="list a shop's offers (newest first), as the API does")
    offer_list.add_argument("--shop-id", type=t.shop_id(), required=True)
    offer_list.add_argument("--status", choices=("enabled", "disabled"))
    offer_list.add_argument("--variant-id", type=t.shopify_id())
    offer_list.add_argument("--product-id", type=t.shopify_id())
    offer_list.add_argument("--page", type=t.model_field("preorders:OfferListQuery", "page", "2", "0"))
    offer_list.add_argument("--per-page", type=t.model_field("preorders:OfferListQuery", "per_page", "20", "1000"))
    offer_list.set_defaults(func=cmd_offers_list)
    offer_get = offers_sub.add_parser("get", help="read one offer")
    offer_get.add_argument("--shop-id", type=t.shop_id(), required=True)
    offer_get.add_argument("--offer-id", type=t.uuid_text(), required=True)
    offer_get.set_defaults(func=cmd_offers_get)
