"""Moving the signups and send-log rows of the layout before issue 23 to their keys: `backinstock migrate keys`
(services/migration.py; docs/DEPLOY.md, "Upgrading a stack deployed before issue 23").

Before issue 23 both lived in the shop's own partition: `SHOP#<id> / SIGNUP#<uuid7>` with `GSI1PK =
SHOP#<id>#VARIANT#<v>`, `GSI2PK = SHOP#<id>#PRODUCT#<p>`, and `SHOP#<id> / NOTIF#<uuid7>` with the same two index
keys. A signup moves to `signup_key` with `index_keys` (GSI3/GSI4) and without its GSI1/GSI2 attributes; a log row
to `notification_key` with `log_index_keys` (sharded GSI1/GSI2). Everything else of the item is copied as read.
Legacy send-claim items (`SHOP#<id>#SEND#<nn> / SEND#...`) are not rows: they stay, and expire.

A row moves in three writes, each safe to repeat, so a run killed anywhere is finished by the next one:
1. `TransactWriteItems`: Put the copy at its key (`attribute_not_exists(PK)`) with `relocated` set, and Update the
   old row `SET relocated`, conditional on it being unmarked and unchanged since it was read (its contact and
   `redacted_at`: once the new code runs, the privacy redaction is the only writer of an old row; a redaction in
   between cancels the move and the row is read again, so a copy never holds a contact the redaction rubbed out).
2. `UpdateItem` of the copy: `REMOVE relocated` (from here it is an ordinary row: reports count it).
3. `DeleteItem` of the old row, conditional on `relocated`.
A row found marked was copied by a run that stopped after step 1: steps 2 and 3 finish it.

The stream sees step 1 as the copy's INSERT and the old row's MODIFY, step 2 as the copy's MODIFY, step 3 as the old
row's REMOVE. The INSERT and the REMOVE carry `relocated`: `services.rollups.change_of` counts neither (the row was
counted when it was first written), and the MODIFYs change no counter. Three writes and the transaction's double
cost: about 6 write units a row (1 KB rows).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from backinstock.keys import PK, RELOCATED, SK
from backinstock.repositories.base import Repository, from_item
from backinstock.repositories.notifications import NOTIF, log_index_keys, notification_key
from backinstock.repositories.signups import SIGNUP, index_keys, shop_pk, signup_key

# The old rows' index attributes: a signup's are dropped (its entries are GSI3/GSI4 now), a log row's rewritten.
OLD_INDEX_ATTRIBUTES = ("GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK")
KINDS = {"signups": SIGNUP, "notifications": NOTIF}
MOVE_ATTEMPTS = 5  # a row changed (redacted) while being moved is read again, at most this many times


@dataclass(frozen=True)
class OldRow:
    """One row of the layout before issue 23, as read: opaque to the service."""

    shop_id: str
    kind: str  # "signups" or "notifications"
    raw: dict[str, Any]

    @property
    def marked(self) -> bool:
        return RELOCATED in self.raw


class KeyMigrationRepository(Repository):
    def old_rows(self, shop_id: str, kind: str, page_size: int = 100) -> Iterator[list[OldRow]]:
        """The shop's rows of one kind still in its own partition, a Query page at a time (strongly consistent).
        Paging by key stays correct while the rows of the pages already read are moved away."""
        start: dict[str, Any] | None = None
        while True:
            request: dict[str, Any] = {
                "TableName": self.table_name,
                "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                "ExpressionAttributeValues": {":pk": {"S": shop_pk(shop_id)}, ":prefix": {"S": KINDS[kind]}},
                "ConsistentRead": True,
                "Limit": page_size,
            }
            if start:
                request["ExclusiveStartKey"] = start
            page = self.client.query(**request)
            rows = [OldRow(shop_id, kind, raw) for raw in page.get("Items", [])]
            if rows:
                yield rows
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def move(self, row: OldRow, at: str) -> str:
        """Move one row (the three steps above). Returns `moved`, `finished` (a move a stopped run began),
        `gone` (moved meanwhile by another run) or `conflict` (its key is taken by another item: left in place)."""
        for _ in range(MOVE_ATTEMPTS):
            if row.marked:
                self._finish(row)
                return "finished"
            outcome = self._copy(row, at)
            if outcome == "copied":
                self._finish(row)
                return "moved"
            # Not as read: redacted meanwhile, or copied (and marked) or moved by a concurrent run
            current = self.client.get_item(TableName=self.table_name, Key=_key_of(row.raw), ConsistentRead=True)
            if "Item" not in current:
                return "gone"
            row = OldRow(row.shop_id, row.kind, current["Item"])
            if outcome == "conflict" and not row.marked:
                return "conflict"
        raise RuntimeError(f"a {row.kind} row kept changing while being moved; run the migration again")

    def _copy(self, row: OldRow, at: str) -> str:
        """Step 1. `copied`; `conflict` (the new key holds an item: a concurrent run's copy, or another item) or
        `changed` (the old row is not as read): the caller reads the old row again to tell."""
        names = {"#rel": RELOCATED, "#contact": "contact", "#redacted": "redacted_at"}
        values: dict[str, Any] = {":at": {"S": at}}
        guards = ["attribute_exists(PK)", "attribute_not_exists(#rel)"]
        for name, attribute in (("#contact", "contact"), ("#redacted", "redacted_at")):
            if attribute in row.raw:
                values[f":{attribute}"] = row.raw[attribute]
                guards.append(f"{name} = :{attribute}")
            else:
                guards.append(f"attribute_not_exists({name})")
        try:
            self.transact(
                [
                    {
                        "Put": {
                            "Item": {**new_item(row), RELOCATED: {"S": at}},
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {
                        "Update": {
                            "Key": _key_of(row.raw),
                            "UpdateExpression": "SET #rel = :at",
                            "ConditionExpression": " AND ".join(guards),
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": values,
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            codes = self.cancellation_codes(exc)
            if codes and codes[0] == "ConditionalCheckFailed":
                return "conflict"
            if "ConditionalCheckFailed" in codes:
                return "changed"
            raise
        return "copied"

    def _finish(self, row: OldRow) -> None:
        """Steps 2 and 3: the copy unmarked (if it is there: a purge may have removed it), the old row deleted."""
        self.update_if(
            Key=_key_of(new_item(row)),
            UpdateExpression="REMOVE #rel",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeNames={"#rel": RELOCATED},
        )
        # (already deleted: another run finished it, or the shop was purged)
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.delete_item(
                TableName=self.table_name,
                Key=_key_of(row.raw),
                ConditionExpression="attribute_exists(#rel)",
                ExpressionAttributeNames={"#rel": RELOCATED},
            )


def new_item(row: OldRow) -> dict[str, Any]:
    """The row at its key: its attributes as read (`relocated` aside), the old index attributes replaced."""
    plain = from_item(row.raw)
    item = {k: v for k, v in row.raw.items() if k not in (*OLD_INDEX_ATTRIBUTES, PK, SK, RELOCATED)}
    item_id = str(plain[SK]).split("#", 1)[1]
    if row.kind == "signups":
        described = {**plain, "shop_id": row.shop_id, "signup_id": item_id}
        keys, indexes = signup_key(row.shop_id, item_id), index_keys(described)
    else:
        described = {**plain, "shop_id": row.shop_id, "notification_id": item_id}
        keys, indexes = notification_key(row.shop_id, item_id), log_index_keys(described)
    return {**item, **keys, **{name: {"S": value} for name, value in indexes.items()}}


def _key_of(raw: dict[str, Any]) -> dict[str, Any]:
    return {PK: raw[PK], SK: raw[SK]}
