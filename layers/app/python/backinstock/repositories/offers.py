"""Preorder offers and their selling plans. Every DynamoDB expression for them lives here.

Items (docs/DATA_MODEL.md, "Preorders"):
- `SHOP#<id> / OFFER#<uuid7>`: the offer. UUIDv7 ids sort by creation time, so the shop's offers list newest first
  with a key range (`as_of` caps it), like signups. `version` counts writes: an update is conditional on the
  version it read, so two concurrent updates cannot both win.
- `SHOP#<id> / SELLINGPLAN#<selling_plan_id>`: which offer owns a selling plan. A plan belongs to at most one offer
  of a shop: the claim is written with `attribute_not_exists` in the same transaction as the offer, so of two
  concurrent creates naming the same plan exactly one succeeds. It is also how an order line finds its offer
  (`owners`: one BatchGetItem for the plans of an order).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backinstock.ids import id_bounds
from backinstock.keys import PK, SK
from backinstock.repositories.base import Repository, key, serialize, to_item

OFFER = "OFFER#"
PLAN = "SELLINGPLAN#"


def _shop_pk(shop_id: str) -> str:
    return f"SHOP#{shop_id}"


class PlanTaken(Exception):
    """A selling plan already belongs to another offer of the shop."""

    def __init__(self, selling_plan_id: int, owner: str | None) -> None:
        super().__init__(f"selling plan {selling_plan_id} belongs to offer {owner}")
        self.selling_plan_id = selling_plan_id
        self.owner = owner


class OfferChanged(Exception):
    """The offer was written by someone else since it was read (or no longer exists)."""


class OfferRepository(Repository):
    # ------------------------------------------------------------------------------------------------- reads
    def offer(self, shop_id: str, offer_id: str) -> dict[str, Any] | None:
        return self.read(_shop_pk(shop_id), OFFER + offer_id)

    def offers(self, shop_id: str, offer_ids: list[str], consistent: bool = True) -> dict[str, dict[str, Any]]:
        """offer id -> item, for the ids that exist in this shop (BatchGetItem)."""
        keys = [key(_shop_pk(shop_id), OFFER + i) for i in dict.fromkeys(offer_ids)]
        return {item["offer_id"]: item for item in self.batch_get(keys, consistent=consistent)}

    def list_ids(
        self,
        shop_id: str,
        upper: datetime,
        status: str | None = None,
        variant_id: int | None = None,
        product_id: int | None = None,
    ) -> list[str]:
        """Ids of the shop's offers created up to `upper`, newest first, that pass the filters. Keys only."""
        _, high = id_bounds(None, upper)
        request: dict[str, Any] = {
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high",
            "ScanIndexForward": False,
            "ProjectionExpression": "SK",
        }
        values: dict[str, Any] = {
            ":pk": {"S": _shop_pk(shop_id)},
            ":low": {"S": OFFER},
            ":high": {"S": OFFER + high},
        }
        clauses: list[str] = []
        names: dict[str, str] = {}
        if status is not None:
            clauses.append("#status = :status")
            names["#status"] = "status"
            values[":status"] = serialize(status)
        if variant_id is not None:
            clauses.append("contains(variant_ids, :variant)")
            values[":variant"] = serialize(variant_id)
        if product_id is not None:
            clauses.append("contains(product_ids, :product)")
            values[":product"] = serialize(product_id)
        if clauses:
            request["FilterExpression"] = " AND ".join(clauses)
        if names:
            request["ExpressionAttributeNames"] = names
        request["ExpressionAttributeValues"] = values
        return [item["SK"]["S"][len(OFFER) :] for item in self.query(**request)]

    def owners(self, shop_id: str, selling_plan_ids: list[int]) -> dict[int, str]:
        """selling plan id -> the offer that owns it, for the plans that belong to an offer of this shop."""
        keys = [key(_shop_pk(shop_id), f"{PLAN}{p}") for p in dict.fromkeys(selling_plan_ids)]
        return {int(item["selling_plan_id"]): item["offer_id"] for item in self.batch_get(keys)} if keys else {}

    # ------------------------------------------------------------------------------------------------ writes
    def create(self, offer: dict[str, Any]) -> None:
        """Put a new offer and claim its selling plans, all or nothing. Raises `PlanTaken`."""
        shop_id = offer["shop_id"]
        plans = [int(p) for p in offer["selling_plan_ids"]]
        writes: list[dict[str, Any]] = [
            {
                "Put": {
                    "Item": {**key(_shop_pk(shop_id), OFFER + offer["offer_id"]), **to_item(offer)},
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
            *(self._claim(shop_id, offer["offer_id"], p) for p in plans),
        ]
        self._transact(writes, plans, first_claim=1)

    def replace(self, offer: dict[str, Any], read_version: int, added: list[int], removed: list[int]) -> None:
        """Write an updated offer if it is still at `read_version`, claim its added selling plans and release its
        removed ones, all or nothing. Raises `OfferChanged` or `PlanTaken`. `offer` may be an item as read: its
        keys are left out (the offer's own are written)."""
        shop_id, offer_id = offer["shop_id"], offer["offer_id"]
        offer = {k: v for k, v in offer.items() if k not in (PK, SK)}
        writes: list[dict[str, Any]] = [
            {
                "Put": {
                    "Item": {**key(_shop_pk(shop_id), OFFER + offer_id), **to_item(offer)},
                    "ConditionExpression": "attribute_exists(PK) AND version = :version",
                    "ExpressionAttributeValues": {":version": serialize(read_version)},
                }
            },
            *(self._claim(shop_id, offer_id, p) for p in added),
            *(
                {
                    "Delete": {
                        "Key": key(_shop_pk(shop_id), f"{PLAN}{p}"),
                        "ConditionExpression": "attribute_not_exists(PK) OR offer_id = :offer",
                        "ExpressionAttributeValues": {":offer": {"S": offer_id}},
                    }
                }
                for p in removed
            ),
        ]
        self._transact(writes, added, first_claim=1)

    def _claim(self, shop_id: str, offer_id: str, selling_plan_id: int) -> dict[str, Any]:
        values = {"entity": "selling_plan", "selling_plan_id": selling_plan_id, "offer_id": offer_id}
        return {
            "Put": {
                "Item": {**key(_shop_pk(shop_id), f"{PLAN}{selling_plan_id}"), **to_item(values)},
                # Free, or already this offer's (an update that keeps a plan does not list it as added).
                "ConditionExpression": "attribute_not_exists(PK) OR offer_id = :offer",
                "ExpressionAttributeValues": {":offer": {"S": offer_id}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _transact(self, writes: list[dict[str, Any]], claimed: list[int], first_claim: int) -> None:
        try:
            self.transact(writes)
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons", [])
            codes = [r.get("Code") for r in reasons]
            if codes and codes[0] == "ConditionalCheckFailed":
                raise OfferChanged from None
            for i, plan in enumerate(claimed):
                at = first_claim + i
                if len(reasons) > at and reasons[at].get("Code") == "ConditionalCheckFailed":
                    owner = (reasons[at].get("Item") or {}).get("offer_id", {}).get("S")
                    raise PlanTaken(plan, owner) from None
            raise
