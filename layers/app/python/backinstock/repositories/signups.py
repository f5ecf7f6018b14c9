"""Signups, their customers and the pending-uniqueness guard. Every DynamoDB expression for them lives here.

Items (see docs/DATA_MODEL.md):
- `SHOP#<id>#SIGNUP#<nn> / SIGNUP#<uuid7>`: the signup, with its customer and variant denormalized (one GetItem
  reads the full representation), in one of the shop's 16 signup partitions (`nn` from the id: `shards`), so a
  restock's claims spread over 16 keys. `GSI3PK=SHOP#<id>#VARIANT#<variant>` and `GSI4PK=SHOP#<id>#PRODUCT#<product>`,
  both with `SIGNUP#<uuid7>` as sort key, keys only, serve the per-variant and per-product lists; UUIDv7 ids sort by
  creation time.
- `SHOP#<id> / CUSTOMER#<channel>#<contact>`: find-or-create in one UpdateItem (`if_not_exists`).
- `SHOP#<id> / PENDING#<variant>#<channel>#<contact>`: at most one active (not yet notified, not unsubscribed)
  signup per contact, variant and channel, claimed in the same transaction as the signup's Put, so of two
  concurrent identical creates exactly one wins.

Lifecycle timestamps (`notified_at`, `blocked_at`, `unsubscribed_at`, `optin_confirmed_at`) are absent until set:
the status filter is a FilterExpression on their existence.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from backinstock.errors import Conflict
from backinstock.ids import id_bounds, iso
from backinstock.models.status import status_of
from backinstock.repositories.base import BATCH_GET_LIMIT, Repository, from_item, key, serialize, to_item
from backinstock.repositories.shards import SHARDS, merged, partitions, sharded

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


def entity_prefix(shop_id: str, prefix: str) -> str:
    """`SHOP#<id>#SIGNUP` / `SHOP#<id>#NOTIF`: the sharded partitions of one shop's signups or log rows."""
    return f"{shop_pk(shop_id)}#{prefix.rstrip('#')}"


def signup_pk(shop_id: str, signup_id: str) -> str:
    """`SHOP#<id>#SIGNUP#<nn>`: one of the shop's 16 signup partitions (`shards`), computed from the id."""
    return sharded(entity_prefix(shop_id, SIGNUP), signup_id)


def signup_partitions(shop_id: str) -> list[str]:
    """The 16 partition keys holding one shop's signups."""
    return partitions(entity_prefix(shop_id, SIGNUP))


def signup_key(shop_id: str, signup_id: str) -> dict[str, Any]:
    return key(signup_pk(shop_id, signup_id), SIGNUP + signup_id)


def legacy_signup_key(shop_id: str, signup_id: str) -> dict[str, Any]:
    """Where a signup lived before issue 23 (`SHOP#<id> / SIGNUP#<uuid7>`, indexed by `GSI1`/`GSI2`): read by the
    privacy webhooks and moved by `backinstock migrate keys` (repositories/migration.py) until none is left."""
    return key(shop_pk(shop_id), SIGNUP + signup_id)


def partition_functions(partitions_of: Callable[[str], list[str]]) -> list[Callable[[str], str]]:
    """`partitions_of(shop_id)`'s keys as functions shop id -> partition key, one per shard (what the shop purge,
    `services.privacy.Privacy.extra_partitions`, takes)."""

    def shard(n: int) -> Callable[[str], str]:
        return lambda shop_id: partitions_of(shop_id)[n]

    return [shard(n) for n in range(SHARDS)]


def purge_partitions() -> list[Callable[[str], str]]:
    """The shop's 16 signup partitions, for the shop purge."""
    return partition_functions(signup_partitions)


def index_keys(signup: dict[str, Any]) -> dict[str, str]:
    """A signup's two index entries, keys only (a send's claim rewrites neither): its variant's list (`GSI3`) and
    its product's (`GSI4`), by signup id. Written only when the signup is created or moved, never by a send, so they
    need no shards."""
    shop_id, sk = signup["shop_id"], SIGNUP + signup["signup_id"]
    return {
        "GSI3PK": variant_pk(shop_id, signup["variant_id"]),
        "GSI3SK": sk,
        "GSI4PK": product_pk(shop_id, signup["product_id"]),
        "GSI4SK": sk,
    }


