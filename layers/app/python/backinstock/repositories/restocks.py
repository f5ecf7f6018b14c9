"""Stock levels, restock episodes and restock campaigns. Every DynamoDB expression for them lives here.

Items (all in the shop's partition):
- `STOCK#<variant>#<location>`: the available quantity at one location, with Shopify's `updated_at`. A write is
  conditional on being newer than the stored one (or the very same update), so out-of-order and repeated inventory
  webhooks change nothing.
- `RESTOCK#<variant>`: `in_stock` (at or above the shop's stock threshold), the last `total`, the `episode`
  count. The flip from out of stock to in stock is one conditional UpdateItem: of two concurrent updates (two
  locations) only one sees the flip, so a restock is detected once.
- `CAMPAIGN#<variant>`: the variant's current or last campaign (`running`, `finished`, `stopped`, `failed`). It is
  claimed with a conditional put that fails while a campaign of the variant runs: one campaign at a time.
"""

from __future__ import annotations

from typing import Any

from backinstock.repositories.base import Repository, from_item, key, serialize, to_item

RUNNING = "running"


def _pk(shop_id: str) -> str:
    return f"SHOP#{shop_id}"


class RestockRepository(Repository):
    # ---------------------------------------------------------------------------------------------- levels
    def set_level(
        self, shop_id: str, variant_id: int, location_id: int, available: int, updated_at: str, inventory_item_id: int
    ) -> bool:
        """Store one location's level unless a newer update, or an older one, was stored. False: stale, ignored.

        The same update again (same `updated_at`, same quantity: a redelivered message whose worker died after this
        write, before the flip or the campaign) is stored again and answers True, so that the rest of the restock
        runs; the flip and the campaign's claim are themselves conditional, so it runs once."""
        values = {
            "entity": "stock_level",
            "variant_id": variant_id,
            "location_id": location_id,
            "inventory_item_id": inventory_item_id,
            "available": available,
            "updated_at": updated_at,
        }
        return self.put_if(
            {**key(_pk(shop_id), f"STOCK#{variant_id}#{location_id}"), **to_item(values)},
            "attribute_not_exists(PK) OR updated_at < :at OR (updated_at = :at AND available = :available)",
            values={":at": {"S": updated_at}, ":available": {"N": str(available)}},
        )

    def levels(self, shop_id: str, variant_id: int) -> dict[int, int]:
        """Available quantity per location id."""
        items = self.query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={":pk": {"S": _pk(shop_id)}, ":prefix": {"S": f"STOCK#{variant_id}#"}},
            ConsistentRead=True,
        )
        return {int(i["location_id"]["N"]): int(i["available"]["N"]) for i in items}

    # --------------------------------------------------------------------------------------------- episodes
    def state(self, shop_id: str, variant_id: int) -> dict[str, Any] | None:
        return self.read(_pk(shop_id), f"RESTOCK#{variant_id}")

    def flip_in_stock(self, shop_id: str, variant_id: int, total: int, at: str) -> int | None:
        """Out of stock (or never seen) -> in stock. Returns the new episode number, or None if it was in stock."""
        attributes = self._flip(shop_id, variant_id, total, at, in_stock=True)
        return None if attributes is None else int(attributes["episode"]["N"])

    def flip_out_of_stock(self, shop_id: str, variant_id: int, total: int, at: str) -> bool:
        """In stock -> out of stock (the episode ends). False if it was not in stock."""
        return self._flip(shop_id, variant_id, total, at, in_stock=False) is not None

    def _flip(self, shop_id: str, variant_id: int, total: int, at: str, in_stock: bool) -> dict[str, Any] | None:
        """One conditional UpdateItem from the other state to `in_stock`; None when the variant was in it already.
        Coming in stock opens an episode (`episode + 1`); a variant never seen counts as out of stock."""
        update = "SET in_stock = :to, #total = :total, changed_at = :at, entity = :e, variant_id = :v"
        values: dict[str, Any] = {
            ":to": {"BOOL": in_stock},
            ":from": {"BOOL": not in_stock},
            ":total": serialize(total),
            ":at": {"S": at},
            ":e": {"S": "restock_state"},
            ":v": serialize(variant_id),
        }
        if in_stock:
            update += " ADD episode :one"
            values[":one"] = {"N": "1"}
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=key(_pk(shop_id), f"RESTOCK#{variant_id}"),
                UpdateExpression=update,
                ConditionExpression=("attribute_not_exists(in_stock) OR " if in_stock else "") + "in_stock = :from",
                ExpressionAttributeNames={"#total": "total"},
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return dict(response["Attributes"])

    # -------------------------------------------------------------------------------------------- campaigns
    def campaign(self, shop_id: str, variant_id: int) -> dict[str, Any] | None:
        return self.read(_pk(shop_id), f"CAMPAIGN#{variant_id}")

    def claim_campaign(self, shop_id: str, variant_id: int, campaign: dict[str, Any]) -> bool:
        """Make `campaign` the variant's running campaign, unless one runs. False: one runs."""
        return self.put_if(
            {
                **key(_pk(shop_id), f"CAMPAIGN#{variant_id}"),
                **to_item({**campaign, "entity": "campaign", "status": RUNNING}),
            },
            "attribute_not_exists(PK) OR #s <> :running",
            names={"#s": "status"},
            values={":running": {"S": RUNNING}},
        )

    def record_batch(
        self, shop_id: str, variant_id: int, campaign_id: str, queued: int, at: str, new_batch: bool = True
    ) -> None:
        self.client.update_item(
            TableName=self.table_name,
            Key=key(_pk(shop_id), f"CAMPAIGN#{variant_id}"),
            UpdateExpression="SET last_batch_at = :at ADD batches :b, queued :n",
            ConditionExpression="campaign_id = :id",
            ExpressionAttributeValues={
                ":at": {"S": at},
                ":b": {"N": "1" if new_batch else "0"},
                ":n": serialize(queued),
                ":id": {"S": campaign_id},
            },
        )

    def close_campaign(
        self, shop_id: str, variant_id: int, campaign_id: str, status: str, reason: str, at: str
    ) -> dict[str, Any] | None:
        """Close the campaign if it is still the variant's running one. Returns it after the update, or None."""
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=key(_pk(shop_id), f"CAMPAIGN#{variant_id}"),
                UpdateExpression="SET #s = :status, finished_at = :at, outcome = :reason",
                ConditionExpression="campaign_id = :id AND #s = :running",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":status": {"S": status},
                    ":at": {"S": at},
                    ":reason": {"S": reason},
                    ":id": {"S": campaign_id},
                    ":running": {"S": RUNNING},
                },
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return from_item(response["Attributes"])

    def release_claim(self, shop_id: str, variant_id: int, campaign_id: str) -> None:
        """Undo `claim_campaign` when its execution could not be started."""
        self.client.delete_item(
            TableName=self.table_name,
            Key=key(_pk(shop_id), f"CAMPAIGN#{variant_id}"),
            ConditionExpression="campaign_id = :id",
            ExpressionAttributeValues={":id": {"S": campaign_id}},
        )


