"""Shops, their API keys and their settings in the main table. Every DynamoDB expression for them lives here.

Items (see docs/DATA_MODEL.md):
- `SHOP#<id> / SHOP`         the shop: profile, current key hash, settings leaves (`cfg:<dotted.path>`), SMS
                             verification state. Settings live on the shop item: one GetItem reads them, one
                             UpdateItem writes a patch.
- `DOMAIN#<domain> / DOMAIN` uniqueness of the myshopify domain, points to the shop id.
- `APIKEY#<sha256> / APIKEY` a key's hash -> shop id, `active` or `revoked`. Keys are never stored in clear.
- `SHOP#<id> / APIKEY#<sha256>` a reference to each of the shop's keys, so that purging the shop (`shop/redact`)
                             finds every key item, revoked ones included.

A settings PATCH writes only the leaves it names (`SET #a = :a, ...`), never a read-modify-write of the whole
object: two concurrent PATCHes of different keys both survive.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from backinstock.errors import Conflict, NotFound
from backinstock.keys import PK, SK
from backinstock.repositories.base import Repository, from_item, serialize, to_item

SETTINGS_PREFIX = "cfg:"


def shop_key(shop_id: str) -> dict[str, Any]:
    return {PK: {"S": f"SHOP#{shop_id}"}, SK: {"S": "SHOP"}}


def _domain_key(domain: str) -> dict[str, Any]:
    return {PK: {"S": f"DOMAIN#{domain}"}, SK: {"S": "DOMAIN"}}


def _api_key_key(key_hash: str) -> dict[str, Any]:
    return {PK: {"S": f"APIKEY#{key_hash}"}, SK: {"S": "APIKEY"}}


@dataclass(frozen=True)
class Shop:
    shop_id: str
    domain: str
    plan: str
    currency: str
    timezone: str
    created_at: str
    api_key_hash: str
    settings_leaves: dict[str, Any]
    sms_verification: dict[str, Any] | None
    email: str | None = None  # the merchant's address: alerts, scheduled reports, data requests
    shopify_connected_at: str | None = None  # `backinstock shops connect-shopify` stored its secrets
    admin_api_url: str | None = None  # Admin API base URL override (the local run's fake Shopify); None: the shop

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Shop:
        data = from_item(item)
        leaves = {k[len(SETTINGS_PREFIX) :]: v for k, v in data.items() if k.startswith(SETTINGS_PREFIX)}
        verification = None
        if data.get("sms_verification_status"):
            verification = {
                "status": data["sms_verification_status"],
                "started_at": data["sms_verification_started_at"],
            }
        return cls(
            shop_id=data["shop_id"],
            domain=data["domain"],
            plan=data["plan"],
            currency=data["currency"],
            timezone=data["timezone"],
            created_at=data["created_at"],
            api_key_hash=data["api_key_hash"],
            settings_leaves=leaves,
            sms_verification=verification,
            email=data.get("email"),
            shopify_connected_at=data.get("shopify_connected_at"),
            admin_api_url=data.get("admin_api_url"),
        )

    def public(self) -> dict[str, Any]:
        return {
            "shop_id": self.shop_id,
            "domain": self.domain,
            "plan": self.plan,
            "currency": self.currency,
            "timezone": self.timezone,
            "created_at": self.created_at,
        }


class ShopRepository(Repository):
    # ------------------------------------------------------------------------------------------------ shops
    def create(self, shop: dict[str, Any], key_hash: str, now: str) -> None:
        """Shop, domain claim and first key in one transaction: a taken domain creates nothing."""
        # GSI1 `SHOPS` lists every shop (scheduled reports): one partition, fine for thousands of shops.
        values = {**shop, "api_key_hash": key_hash, "entity": "shop", "GSI1PK": "SHOPS", "GSI1SK": shop["shop_id"]}
        item = {**shop_key(shop["shop_id"]), **to_item(values)}
        domain_item = {**_domain_key(shop["domain"]), **to_item({"shop_id": shop["shop_id"], "entity": "domain"})}
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": domain_item,
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {"Put": self._key_put(key_hash, shop["shop_id"], now, shop.get("plan"))},
                    {"Put": self._key_reference(key_hash, shop["shop_id"])},
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                raise Conflict(f"a shop with domain {shop['domain']} already exists") from None
            raise

    def get(self, shop_id: str, consistent: bool = True) -> Shop | None:
        response = self.client.get_item(TableName=self.table_name, Key=shop_key(shop_id), ConsistentRead=consistent)
        item = response.get("Item")
        return Shop.from_item(item) if item else None

    def all_shops(self) -> Iterator[Shop]:
        """Every shop, through the `SHOPS` partition of GSI1 (never a Scan)."""
        for item in self.query(
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :shops",
            ExpressionAttributeValues={":shops": {"S": "SHOPS"}},
        ):
            yield Shop.from_item(item)

    def require(self, shop_id: str) -> Shop:
        shop = self.get(shop_id)
        if shop is None:
            raise NotFound(f"shop {shop_id} not found")
        return shop

    # ------------------------------------------------------------------------------------------------- keys
    def _key_put(self, key_hash: str, shop_id: str, now: str, plan: str | None) -> dict[str, Any]:
        # The shop's plan is copied onto its keys: the authorizer hands it to the rate limiter with the shop id,
        # from the one GetItem it already makes (a plan change rewrites the active key item too).
        values = {"shop_id": shop_id, "status": "active", "created_at": now, "entity": "api_key", "plan": plan}
        return {
            "TableName": self.table_name,
            "Item": {**_api_key_key(key_hash), **to_item(values)},
            "ConditionExpression": "attribute_not_exists(PK)",
        }

    def _key_reference(self, key_hash: str, shop_id: str) -> dict[str, Any]:
        return {
            "TableName": self.table_name,
            "Item": {
                PK: {"S": f"SHOP#{shop_id}"},
                SK: {"S": f"APIKEY#{key_hash}"},
                **to_item({"entity": "api_key_ref", "key_hash": key_hash}),
            },
        }

    def shop_id_for_domain(self, domain: str) -> str | None:
        response = self.client.get_item(TableName=self.table_name, Key=_domain_key(domain.strip().lower()))
        item = response.get("Item")
        return str(item["shop_id"]["S"]) if item else None

    def pin_shopify_shop_id(self, shop_id: str, shopify_shop_id: int) -> bool:
        """Record the numeric id Shopify gives the shop (the `shop_id` of its privacy webhooks) the first time one
        names it; False when the shop is pinned to another id (or does not exist): a payload naming another shop."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=shop_key(shop_id),
                UpdateExpression="SET shopify_shop_id = :id",
                ConditionExpression=(
                    "attribute_exists(PK) AND (attribute_not_exists(shopify_shop_id) OR shopify_shop_id = :id)"
                ),
                ExpressionAttributeValues={":id": {"N": str(shopify_shop_id)}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def set_shopify_connection(self, shop_id: str, now: str, email: str | None, admin_api_url: str | None) -> Shop:
        sets = ["shopify_connected_at = :now"]
        values: dict[str, Any] = {":now": {"S": now}}
        removes: list[str] = []
        if email is not None:
            sets.append("email = :email")
            values[":email"] = {"S": email}
        if admin_api_url:
            sets.append("admin_api_url = :url")
            values[":url"] = {"S": admin_api_url}
        else:
            removes.append("admin_api_url")
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=shop_key(shop_id),
                UpdateExpression="SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            raise NotFound(f"shop {shop_id} not found") from None
        return Shop.from_item(response["Attributes"])

    def shop_id_for_key(self, key_hash: str) -> str | None:
        """The shop an active key belongs to, or None for an unknown or revoked key."""
        found = self.identity_for_key(key_hash)
        return found[0] if found else None

    def identity_for_key(self, key_hash: str) -> tuple[str, str | None] | None:
        """The shop an active key belongs to and its plan (None: a key written before keys carried it), or None
        for an unknown or revoked key."""
        response = self.client.get_item(
            TableName=self.table_name,
            Key=_api_key_key(key_hash),
            ProjectionExpression="shop_id, #s, #p",
            ExpressionAttributeNames={"#s": "status", "#p": "plan"},
        )
        item = response.get("Item")
        if not item or item.get("status", {}).get("S") != "active":
            return None
        return str(item["shop_id"]["S"]), (item["plan"]["S"] if "plan" in item else None)

    def rotate_key(self, shop_id: str, old_hash: str, new_hash: str, now: str, plan: str | None = None) -> None:
        """New key in, old key revoked, shop pointed at the new one: all or nothing, and only if nobody rotated
        the key in between (the shop's current hash is still `old_hash`)."""
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {"Put": self._key_put(new_hash, shop_id, now, plan)},
                    {"Put": self._key_reference(new_hash, shop_id)},
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": _api_key_key(old_hash),
                            "UpdateExpression": "SET #s = :revoked, revoked_at = :now",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {":revoked": {"S": "revoked"}, ":now": {"S": now}},
                            "ConditionExpression": "attribute_exists(PK)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": shop_key(shop_id),
                            "UpdateExpression": "SET api_key_hash = :new",
                            "ConditionExpression": "api_key_hash = :old",
                            "ExpressionAttributeValues": {":new": {"S": new_hash}, ":old": {"S": old_hash}},
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException:
            raise Conflict("the key was rotated concurrently; read the shop and retry") from None

    def set_sms_verification(self, shop_id: str, status: str, now: str) -> Shop:
        """Set the SMS verification status; the start time is kept (or set now if it never started)."""
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=shop_key(shop_id),
                UpdateExpression="SET sms_verification_status = :s, "
                "sms_verification_started_at = if_not_exists(sms_verification_started_at, :now), "
                "sms_verification_updated_at = :now",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":s": {"S": status}, ":now": {"S": now}},
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            raise NotFound(f"shop {shop_id} not found") from None
        return Shop.from_item(response["Attributes"])

    # --------------------------------------------------------------------------------------------- settings
    def update_settings(
        self, shop_id: str, leaves: dict[str, Any], start_sms_verification_at: str | None = None
    ) -> Shop:
        """Write the given settings leaves (dotted path -> value) and return the shop after the write.

        `start_sms_verification_at` records a pending SMS verification unless one was already started
        (`if_not_exists`: only the first enabling starts it).
        """
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets: list[str] = []
        for i, (path, value) in enumerate(sorted(leaves.items())):
            names[f"#a{i}"] = SETTINGS_PREFIX + path
            values[f":a{i}"] = serialize(value)
            sets.append(f"#a{i} = :a{i}")
        if start_sms_verification_at:
            sets.append("sms_verification_status = if_not_exists(sms_verification_status, :pending)")
            sets.append("sms_verification_started_at = if_not_exists(sms_verification_started_at, :started)")
            values[":pending"] = {"S": "pending"}
            values[":started"] = {"S": start_sms_verification_at}
        if not sets:
            return self.require(shop_id)
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": shop_key(shop_id),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
        }
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            response = self.client.update_item(**request)
        except self.client.exceptions.ConditionalCheckFailedException:
            raise NotFound(f"shop {shop_id} not found") from None
        return Shop.from_item(response["Attributes"])
