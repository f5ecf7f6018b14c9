"""The send pace's store: per-channel, per-second budget items in the limiter's table (its own table, not the main
table: these counters never reach the main table's stream, and never share a partition with shop data).

One item per (channel, second, shard): `id = PACE#<channel>#<epoch second>#<shard>`, with `used` (tokens taken
from that second's budget by every worker together) and one `s#<shop id>` per shop (that shop's part of `used`).
A reservation is one conditional UpdateItem that ADDs a block of tokens to both, on the condition that the item
stays within the second's cap and the shop within its share (`services/pacing.py` decides both). A failed condition
returns the item as it stood (`ReturnValuesOnConditionCheckFailure`, no extra read), so the caller can take the
rest of what is left. Items expire (TTL) a minute after their second.
"""

from __future__ import annotations

from dataclasses import dataclass

from backinstock.repositories.base import Repository

EXPIRE_AFTER_SECONDS = 60
THROTTLED = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})


class PaceBusy(Exception):
    """DynamoDB throttled the budget item: the caller treats it as no token now (the send is deferred)."""


@dataclass(frozen=True)
class Slot:
    """The outcome of one conditional take: `taken` tokens (0 when the condition failed), and the item's `used` and
    the shop's part after the take (taken) or as it stood (refused)."""

    taken: int
    used: int
    shop_used: int


def slot_key(channel: str, second: int, shard: int) -> str:
    return f"PACE#{channel}#{second}#{shard}"


class PaceStore(Repository):
    """The limiter's table (`RATE_LIMIT_TABLE_NAME`), holding the pace's budget items."""

    def take(self, channel: str, second: int, shard: int, shop_id: str, count: int, cap: int, shop_cap: int) -> Slot:
        """Take `count` tokens of the second's shard if `used + count <= cap` and the shop's part stays at most
        `shop_cap`. One UpdateItem either way."""
        names = {"#shop": f"s#{shop_id}"}
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key={"id": {"S": slot_key(channel, second, shard)}},
                UpdateExpression="ADD used :k, #shop :k SET expires_at = :exp",
                ConditionExpression="(attribute_not_exists(used) OR used <= :room) "
                "AND (attribute_not_exists(#shop) OR #shop <= :shop_room)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    ":k": {"N": str(count)},
                    ":room": {"N": str(cap - count)},
                    ":shop_room": {"N": str(shop_cap - count)},
                    ":exp": {"N": str(second + EXPIRE_AFTER_SECONDS)},
                },
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            item = exc.response.get("Item") or {}
            return Slot(0, _number(item, "used"), _number(item, names["#shop"]))
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in THROTTLED:
                raise PaceBusy(code) from exc
            raise
        attributes = response.get("Attributes", {})
        return Slot(count, _number(attributes, "used"), _number(attributes, names["#shop"]))

    def give_back(self, channel: str, second: int, shard: int, shop_id: str, count: int) -> None:
        """Tokens taken but not used (the message's sends were skipped or blocked): back to the second's budget,
        while that second has not passed."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"id": {"S": slot_key(channel, second, shard)}},
                UpdateExpression="ADD used :minus, #shop :minus",
                ConditionExpression="used >= :count AND #shop >= :count",
                ExpressionAttributeNames={"#shop": f"s#{shop_id}"},
                ExpressionAttributeValues={":minus": {"N": str(-count)}, ":count": {"N": str(count)}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return  # the item expired or was never written: nothing to give back


def _number(item: dict[str, dict[str, str]], name: str) -> int:
    value = item.get(name)
    return int(value["N"]) if value else 0