# Pending (not notified, not unsubscribed, not blocked) and eligible: channel enabled, opt-in confirmed if required.
_WAITING = (
    "attribute_not_exists(notified_at) AND attribute_not_exists(unsubscribed_at) AND attribute_not_exists(blocked_at) "
    "AND (attribute_not_exists(optin_required) OR optin_required = :false OR attribute_exists(optin_confirmed_at))"
)
QUERY_PAGE = 500


def waiting_signups(
    repo: Repository,
    index: str,
    partition: str,
    start_key: dict[str, Any] | None,
    want: int,
    channels: list[str],
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Up to `want` waiting signups of an index partition (a variant's `GSI1`, a product's `GSI2`), oldest first
    (UUIDv7 sort keys), after `start_key`. Returns them and the cursor to continue from (None: no more waiting)."""
    if not channels or want <= 0:
        return [], None
    names = {"#pk": f"{index}PK", "#sk": f"{index}SK", "#ch": "channel"}
    values: dict[str, Any] = {
        ":pk": {"S": partition},
        ":signup": {"S": "SIGNUP#"},
        ":false": {"BOOL": False},
        **{f":c{i}": {"S": c} for i, c in enumerate(channels)},
    }
    channel_filter = "#ch IN (" + ", ".join(f":c{i}" for i in range(len(channels))) + ")"
    # One more than wanted is read: its presence says whether a next batch exists, so the last batch ends the
    # campaign instead of a Wait of `wait_hours` followed by an empty step.
    found: list[tuple[dict[str, Any], dict[str, Any]]] = []
    cursor = start_key
    while True:
        request: dict[str, Any] = {
            "TableName": repo.table_name,
            "IndexName": index,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :signup)",
            "FilterExpression": f"{_WAITING} AND {channel_filter}",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "Limit": QUERY_PAGE,
        }
        if cursor:
            request["ExclusiveStartKey"] = cursor
        response = repo.client.query(**request)
        for item in response.get("Items", []):
            found.append((from_item(item), {k: item[k] for k in ("PK", "SK", f"{index}PK", f"{index}SK")}))
            if len(found) > want:
                return [f[0] for f in found[:want]], found[want - 1][1]
        cursor = response.get("LastEvaluatedKey")
        if not cursor:
            return [f[0] for f in found], None