def is_pending(item: dict[str, Any]) -> bool:
    """Not notified, not unsubscribed, not blocked (`STATUS_FILTERS["pending"]` on an item already read)."""
    return not ({"notified_at", "unsubscribed_at", "blocked_at"} & item.keys())


STATUS_FILTERS = {
    "pending": "attribute_not_exists(notified_at) AND attribute_not_exists(unsubscribed_at) "
    "AND attribute_not_exists(blocked_at)",
    "notified": "attribute_exists(notified_at) AND attribute_not_exists(unsubscribed_at)",
    "unsubscribed": "attribute_exists(unsubscribed_at)",
}
# The same filters on an item already read (a keys-only index lists keys: its filters run after the BatchGetItem).
STATUS_TESTS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "pending": is_pending,
    "notified": lambda item: "notified_at" in item and "unsubscribed_at" not in item,
    "unsubscribed": lambda item: "unsubscribed_at" in item,
}


class ListFilter:
    """The filters of a listing of one shop's signups or log rows, each twice: a FilterExpression clause (a Query of
    the table or of an index that projects every attribute) and the same test on an item already read (a Query of
    a keys-only index, whose FilterExpression could not see the attributes: `Listing.keys_only`)."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.tests: list[Callable[[dict[str, Any]], bool]] = []

    def add(
        self,
        clause: str,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        test: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        if test is None:
            raise ValueError(f"a list filter needs its test on a read item too: {clause}")
        self.clauses.append(f"({clause})")
        self.names.update(names or {})
        self.values.update({k: serialize(v) for k, v in (values or {}).items()})
        self.tests.append(test)

    def status(self, status: str) -> None:
        self.add(STATUS_FILTERS[status], test=STATUS_TESTS[status])

    def equals(self, attribute: str, value: Any) -> None:
        self.add(
            f"#{attribute} = :{attribute}",
            names={f"#{attribute}": attribute},
            values={f":{attribute}": value},
            test=lambda item: item.get(attribute) == value,
        )

    def contains(self, attribute: str, value: str) -> None:
        self.add(
            f"contains(#{attribute}, :{attribute})",
            names={f"#{attribute}": attribute},
            values={f":{attribute}": value},
            test=lambda item: value in str(item.get(attribute) or ""),
        )

    def copy(self) -> ListFilter:
        out = ListFilter()
        out.clauses, out.names, out.values, out.tests = (
            list(self.clauses),
            dict(self.names),
            dict(self.values),
            list(self.tests),
        )
        return out

    def passes(self, item: dict[str, Any]) -> bool:
        return all(test(item) for test in self.tests)


@dataclass
class Listing:
    """The Queries behind a listing (newest first, one per partition: `merged` puts them together) and whether
    they read a keys-only index (filters after the BatchGetItem) or carry the filter themselves."""

    requests: list[dict[str, Any]]
    keys_only: bool
    where: ListFilter
    prefix: str


def list_request(
    shop_id: str,
    prefix: str,
    where: ListFilter,
    variant_id: int | None,
    product_id: int | None,
    start: datetime | None,
    end: datetime,
    before: str | None = None,
) -> Listing:
    """The narrowest key for the filters, the window as a key range (`before`: a sort key the listing resumes
    after, newest first). Signups: the variant's or the product's keys-only index (`GSI3`, `GSI4`: one Query),
    else the shop's 16 signup partitions. Log rows: the variant's (`GSI1`) or product's (`GSI2`) 16 sharded index
    keys, else the shop's 16 log partitions."""
    low, high = id_bounds(start, end)
    high = min(prefix + high, before) if before else prefix + high
    signups = prefix == SIGNUP
    filters = where.copy()
    if variant_id is not None:
        index = "GSI3" if signups else "GSI1"
        keys = [variant_pk(shop_id, variant_id)] if signups else partitions(f"{variant_pk(shop_id, variant_id)}#NOTIF")
        if product_id is not None:
            filters.equals("product_id", product_id)
    elif product_id is not None:
        index = "GSI4" if signups else "GSI2"
        keys = [product_pk(shop_id, product_id)] if signups else partitions(f"{product_pk(shop_id, product_id)}#NOTIF")
    else:
        index, keys = "", partitions(entity_prefix(shop_id, prefix))
    keys_only = signups and bool(index)
    names = {"#pk": f"{index}PK" if index else "PK", "#sk": f"{index}SK" if index else "SK"}
    template: dict[str, Any] = {
        "ScanIndexForward": False,
        "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
    }
    if index:
        template["IndexName"] = index
    values: dict[str, Any] = {":low": {"S": prefix + low}, ":high": {"S": high}}
    if filters.clauses and not keys_only:
        template["FilterExpression"] = " AND ".join(filters.clauses)
        values.update(filters.values)
        names.update(filters.names)
    template["ExpressionAttributeNames"] = names
    requests = [{**template, "ExpressionAttributeValues": {**values, ":pk": {"S": pk}}} for pk in keys]
    return Listing(requests, keys_only, filters, prefix)


