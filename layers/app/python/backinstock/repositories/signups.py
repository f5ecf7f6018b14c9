"""Signups, their customers and the pending-uniqueness guard. Every DynamoDB expression for them lives here.

Items (see docs/DATA_MODEL.md):
- `SHOP#<id> / SIGNUP#<uuid7>`: the signup, with its customer and variant denormalized (one GetItem reads the
  full representation). `GSI1PK=SHOP#<id>#VARIANT#<variant>` and `GSI2PK=SHOP#<id>#PRODUCT#<product>`, both with
  `SIGNUP#<uuid7>` as sort key, serve the per-variant and per-product lists; UUIDv7 ids sort by creation time.
- `SHOP#<id> / CUSTOMER#<channel>#<contact>`: find-or-create in one UpdateItem (`if_not_exists`).
- `SHOP#<id> / PENDING#<variant>#<channel>#<contact>`: at most one active (not yet notified, not unsubscribed)
  signup per contact, variant and channel, claimed in the same transaction as the signup's Put, so of two
  concurrent identical creates exactly one wins.

Lifecycle timestamps (`notified_at`, `blocked_at`, `unsubscribed_at`, `optin_confirmed_at`) are absent until set:
the status filter is a FilterExpression on their existence.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from backinstock.errors import Conflict
from backinstock.ids import id_bounds, iso
from backinstock.models.status import status_of
from backinstock.repositories.base import Repository, from_item, key, serialize, to_item

SIGNUP = "SIGNUP#"
ZERO = timedelta(0)
# The resend spacing guard (`mark_send_outstanding`): the signup exists, no other send is outstanding (or it expired),
# and its last alert is older than the spacing window. One condition, so concurrent notifies cannot both pass it.
SPACING_CONDITION = (
    "attribute_exists(PK) AND (attribute_not_exists(send_outstanding) OR send_outstanding_until <= :now) "
    "AND (attribute_not_exists(last_notified_at) OR last_notified_at <= :spaced)"
)
# The spacing clause of a send's claim (`NotificationRepository.claim_send`): no other send holds the signup's slot
# (a notify's send, queued or in flight: `send_outstanding`), and no alert went out since `:spaced` (a notify's send:
# the moment its notify took the slot, which checked the window before it; any other send: the shop's window before
# now). A campaign that picked a signup before a notify of it leaves the notify the alert, whatever runs first.
SEND_SPACING_CONDITION = (
    "(attribute_not_exists(send_outstanding) OR send_outstanding = :send OR send_outstanding_until <= :now) "
    "AND (attribute_not_exists(last_notified_at) OR last_notified_at <= :spaced)"
)


def send_spacing_values(send_id: str, now: datetime, spaced: str) -> dict[str, Any]:
    return {":send": {"S": send_id}, ":now": {"N": str(int(now.timestamp()))}, ":spaced": {"S": spaced}}


def send_spacing_holds(item: dict[str, Any], send_id: str, now: datetime, spaced: str) -> bool:
    """`SEND_SPACING_CONDITION` on a signup as read (the send batch's strongly consistent read)."""
    holder = item.get("send_outstanding")
    free = holder is None or holder == send_id or int(item.get("send_outstanding_until", 0)) <= int(now.timestamp())
    last = item.get("last_notified_at")
    return free and (last is None or last <= spaced)


def shop_pk(shop_id: str) -> str:
    return f"SHOP#{shop_id}"


def variant_pk(shop_id: str, variant_id: int) -> str:
    return f"SHOP#{shop_id}#VARIANT#{variant_id}"


def product_pk(shop_id: str, product_id: int) -> str:
    return f"SHOP#{shop_id}#PRODUCT#{product_id}"


def guard_sk(variant_id: int, channel: str, contact: str) -> str:
    return f"PENDING#{variant_id}#{channel}#{contact}"


def signup_key(shop_id: str, signup_id: str) -> dict[str, Any]:
    return key(shop_pk(shop_id), SIGNUP + signup_id)


def index_keys(signup: dict[str, Any]) -> dict[str, str]:
    """A signup's two index entries: its variant's list (`GSI1`) and its product's (`GSI2`), by signup id."""
    shop_id, sk = signup["shop_id"], SIGNUP + signup["signup_id"]
    return {
        "GSI1PK": variant_pk(shop_id, signup["variant_id"]),
        "GSI1SK": sk,
        "GSI2PK": product_pk(shop_id, signup["product_id"]),
        "GSI2SK": sk,
    }


STATUS_FILTERS = {
    "pending": "attribute_not_exists(notified_at) AND attribute_not_exists(unsubscribed_at) "
    "AND attribute_not_exists(blocked_at)",
    "notified": "attribute_exists(notified_at) AND attribute_not_exists(unsubscribed_at)",
    "unsubscribed": "attribute_exists(unsubscribed_at)",
}


class ListFilter:
    """A key range and a FilterExpression for a Query over signups or notifications of one shop."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def add(self, clause: str, names: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> None:
        self.clauses.append(f"({clause})")
        self.names.update(names or {})
        self.values.update({k: serialize(v) for k, v in (values or {}).items()})


def list_ids(
    repo: Repository,
    shop_id: str,
    prefix: str,
    where: ListFilter,
    variant_id: int | None,
    product_id: int | None,
    start: datetime | None,
    end: datetime,
) -> list[str]:
    """Ids (newest first) of one shop's items with sort key `prefix<uuid7>` in the window that pass the filter.

    The narrowest key serves the Query: the variant index, else the product index, else the shop's partition.
    Only keys are projected: counting a big waitlist moves ids, not items. Never a Scan."""
    request = list_request(shop_id, prefix, where, variant_id, product_id, start, end)
    request["ProjectionExpression"] = "SK"
    return [item["SK"]["S"][len(prefix) :] for item in repo.query(**request)]


def first_ids(
    repo: Repository,
    shop_id: str,
    prefix: str,
    where: ListFilter,
    limit: int,
    variant_id: int | None,
    product_id: int | None,
    start: datetime | None,
    end: datetime,
) -> tuple[list[str], bool]:
    """The first `limit` ids (newest first) of `list_ids`, and whether they are all of them: Query pages of `limit`
    keys until that many pass the filter (one page when nothing is filtered out), never the whole listing."""
    request = list_request(shop_id, prefix, where, variant_id, product_id, start, end)
    request.update(TableName=repo.table_name, ProjectionExpression="SK", Limit=limit)
    found: list[str] = []
    while len(found) < limit:
        response = repo.client.query(**request)
        found += [item["SK"]["S"][len(prefix) :] for item in response.get("Items", [])]
        if not response.get("LastEvaluatedKey"):
            return found, True
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return found[:limit], False


def list_request(
    shop_id: str,
    prefix: str,
    where: ListFilter,
    variant_id: int | None,
    product_id: int | None,
    start: datetime | None,
    end: datetime,
) -> dict[str, Any]:
    """The Query (newest first) behind `list_ids`: the narrowest key, the window as a key range, the filter."""
    low, high = id_bounds(start, end)
    values: dict[str, Any] = {":low": {"S": prefix + low}, ":high": {"S": prefix + high}}
    request: dict[str, Any] = {"ScanIndexForward": False}
    if variant_id is not None:
        request["IndexName"] = "GSI1"
        condition = "GSI1PK = :pk AND GSI1SK BETWEEN :low AND :high"
        values[":pk"] = {"S": variant_pk(shop_id, variant_id)}
        if product_id is not None:
            where.add("product_id = :product", values={":product": product_id})
    elif product_id is not None:
        request["IndexName"] = "GSI2"
        condition = "GSI2PK = :pk AND GSI2SK BETWEEN :low AND :high"
        values[":pk"] = {"S": product_pk(shop_id, product_id)}
    else:
        condition = "PK = :pk AND SK BETWEEN :low AND :high"
        values[":pk"] = {"S": shop_pk(shop_id)}
    request["KeyConditionExpression"] = condition
    if where.clauses:
        request["FilterExpression"] = " AND ".join(where.clauses)
        values.update(where.values)
        if where.names:
            request["ExpressionAttributeNames"] = where.names
    request["ExpressionAttributeValues"] = values
    return request


class SignupRepository(Repository):
    # ------------------------------------------------------------------------------------------------ reads
    def signup(self, shop_id: str, signup_id: str) -> dict[str, Any] | None:
        return self.read(shop_pk(shop_id), SIGNUP + signup_id)

    def signups(self, shop_id: str, signup_ids: list[str]) -> dict[str, dict[str, Any]]:
        """id -> item for the ids that exist in this shop (BatchGetItem, 100 per call, strongly consistent)."""
        items = self.batch_get([signup_key(shop_id, i) for i in dict.fromkeys(signup_ids)])
        return {item["signup_id"]: item for item in items}

    def list_ids(self, shop_id: str, where: ListFilter, **window: Any) -> list[str]:
        return list_ids(self, shop_id, SIGNUP, where, **window)

    def first_ids(self, shop_id: str, where: ListFilter, limit: int, **window: Any) -> tuple[list[str], bool]:
        return first_ids(self, shop_id, SIGNUP, where, limit, **window)

    def iter_pages(
        self, shop_id: str, where: ListFilter, start_key: dict[str, Any] | None = None, **window: Any
    ) -> Any:
        """Full signup items of a listing, newest first, a Query page at a time: yields (items, raw keys of each
        item) so that a long export can resume after any item (`start_key`, an item's raw key)."""
        request = list_request(shop_id, SIGNUP, where, **window)
        request["TableName"] = self.table_name
        key_names = ["PK", "SK"]
        if request.get("IndexName"):
            key_names += [f"{request['IndexName']}PK", f"{request['IndexName']}SK"]
        while True:
            if start_key:
                request["ExclusiveStartKey"] = start_key
            response = self.client.query(**request)
            raw = response.get("Items", [])
            yield [from_item(i) for i in raw], [{k: i[k] for k in key_names} for i in raw]
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                return

    def count(self, shop_id: str, where: ListFilter, **window: Any) -> int:
        """How many signups a listing matches (Select=COUNT: no item leaves DynamoDB)."""
        request = list_request(shop_id, SIGNUP, where, **window)
        request["Select"] = "COUNT"
        paginator = self.client.get_paginator("query")
        return sum(page["Count"] for page in paginator.paginate(TableName=self.table_name, **request))

    def by_variant(self, shop_id: str, variant_id: int, start_key: dict[str, Any] | None, limit: int) -> Any:
        """One page of a variant's signups, oldest first, for the transfer worker. Returns (items, next key)."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk AND begins_with(GSI1SK, :signup)",
            "ExpressionAttributeValues": {":pk": {"S": variant_pk(shop_id, variant_id)}, ":signup": {"S": SIGNUP}},
            "Limit": limit,
        }
        if start_key:
            request["ExclusiveStartKey"] = start_key
        response = self.client.query(**request)
        return [from_item(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey")

    # ------------------------------------------------------------------------------------------- customers
    def upsert_customer(
        self,
        shop_id: str,
        channel: str,
        contact: str,
        new_id: str,
        name: str | None,
        email: str | None,
        phone: str | None,
        now: str,
    ) -> dict[str, Any]:
        """Find or create the customer behind a contact in one UpdateItem; a given name updates the stored one."""
        sets = ["customer_id = if_not_exists(customer_id, :id)", "created_at = if_not_exists(created_at, :now)"]
        sets.append("entity = :entity")
        values: dict[str, Any] = {":id": new_id, ":now": now, ":entity": "customer"}
        for field, value in (("name", name), ("email", email), ("phone", phone)):
            if value is not None:
                sets.append(f"#{field} = :{field}")
                values[f":{field}"] = value
        names = {f"#{f}": f for f, v in (("name", name), ("email", email), ("phone", phone)) if v is not None}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": key(shop_pk(shop_id), f"CUSTOMER#{channel}#{contact}"),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ExpressionAttributeValues": {k: serialize(v) for k, v in values.items()},
            "ReturnValues": "ALL_NEW",
        }
        if names:
            request["ExpressionAttributeNames"] = names
        return from_item(self.client.update_item(**request)["Attributes"])

    # ---------------------------------------------------------------------------------------------- writes
    def create(self, signup: dict[str, Any], stale_guard_owner: str | None = None) -> None:
        """Put the signup (with its index entries, `index_keys`) and claim its pending guard together. Raises
        `GuardTaken(owner_id)` when another active signup holds the guard. `stale_guard_owner`: take the guard over
        from that (no longer active) signup."""
        shop_id = signup["shop_id"]
        stored = {**signup, **index_keys(signup)}
        guard = key(shop_pk(shop_id), guard_sk(signup["variant_id"], signup["channel"], signup["contact"]))
        guard_put: dict[str, Any] = {
            "Item": {**guard, **to_item({"entity": "pending_guard", "signup_id": signup["signup_id"]})},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if stale_guard_owner:
            guard_put["ConditionExpression"] = "signup_id = :owner"
            guard_put["ExpressionAttributeValues"] = {":owner": {"S": stale_guard_owner}}
        else:
            guard_put["ConditionExpression"] = "attribute_not_exists(PK)"
        try:
            self.transact(
                [
                    {
                        "Put": {
                            "Item": {**signup_key(shop_id, signup["signup_id"]), **to_item(stored)},
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {"Put": guard_put},
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons", [])
            if len(reasons) > 1 and reasons[1].get("Code") == "ConditionalCheckFailed":
                old = reasons[1].get("Item") or {}
                raise GuardTaken(old.get("signup_id", {}).get("S")) from None
            raise

    def release_guard(self, signup: dict[str, Any]) -> None:
        """Free the pending guard if this signup still holds it (best effort: a stale guard is taken over at the
        next create, see `create`)."""
        guard = key(shop_pk(signup["shop_id"]), guard_sk(signup["variant_id"], signup["channel"], signup["contact"]))
        self._delete_guard_if_owned(guard, signup["signup_id"])

    def release_guards(self, signups: list[dict[str, Any]]) -> None:
        """`release_guard` for many signups, 16 conditional deletes in flight (BatchWriteItem has no condition,
        and a guard may belong to another signup by now). boto3 clients are thread-safe."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(self.release_guard, signups))

    # Reference 004: "pending signups only ... history is immutable": a notified, unsubscribed or blocked signup
    # (`models.status`) has history (a send, a send-log row, an opt-out) and is never deleted.
    PENDING_ONLY = (
        "attribute_not_exists(notified_at) AND attribute_not_exists(unsubscribed_at) "
        "AND attribute_not_exists(blocked_at)"
    )

    def delete_unnotified(self, shop_id: str, signup_id: str) -> dict[str, Any]:
        """Delete a pending signup. Raises Conflict (naming its status) if it is not pending; returns the deleted
        item."""
        try:
            response = self.client.delete_item(
                TableName=self.table_name,
                Key=signup_key(shop_id, signup_id),
                ConditionExpression=f"attribute_exists(PK) AND {self.PENDING_ONLY}",
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            if exc.response.get("Item"):
                status = status_of(from_item(exc.response["Item"]))
                raise Conflict(
                    f"Signup {signup_id} is {status}: only pending signups can be deleted "
                    "(a notified, blocked or unsubscribed signup is history and cannot be deleted)"
                ) from None
            raise SignupMissing(signup_id) from None
        deleted = from_item(response["Attributes"])
        self.release_guard(deleted)
        return deleted

    def delete_many_unnotified(self, shop_id: str, signups: list[dict[str, Any]]) -> None:
        """Delete signups checked beforehand as pending: conditional deletes in transactions of 100, so a signup
        notified, blocked or unsubscribed in the meantime is never deleted (its whole chunk fails with Conflict)."""
        for start in range(0, len(signups), 100):
            chunk = signups[start : start + 100]
            try:
                self.transact(
                    [
                        {
                            "Delete": {
                                "Key": signup_key(shop_id, s["signup_id"]),
                                "ConditionExpression": self.PENDING_ONLY,
                            }
                        }
                        for s in chunk
                    ]
                )
            except self.client.exceptions.TransactionCanceledException:
                raise Conflict(
                    "A signup of this request stopped being pending (notified, blocked or unsubscribed) while it was "
                    f"being deleted; {start} signups were deleted before it. Retry with the remaining ids."
                ) from None
            self.release_guards(chunk)

    def set_timestamp(self, shop_id: str, signup_id: str, field: str, value: str) -> dict[str, Any] | None:
        """Set a lifecycle timestamp once (`unsubscribed_at`, `optin_confirmed_at`); returns the signup after the
        write, or None when the signup does not exist."""
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=signup_key(shop_id, signup_id),
                UpdateExpression="SET #f = if_not_exists(#f, :v)",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={"#f": field},
                ExpressionAttributeValues={":v": {"S": value}},
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return from_item(response["Attributes"])

    def mark_send_outstanding(
        self, shop_id: str, signup_id: str, send_id: str, now: datetime, until: datetime, spacing: timedelta = ZERO
    ) -> dict[str, Any] | None:
        """Record `send_id` as the signup's one outstanding send: one conditional UpdateItem, so of any number of
        concurrent callers one wins. Refused while another send is outstanding (until it expires), or while the
        signup's last alert is younger than `spacing` (`last_notified_at`, whatever sent it: a notify or a
        restock). Returns None for the caller that recorded it, else the signup as it was (to say why: joined or
        held); an empty dict when the signup is gone."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=signup_key(shop_id, signup_id),
                UpdateExpression="SET send_outstanding = :id, send_outstanding_until = :until "
                "REMOVE send_outstanding_done",
                ConditionExpression=SPACING_CONDITION,
                ExpressionAttributeValues={
                    ":id": {"S": send_id},
                    ":until": {"N": str(int(until.timestamp()))},
                    ":now": {"N": str(int(now.timestamp()))},
                    ":spaced": {"S": iso(now - spacing)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as failed:
            old = failed.response.get("Item")
            return from_item(old) if old else {}
        return None

    def release_send_outstanding(
        self, shop_id: str, signup_id: str, send_id: str, until: datetime, done: bool = False
    ) -> None:
        """The send no longer holds the signup after `until` (unless another send holds it by now). `done`: it was
        processed (a notify inside the window is then held, not joined)."""
        # ConditionalCheckFailed: deleted, or another send holds it by now
        update = "SET send_outstanding_until = :until" + (", send_outstanding_done = :true" if done else "")
        values: dict[str, Any] = {":id": {"S": send_id}, ":until": {"N": str(int(until.timestamp()))}}
        if done:
            values[":true"] = {"BOOL": True}
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.update_item(
                TableName=self.table_name,
                Key=signup_key(shop_id, signup_id),
                UpdateExpression=update,
                ConditionExpression="send_outstanding = :id",
                ExpressionAttributeValues=values,
            )

    def mark_once(self, shop_id: str, signup_id: str, field: str, value: str) -> bool:
        """Set a timestamp only if it was never set. True for the one caller that set it (at-most-once work such
        as the opt-in confirmation message)."""
        return self.update_if(
            Key=signup_key(shop_id, signup_id),
            UpdateExpression="SET #f = :v",
            ConditionExpression="attribute_exists(PK) AND attribute_not_exists(#f)",
            ExpressionAttributeNames={"#f": field},
            ExpressionAttributeValues={":v": {"S": value}},
        )

    def unmark(self, shop_id: str, signup_id: str, field: str, value: str) -> None:
        """Undo `mark_once` when the work it guarded did not happen (the provider throttled the confirmation): only
        the value this caller set, so a later caller's mark stays."""
        self.update_if(
            Key=signup_key(shop_id, signup_id),
            UpdateExpression="REMOVE #f",
            ConditionExpression="#f = :v",
            ExpressionAttributeNames={"#f": field},
            ExpressionAttributeValues={":v": {"S": value}},
        )

    def move(self, signup: dict[str, Any], target: dict[str, Any], take_guard: bool) -> bool:
        """Point a signup at another variant (its id and history stay). A signup that holds a pending guard moves
        it too; when the target already has an active signup for the same contact and channel, the signup is
        dropped instead (deleted with its guard). Returns True if moved, False if dropped."""
        shop_id = signup["shop_id"]
        new_values = {
            "variant_id": target["variant_id"],
            "product_id": target["product_id"],
            "variant_title": target.get("title"),
            "product_title": target.get("product_title"),
            "GSI1PK": variant_pk(shop_id, target["variant_id"]),
            "GSI2PK": product_pk(shop_id, target["product_id"]),
        }
        sets = [f"#{k} = :{k}" for k, v in new_values.items() if v is not None]
        removes = [f"#{k}" for k, v in new_values.items() if v is None]
        names = {f"#{k}": k for k in new_values}
        values = {f":{k}": serialize(v) for k, v in new_values.items() if v is not None}
        values[":from"] = serialize(signup["GSI1PK"])
        update = {
            "Update": {
                "Key": signup_key(shop_id, signup["signup_id"]),
                "UpdateExpression": "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
                "ConditionExpression": "GSI1PK = :from",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
        if not take_guard:
            try:
                self.transact([update])
            except self.client.exceptions.TransactionCanceledException:
                return False  # moved or deleted concurrently: nothing to do
            return True
        old_guard = key(shop_pk(shop_id), guard_sk(signup["variant_id"], signup["channel"], signup["contact"]))
        new_guard = key(shop_pk(shop_id), guard_sk(target["variant_id"], signup["channel"], signup["contact"]))
        try:
            self.transact(
                [
                    update,
                    {
                        "Put": {
                            "Item": {
                                **new_guard,
                                **to_item({"entity": "pending_guard", "signup_id": signup["signup_id"]}),
                            },
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            codes = self.cancellation_codes(exc)
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed" and codes[0] is None:
                # The target already has an active signup for this contact: drop this one, as the reference says.
                self.client.delete_item(
                    TableName=self.table_name,
                    Key=signup_key(shop_id, signup["signup_id"]),
                    ConditionExpression="GSI1PK = :from",
                    ExpressionAttributeValues={":from": serialize(signup["GSI1PK"])},
                )
                self.release_guard(signup)
                return False
            return False
        self._delete_guard_if_owned(old_guard, signup["signup_id"])
        return True

    def _delete_guard_if_owned(self, guard: dict[str, Any], signup_id: str) -> None:
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.delete_item(
                TableName=self.table_name,
                Key=guard,
                ConditionExpression="signup_id = :id",
                ExpressionAttributeValues={":id": {"S": signup_id}},
            )


class GuardTaken(Exception):
    def __init__(self, owner_id: str | None) -> None:
        super().__init__(owner_id)
        self.owner_id = owner_id


class SignupMissing(Exception):
    pass
