"""Shopify's privacy webhooks in the main table: finding one customer's rows, rubbing out their contacts, purging a
shop. Every DynamoDB expression of `services/privacy.py` lives here; the service decides what belongs to whom.

No index by contact exists (none is worth its write cost for requests this rare), so a customer's rows are found by
a `Query` of the shop's partition on one sort-key prefix (`CUSTOMER#`, `PENDING#`, `DATAREQ#`) with a
`FilterExpression` where one can apply; sort keys cannot be filtered server-side, so guards are read keys-only
and matched here. Signups and send-log rows live in 16 partitions each (`SHOP#<id>#SIGNUP#<nn>`,
`SHOP#<id>#NOTIF#<nn>`: repositories/shards.py): their lookups Query every one of them, and the shop's own
partition too, where rows of the layout before issue 23 stay until `backinstock migrate keys` moved them (one more
Query; a row found in both places during its move counts once, its new copy). Redaction by id writes the row's key
and its legacy key (`signup_key` / `legacy_signup_key`): whichever exists is rubbed out, so a row moved while the
redaction runs is rubbed out where it is (the move copies only the image it read, `repositories/migration.py`).
Never a Scan: the table's IAM policies do not allow one, and tests fail on one.

Items written here:
- `SHOP#<id> / DATAREQ#<data_request id>`: a `customers/data_request` report (JSON text in `report`, or gzip in
  `report_gzip` when it would not fit an item), `shopify_customer_id`, the merchant-email claim (`email_claimed_at`,
  `emailed_at`), expiring through the table's TTL attribute 30 days after the request.
- `SHOP#<id> / ERASURE`: `erased_at`, when the shop's latest `customers/redact` finished: export download links of
  files whose export started before it answer 410 (services/downloads.py). Gone with the shop on `shop/redact`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from backinstock import ids
from backinstock.keys import PK, SK, TTL_ATTRIBUTE
from backinstock.repositories.base import Repository, from_item, key, serialize, to_item
from backinstock.repositories.notifications import (
    NOTIF,
    legacy_notification_key,
    notification_key,
    notification_partitions,
)
from backinstock.repositories.shops import shop_key
from backinstock.repositories.signups import SIGNUP, legacy_signup_key, shop_pk, signup_key, signup_partitions

REDACTED = "[redacted]"
CHANNELS = ("email", "sms", "push")
DATAREQ = "DATAREQ#"
_IN_LIMIT = 100  # operands of one IN comparison
# Attributes of a signup that hold a contact or the person's name (written by services/signups.py create and the
# storefront's push signups). `contact` itself is overwritten with REDACTED, not removed: every reader of a signup
# (the API's representation, the send worker) expects it.
SIGNUP_PERSONAL = ("search_email", "search_phone", "push_endpoint", "customer_email", "customer_phone", "customer_name")


def customer_contact(customer: dict[str, Any]) -> tuple[str, str]:
    """The channel and contact a customer item (`customers`) is keyed by: its sort key `CUSTOMER#<channel>#<contact>`
    (a contact may hold `#`: only the first two separate)."""
    _, channel, contact = str(customer[SK]).split("#", 2)
    return channel, contact


def _values(prefix: str, items: Iterable[str]) -> dict[str, Any]:
    return {f":{prefix}{i}": {"S": v} for i, v in enumerate(sorted(items))}


class PrivacyRepository(Repository):
    # --------------------------------------------------------------------------------------------- erasures
    def mark_erasure(self, shop_id: str, at: datetime) -> None:
        """Record that an erasure finished at `at` (never moves back: a late retry keeps the later time)."""
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.update_item(
                TableName=self.table_name,
                Key=key(shop_pk(shop_id), "ERASURE"),
                UpdateExpression="SET erased_at = :at, entity = :entity",
                ConditionExpression="attribute_not_exists(erased_at) OR erased_at < :at",
                ExpressionAttributeValues={":at": {"S": ids.iso(at)}, ":entity": {"S": "erasure"}},
            )

    def erased_since(self, shop_id: str) -> datetime | None:
        """When the shop's latest erasure finished; `datetime.max` (UTC) when the shop no longer exists (purged by
        `shop/redact`, or never was); None when nothing was erased. One BatchGetItem of two keys."""
        found = {item[SK]: item for item in self.batch_get([key(shop_pk(shop_id), "ERASURE"), shop_key(shop_id)])}
        if "SHOP" not in found:
            return datetime.max.replace(tzinfo=UTC)
        erasure = found.get("ERASURE")
        return ids.parse(str(erasure["erased_at"])) if erasure else None

    # ------------------------------------------------------------------------------------- one customer's rows
    def _prefix_query(self, pk: str, prefix: str, **request: Any) -> list[dict[str, Any]]:
        values = {":pk": {"S": pk}, ":prefix": {"S": prefix}, **request.pop("ExpressionAttributeValues", {})}
        items = self.query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues=values,
            ConsistentRead=True,
            **request,
        )
        return [from_item(i) for i in items]

    def _sharded_query(
        self, shop_id: str, prefix: str, partitions_of: Callable[[str], list[str]], **request: Any
    ) -> list[dict[str, Any]]:
        """`_prefix_query` of the shop's legacy partition (rows not moved yet) and of its 16 shards (`partitions_of`),
        one row per sort key: a row met in both places (moved while this reads) is its copy in the shard."""
        rows: dict[str, dict[str, Any]] = {}
        for pk in (shop_pk(shop_id), *partitions_of(shop_id)):
            for row in self._prefix_query(pk, prefix, **request):
                rows[row[SK]] = row
        return list(rows.values())

    def signup_candidates(self, shop_id: str, contacts: set[str]) -> list[dict[str, Any]]:
        """Signups whose contact attributes mention one of the contacts. `contains` over-matches (a@x.io is in
        aa@x.io): the caller checks each candidate exactly."""
        rows: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(contacts), 20):  # 5 comparisons each, well under an expression's 4 KB
            values = _values("c", chunk)
            clauses = [
                clause
                for name in values
                for clause in (
                    f"#contact = {name}",
                    f"customer_email = {name}",
                    f"customer_phone = {name}",
                    f"contains(search_email, {name})",
                    f"contains(search_phone, {name})",
                )
            ]
            rows += self._sharded_query(
                shop_id,
                SIGNUP,
                signup_partitions,
                FilterExpression=" OR ".join(clauses),
                ExpressionAttributeNames={"#contact": "contact"},
                ExpressionAttributeValues=values,
            )
        return list({r[SK]: r for r in rows}.values())

    def customers(self, shop_id: str, contacts: set[str]) -> list[dict[str, Any]]:
        """Customer items keyed by one of the contacts (on any channel) or holding one as `email` / `phone`."""
        if not contacts:
            return []
        found: dict[str, dict[str, Any]] = {}
        keys = [key(shop_pk(shop_id), f"CUSTOMER#{channel}#{c}") for c in sorted(contacts) for channel in CHANNELS]
        for item in self.batch_get(keys):
            found[item[SK]] = item
        for chunk in _chunks(sorted(contacts), _IN_LIMIT):
            values = _values("c", chunk)
            operands = ", ".join(values)
            for item in self._prefix_query(
                shop_pk(shop_id),
                "CUSTOMER#",
                FilterExpression=f"#email IN ({operands}) OR #phone IN ({operands})",
                ExpressionAttributeNames={"#email": "email", "#phone": "phone"},
                ExpressionAttributeValues=values,
            ):
                found[item[SK]] = item
        return list(found.values())

    def guard_keys(self, shop_id: str, contacts: set[str]) -> list[str]:
        """Sort keys of the pending guards (`PENDING#<variant>#<channel>#<contact>`) of these contacts, stale ones
        included. Read keys-only: a sort key cannot be filtered server-side."""
        if not contacts:
            return []
        rows = self._prefix_query(shop_pk(shop_id), "PENDING#", ProjectionExpression="SK")
        return [r[SK] for r in rows if (parts := r[SK].split("#", 3)) and len(parts) == 4 and parts[3] in contacts]

    def notifications_to(self, shop_id: str, contacts: set[str]) -> list[dict[str, Any]]:
        """The send log's rows addressed to one of the contacts."""
        rows: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(contacts), _IN_LIMIT):
            values = _values("c", chunk)
            rows += self._sharded_query(
                shop_id,
                NOTIF,
                notification_partitions,
                FilterExpression=f"#contact IN ({', '.join(values)})",
                ExpressionAttributeNames={"#contact": "contact"},
                ExpressionAttributeValues=values,
            )
        return rows

    def data_request_keys(self, shop_id: str, shopify_customer_id: str | None, contacts: set[str]) -> list[str]:
        """Sort keys of stored data-request reports about this customer (same Shopify id, or a contact in the text)."""
        clauses: list[str] = []
        values: dict[str, Any] = {}
        if shopify_customer_id:
            clauses.append("shopify_customer_id = :cid")
            values[":cid"] = {"S": shopify_customer_id}
        contact_values = _values("c", contacts)
        clauses += [f"contains(#report, {name})" for name in contact_values]
        if not clauses:
            return []
        names = {"#report": "report"} if contact_values else None
        rows = self._prefix_query(
            shop_pk(shop_id),
            DATAREQ,
            FilterExpression=" OR ".join(clauses),
            ProjectionExpression="SK",
            ExpressionAttributeValues={**values, **contact_values},
            **({"ExpressionAttributeNames": names} if names else {}),
        )
        return [r[SK] for r in rows]

    def order_attributions(self, shop_id: str, order_ids: list[str]) -> list[dict[str, Any]]:
        """Attributions of the lines of these orders (`ATTR#<order_id>#<line_item_id>`, repositories/attributions.py):
        one Query per order."""
        rows: list[dict[str, Any]] = []
        for order_id in dict.fromkeys(order_ids):
            rows += self._prefix_query(shop_pk(shop_id), f"ATTR#{order_id}#")
        return rows

    def preorder_customers(self, shop_id: str, customer_keys: list[str]) -> list[dict[str, Any]]:
        """Preorder customer profiles (`PRECUSTOMER#<customer key>`, repositories/preorders.py) under these keys."""
        keys = [key(shop_pk(shop_id), f"PRECUSTOMER#{k}") for k in dict.fromkeys(customer_keys)]
        return self.batch_get(keys) if keys else []

    def preorder_orders(self, shop_id: str, order_ids: list[str]) -> list[dict[str, Any]]:
        """The preorder ledger's entries (`PREORDER#<order_id>`) of these orders, those that exist."""
        keys = [key(shop_pk(shop_id), f"PREORDER#{o}") for o in dict.fromkeys(order_ids)]
        return [o for o in self.batch_get(keys) if o.get("placed_at")] if keys else []

    # ----------------------------------------------------------------------------------------------- rub out
    def redact_signup(self, shop_id: str, signup_id: str, at: str) -> bool:
        """Contact replaced, contact attributes removed, `redacted_at` and `unsubscribed_at` set if not set yet (the
        send worker blocks an unsubscribed signup). False if the signup is gone."""
        update = "SET #contact = :redacted, redacted_at = if_not_exists(redacted_at, :at), "
        update += "unsubscribed_at = if_not_exists(unsubscribed_at, :at) REMOVE " + ", ".join(SIGNUP_PERSONAL)
        return self._redact([signup_key(shop_id, signup_id), legacy_signup_key(shop_id, signup_id)], update, at)

    def redact_notification(self, shop_id: str, notification_id: str, at: str) -> bool:
        update = "SET #contact = :redacted, redacted_at = if_not_exists(redacted_at, :at)"
        keys = [notification_key(shop_id, notification_id), legacy_notification_key(shop_id, notification_id)]
        return self._redact(keys, update, at)

    def _redact(self, keys: list[dict[str, Any]], update: str, at: str) -> bool:
        """One row's contact replaced by the redacted mark (`update` says what else changes), at each of its keys
        that exists (its key, and its key before issue 23 while `migrate keys` has not moved it). False if it is
        gone from both."""
        changed = False
        for item_key in keys:
            changed |= self.update_if(
                Key=item_key,
                UpdateExpression=update,
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={"#contact": "contact"},
                ExpressionAttributeValues={":redacted": {"S": REDACTED}, ":at": {"S": at}},
            )
        return changed

    def delete_in_shop(self, shop_id: str, sort_keys: list[str]) -> int:
        """Delete items of the shop's partition, BatchWriteItem of 25, unprocessed items retried."""
        self.batch_write([{"DeleteRequest": {"Key": key(shop_pk(shop_id), sk)}} for sk in dict.fromkeys(sort_keys)])
        return len(set(sort_keys))

    def delete_found(self, shop_id: str, items: list[dict[str, Any]]) -> int:
        """`delete_in_shop` for items this repository read from the shop's partition (customers, preorder customer
        profiles): each by its own key."""
        return self.delete_in_shop(shop_id, [item[SK] for item in items])

    # ----------------------------------------------------------------------------------------- data requests
    def data_request(self, shop_id: str, request_id: str) -> dict[str, Any] | None:
        return self.read(shop_pk(shop_id), DATAREQ + request_id)

    def put_data_request(self, shop_id: str, request_id: str, values: dict[str, Any], expires_at: int) -> bool:
        """Store a report once; False when this data request was stored before (a replayed webhook)."""
        item = {**values, "entity": "data_request", "data_request_id": request_id, TTL_ATTRIBUTE: expires_at}
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={**key(shop_pk(shop_id), DATAREQ + request_id), **to_item(item)},
                ConditionExpression="attribute_not_exists(PK)",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def claim_data_request_email(self, shop_id: str, request_id: str, at: str, stale_before: str) -> bool:
        """Claim the one email of a data request before the provider call. A claim older than `stale_before` whose
        email was never marked sent (a crash in between) can be taken again."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=key(shop_pk(shop_id), DATAREQ + request_id),
                UpdateExpression="SET email_claimed_at = :at",
                ConditionExpression="attribute_exists(PK) AND attribute_not_exists(emailed_at) AND "
                "(attribute_not_exists(email_claimed_at) OR email_claimed_at < :stale)",
                ExpressionAttributeValues={":at": {"S": at}, ":stale": {"S": stale_before}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_data_request_email(self, shop_id: str, request_id: str) -> None:
        self.client.update_item(
            TableName=self.table_name,
            Key=key(shop_pk(shop_id), DATAREQ + request_id),
            UpdateExpression="REMOVE email_claimed_at",
        )

    def mark_data_request_emailed(self, shop_id: str, request_id: str, at: str, message_id: str) -> None:
        self.client.update_item(
            TableName=self.table_name,
            Key=key(shop_pk(shop_id), DATAREQ + request_id),
            UpdateExpression="SET emailed_at = :at, email_message_id = :mid",
            ExpressionAttributeValues={":at": {"S": at}, ":mid": serialize(message_id)},
        )

    # -------------------------------------------------------------------------------------------- shop purge
    def api_key_hashes(self, shop_id: str) -> list[str]:
        """Hashes named by the shop partition's `APIKEY#<hash>` reference items (revoked keys included)."""
        rows = self._prefix_query(shop_pk(shop_id), "APIKEY#", ProjectionExpression="SK")
        return [r[SK][len("APIKEY#") :] for r in rows]

    def delete_api_key(self, key_hash: str, shop_id: str) -> bool:
        """Delete the global `APIKEY#<hash>` item if it belongs to this shop; False if absent (or not this shop's)."""
        return self._delete_owned(f"APIKEY#{key_hash}", "APIKEY", shop_id)

    def release_domain(self, domain: str, shop_id: str) -> bool:
        """Delete the `DOMAIN#<domain>` claim only while it still points to this shop (a new install of the same
        domain under another shop id keeps its claim)."""
        return self._delete_owned(f"DOMAIN#{domain}", "DOMAIN", shop_id)

    def _delete_owned(self, pk: str, sk: str, shop_id: str) -> bool:
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.delete_item(
                TableName=self.table_name,
                Key=key(pk, sk),
                ConditionExpression="shop_id = :id",
                ExpressionAttributeValues={":id": {"S": shop_id}},
            )
            return True
        return False

    def purge_shop(self, shop_id: str) -> int:
        """`purge_partition` of the shop's own partition."""
        return self.purge_partition(shop_pk(shop_id))

    def purge_partition(self, pk: str) -> int:
        """Delete every item of one partition: keys-only Query pages, deleted as they come in BatchWriteItem calls
        of 25 (unprocessed items retried). Paging by key stays correct while the pages already read are deleted."""
        deleted = 0
        pending: list[dict[str, Any]] = []
        for item in self.query(
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ProjectionExpression="PK, SK",
            ConsistentRead=True,
        ):
            pending.append({"DeleteRequest": {"Key": {PK: item[PK], SK: item[SK]}}})
            if len(pending) >= 500:
                self.batch_write(pending)
                deleted += len(pending)
                pending = []
        if pending:
            self.batch_write(pending)
            deleted += len(pending)
        return deleted


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