def _keys(repo: Repository, listing: Listing, page: int | None = None) -> Iterator[dict[str, Any]]:
    """The listing's raw items, keys only (`PK`, `SK`), newest first across its partitions."""
    requests = [{**r, "TableName": repo.table_name, "ProjectionExpression": "PK, SK"} for r in listing.requests]
    if page:
        requests = [{**r, "Limit": page} for r in requests]
    return merged(repo.client, requests)


def _matching(repo: Repository, listing: Listing, page: int = BATCH_GET_LIMIT) -> Iterator[dict[str, Any]]:
    """The listing's full raw items that pass its filters, newest first: the Queries' own items, or (a keys-only
    index) its keys read back `page` at a time (one BatchGetItem each) and tested."""
    if not listing.keys_only:
        requests = [{**r, "TableName": repo.table_name, "Limit": page} for r in listing.requests]
        yield from merged(repo.client, requests)
        return
    chunk: list[dict[str, Any]] = []
    for raw in _keys(repo, listing, page):
        chunk.append({"PK": raw["PK"], "SK": raw["SK"]})
        if len(chunk) == page:
            yield from _read_back(repo, chunk, listing.where)
            chunk = []
    if chunk:
        yield from _read_back(repo, chunk, listing.where)


def _read_back(repo: Repository, keys: list[dict[str, Any]], where: ListFilter) -> Iterator[dict[str, Any]]:
    """The items of `keys` in their order (BatchGetItem, strongly consistent) that pass `where`, raw."""
    return (item for item in repo.batch_get_in_order(keys) if where.passes(from_item(item)))


def _ids(repo: Repository, listing: Listing, page: int | None) -> Iterator[str]:
    """The listing's ids: its keys alone when the Queries carry the filters (or there are none), else the items
    read back and tested."""
    if listing.keys_only and listing.where.tests:
        items = _matching(repo, listing, page or BATCH_GET_LIMIT)
    else:
        items = _keys(repo, listing, page)
    return (item["SK"]["S"][len(listing.prefix) :] for item in items)


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

    The narrowest key serves the Query (`list_request`). Only keys are projected when the Query carries the filter:
    counting a big waitlist moves ids, not items. Never a Scan."""
    listing = list_request(shop_id, prefix, where, variant_id, product_id, start, end)
    return list(_ids(repo, listing, None))


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
    """The first `limit` ids (newest first) of `list_ids`, and whether they are all of them: each partition is read
    a page of `limit` keys at a time, and only as far as the merge needs, never the whole listing."""
    listing = list_request(shop_id, prefix, where, variant_id, product_id, start, end)
    found = list(islice(_ids(repo, listing, limit + 1), limit + 1))
    return found[:limit], len(found) <= limit


class SignupRepository(Repository):
    # ------------------------------------------------------------------------------------------------ reads
    def signup(self, shop_id: str, signup_id: str) -> dict[str, Any] | None:
        return self.read(signup_pk(shop_id, signup_id), SIGNUP + signup_id)

    def guard_owner(self, shop_id: str, signup_id: str) -> dict[str, Any] | None:
        """The signup a pending guard names: at its key, else where the layout before issue 23 kept it (a table
        `backinstock migrate keys` has not moved yet), so that a customer still waiting there is not signed up a
        second time. A second GetItem only for an owner not found, the rare path of a create refused by a guard."""
        found = self.signup(shop_id, signup_id)
        if found is None:
            legacy = legacy_signup_key(shop_id, signup_id)
            found = self.read(legacy["PK"]["S"], legacy["SK"]["S"])
        return found

    def signups(self, shop_id: str, signup_ids: list[str]) -> dict[str, dict[str, Any]]:
        """id -> item for the ids that exist in this shop (BatchGetItem, 100 per call, strongly consistent)."""
        items = self.batch_get([signup_key(shop_id, i) for i in dict.fromkeys(signup_ids)])
        return {item["signup_id"]: item for item in items}

    def list_ids(self, shop_id: str, where: ListFilter, **window: Any) -> list[str]:
        return list_ids(self, shop_id, SIGNUP, where, **window)

    def first_ids(self, shop_id: str, where: ListFilter, limit: int, **window: Any) -> tuple[list[str], bool]:
        return first_ids(self, shop_id, SIGNUP, where, limit, **window)

    EXPORT_PAGE = BATCH_GET_LIMIT

    def iter_pages(
        self, shop_id: str, where: ListFilter, start_key: dict[str, Any] | None = None, **window: Any
    ) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
        """Full signup items of a listing, newest first, `EXPORT_PAGE` at a time: yields (items, each item's
        cursor) so that a long export can resume after any item (`start_key`: `{"SK": ...}`; the raw key of the
        layout before the shards, which also holds `SK`, resumes too)."""
        before = start_key["SK"]["S"] if start_key else None
        listing = list_request(shop_id, SIGNUP, where, **window, before=before)
        page: list[dict[str, Any]] = []
        for raw in _matching(self, listing, self.EXPORT_PAGE):
            if raw["SK"]["S"] == before:
                continue  # the window's bound is inclusive: the cursor's own item was exported already
            page.append(raw)
            if len(page) == self.EXPORT_PAGE:
                yield [from_item(i) for i in page], [{"SK": i["SK"]} for i in page]
                page = []
        if page:
            yield [from_item(i) for i in page], [{"SK": i["SK"]} for i in page]

    def count(self, shop_id: str, where: ListFilter, **window: Any) -> int:
        """How many signups a listing matches: Select=COUNT on each partition (no item leaves DynamoDB), or, on a
        keys-only index with filters, the items read back and tested."""
        listing = list_request(shop_id, SIGNUP, where, **window)
        if listing.keys_only:
            return sum(1 for _ in _ids(self, listing, None))
        paginator = self.client.get_paginator("query")
        return sum(
            page["Count"]
            for request in listing.requests
            for page in paginator.paginate(TableName=self.table_name, Select="COUNT", **request)
        )

    def by_variant(self, shop_id: str, variant_id: int, start_key: dict[str, Any] | None, limit: int) -> Any:
        """One page of a variant's signups, oldest first, for the transfer worker: its keys-only index (`GSI3`),
        then the items (one BatchGetItem). Returns (items, next key)."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "GSI3",
            "KeyConditionExpression": "GSI3PK = :pk AND begins_with(GSI3SK, :signup)",
            "ExpressionAttributeValues": {":pk": {"S": variant_pk(shop_id, variant_id)}, ":signup": {"S": SIGNUP}},
            "Limit": limit,
        }
        if start_key and "GSI3PK" not in start_key:
            # a transfer queued before the shards resumes from its `GSI1` key: the same signup's key on `GSI3`
            sort_key = start_key["SK"]["S"]
            start_key = {
                **signup_key(shop_id, sort_key[len(SIGNUP) :]),
                "GSI3PK": {"S": variant_pk(shop_id, variant_id)},
                "GSI3SK": {"S": sort_key},
            }
        if start_key:
            request["ExclusiveStartKey"] = start_key
        response = self.client.query(**request)
        keys = [{"PK": i["PK"], "SK": i["SK"]} for i in response.get("Items", [])]
        return [from_item(i) for i in self.batch_get_in_order(keys)], response.get("LastEvaluatedKey")

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
            "GSI3PK": variant_pk(shop_id, target["variant_id"]),
            "GSI4PK": product_pk(shop_id, target["product_id"]),
        }
        sets = [f"#{k} = :{k}" for k, v in new_values.items() if v is not None]
        removes = [f"#{k}" for k, v in new_values.items() if v is None]
        names = {f"#{k}": k for k in new_values}
        values = {f":{k}": serialize(v) for k, v in new_values.items() if v is not None}
        values[":from"] = serialize(signup["GSI3PK"])
        update = {
            "Update": {
                "Key": signup_key(shop_id, signup["signup_id"]),
                "UpdateExpression": "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
                "ConditionExpression": "GSI3PK = :from",
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
                    ConditionExpression="GSI3PK = :from",
                    ExpressionAttributeValues={":from": serialize(signup["GSI3PK"])},
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
