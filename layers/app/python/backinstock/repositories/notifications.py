"""The send log and the send worker's bookkeeping. Every DynamoDB expression for them lives here.

Items (see docs/DATA_MODEL.md, "Sends: claim, provider, record"):
- `SHOP#<id> / NOTIF#<uuid7>`: one delivery attempt (`sent` or `blocked`), with the variant and product index keys
  (`GSI1PK=SHOP#<id>#VARIANT#<v>`, `GSI2PK=SHOP#<id>#PRODUCT#<p>`, sort key `NOTIF#<uuid7>`).
- `SHOP#<id>#SEND#<nn> / SEND#<send_id>`: the claim of one queued send, in one of 16 partitions by
  `crc32(send_id) % 16` (a restock's claims spread over 16 keys, never the shop's). Written before the provider is
  called (`sending`), or with its blocked row (`blocked`); a redelivered message finds it and does not send again.
  A sent claim stays `sending`: its log row (`notification_id`) is what says it was recorded. Expires (TTL) after
  the queue's retention.
- `SHOP#<id>#SEND#<nn> / LEASE#<lease_id>`: the monthly quota reserved for one queue message (`n` sends), taken in
  one transaction with the month's usage; its unused part is given back once the message is done (`settled`).
- `SHOP#<id> / USAGE#<yyyy-mm>`: sends this month: reserved a message at a time (a lease), or a send at a time when
  the month's rest is smaller than a message. Never above the plan's limit.
"""

from __future__ import annotations

import hashlib
import time
import uuid
import zlib
from typing import Any

from backinstock.repositories.base import BATCH_GET_LIMIT, Repository, key, serialize, to_item
from backinstock.repositories.signups import (
    ListFilter,
    first_ids,
    list_ids,
    product_pk,
    shop_pk,
    signup_key,
    variant_pk,
)

NOTIF = "NOTIF#"
SEND_SHARDS = 16  # claim partitions per shop: a restock's claims spread over 16 partition keys

RELEASE_ATTEMPTS = 4  # a refused send's claim release: once, then 3 retries (50, 100, 200 ms)


def send_pk(shop_id: str, send_id: str) -> str:
    """The claim partition of a send: `SHOP#<id>#SEND#<nn>`, `nn = crc32(send_id) % 16`."""
    return f"SHOP#{shop_id}#SEND#{zlib.crc32(send_id.encode()) % SEND_SHARDS:02d}"


def claim_key(shop_id: str, send_id: str) -> dict[str, Any]:
    return key(send_pk(shop_id, send_id), f"SEND#{send_id}")


def send_partitions() -> list[Any]:
    """The partitions outside `SHOP#<id>` that hold a shop's send claims and leases (for the privacy purge)."""
    return [lambda s, n=n: f"SHOP#{s}#SEND#{n:02d}" for n in range(SEND_SHARDS)]


def lease_id(month: str, send_ids: list[str]) -> str:
    """A queue message's quota lease: the same message (a redelivery, or a campaign step queued again) finds the same
    lease, so its reservation is taken once."""
    return hashlib.sha256("|".join([month, *send_ids]).encode()).hexdigest()[:32]


def lease_key(shop_id: str, lease: str) -> dict[str, Any]:
    return key(send_pk(shop_id, lease), f"LEASE#{lease}")


class QuotaExceeded(Exception):
    pass


class AlreadyClaimed(Exception):
    pass


class NotNotifiable(Exception):
    """The signup was notified since the send was queued, and no resend was asked for (or it was deleted)."""


class NotificationRepository(Repository):
    def notification(self, shop_id: str, notification_id: str) -> dict[str, Any] | None:
        return self.read(shop_pk(shop_id), NOTIF + notification_id)

    def notifications(self, shop_id: str, ids: list[str]) -> list[dict[str, Any]]:
        return self.batch_get([key(shop_pk(shop_id), NOTIF + i) for i in ids])

    def list_ids(self, shop_id: str, where: ListFilter, **window: Any) -> list[str]:
        return list_ids(self, shop_id, NOTIF, where, **window)

    def first_ids(self, shop_id: str, where: ListFilter, limit: int, **window: Any) -> tuple[list[str], bool]:
        return first_ids(self, shop_id, NOTIF, where, limit, **window)

    # ----------------------------------------------------------------------------------------- worker state
    def claim(self, shop_id: str, send_id: str) -> dict[str, Any] | None:
        return self.read(send_pk(shop_id, send_id), f"SEND#{send_id}")

    def prefetch(
        self, shop_id: str, sends: list[dict[str, Any]]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """The claims and signups of a message's sends, strongly consistent: one BatchGetItem per 50 sends (instead
        of two GetItem a send). Returns (send id -> claim, signup id -> signup)."""
        keys = [claim_key(shop_id, s["send_id"]) for s in sends]
        keys += [signup_key(shop_id, i) for i in dict.fromkeys(s["signup_id"] for s in sends)]
        unique = list({(k["PK"]["S"], k["SK"]["S"]): k for k in keys}.values())
        claims: dict[str, dict[str, Any]] = {}
        signups: dict[str, dict[str, Any]] = {}
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            for item in self.batch_get(unique[start : start + BATCH_GET_LIMIT]):
                if item.get("entity") == "send_claim":
                    claims[item["SK"][len("SEND#") :]] = item
                elif item.get("entity") == "signup":
                    signups[item["signup_id"]] = item
        return claims, signups

    def claim_put(self, shop_id: str, send_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """The Put (for a transaction) of a send's claim, on the condition that the send has none yet."""
        return self._claim_put(shop_id, send_id, values)

    def _claim_put(self, shop_id: str, send_id: str, values: dict[str, Any]) -> dict[str, Any]:
        return {
            "Put": {
                "Item": {**claim_key(shop_id, send_id), **to_item({"entity": "send_claim", **values})},
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _log_put(self, notification: dict[str, Any]) -> dict[str, Any]:
        shop_id = notification["shop_id"]
        item = {
            **notification,
            "entity": "notification",
            "GSI1PK": variant_pk(shop_id, notification["variant_id"]),
            "GSI1SK": NOTIF + notification["notification_id"],
            "GSI2PK": product_pk(shop_id, notification["product_id"]),
            "GSI2SK": NOTIF + notification["notification_id"],
        }
        return {
            "Put": {
                "Item": {**key(shop_pk(shop_id), NOTIF + notification["notification_id"]), **to_item(item)},
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _notifiable(self, shop_id: str, signup_id: str, allow_resend: bool) -> dict[str, Any]:
        condition = "attribute_exists(PK)" + ("" if allow_resend else " AND attribute_not_exists(notified_at)")
        return {"ConditionCheck": {"Key": signup_key(shop_id, signup_id), "ConditionExpression": condition}}

    def record_blocked(self, notification: dict[str, Any], send_id: str, expires_at: int, allow_resend: bool) -> None:
        """The blocked attempt in the log, the signup's `blocked_at`, and the claim: one transaction."""
        shop_id, signup_id = notification["shop_id"], notification["signup_id"]
        claim = {"status": "blocked", "notification_id": notification["notification_id"], "expires_at": expires_at}
        try:
            self.transact(
                [
                    self._claim_put(shop_id, send_id, claim),
                    self._log_put(notification),
                    {
                        "Update": {
                            "Key": signup_key(shop_id, signup_id),
                            "UpdateExpression": "SET blocked_at = :at",
                            "ConditionExpression": "attribute_exists(PK)"
                            + ("" if allow_resend else " AND attribute_not_exists(notified_at)"),
                            "ExpressionAttributeValues": {":at": serialize(notification["sent_at"])},
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            codes = self.cancellation_codes(exc)
            if codes and codes[0] == "ConditionalCheckFailed":
                raise AlreadyClaimed(send_id) from None
            if len(codes) > 2 and codes[2] == "ConditionalCheckFailed":
                raise NotNotifiable(signup_id) from None
            raise

    # ------------------------------------------------------------------------------------------ monthly quota
    def reserve(self, shop_id: str, lease: str, month: str, n: int, limit: int | None, expires_at: int) -> int:
        """Reserve `n` sends of the month for one queue message (its lease), in one transaction with the usage item:
        `n` when the month has room for all of them (or the lease was taken before and is not settled: a
        redelivery), else 0 (the caller reserves a send at a time, `claim_send(leased=False)`). Never more than
        the plan's limit; one write of the usage item per message instead of one per send."""
        usage: dict[str, Any] = {
            "Key": key(shop_pk(shop_id), f"USAGE#{month}"),
            "UpdateExpression": "ADD sends :n SET entity = :entity",
            "ExpressionAttributeValues": {":n": {"N": str(n)}, ":entity": {"S": "usage"}},
        }
        if limit is not None:
            usage["ConditionExpression"] = "attribute_not_exists(sends) OR sends <= :room"
            usage["ExpressionAttributeValues"][":room"] = {"N": str(limit - n)}
            if limit < n:
                return 0
        record = {"entity": "send_lease", "month": month, "n": n, "expires_at": expires_at}
        try:
            self.transact(
                [
                    {"Update": usage},
                    {
                        "Put": {
                            "Item": {**lease_key(shop_id, lease), **to_item(record)},
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            codes = self.cancellation_codes(exc)
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                held = self.read(lease_key(shop_id, lease)["PK"]["S"], f"LEASE#{lease}")
                return int(held["n"]) if held and not held.get("settled") and held.get("month") == month else 0
            if codes and codes[0] == "ConditionalCheckFailed":
                return 0
            raise
        return n

    def settle(self, shop_id: str, lease: str, month: str, unused: int) -> None:
        """The message is done: give its unused reservations back, once (the lease is marked `settled` in the same
        transaction, on the condition that it was not: a duplicate delivery gives nothing back twice)."""
        if unused <= 0:
            return
        try:
            self.transact(
                [
                    {
                        "Update": {
                            "Key": lease_key(shop_id, lease),
                            "UpdateExpression": "SET settled = :unused",
                            "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(settled)",
                            "ExpressionAttributeValues": {":unused": {"N": str(unused)}},
                        }
                    },
                    {
                        "Update": {
                            "Key": key(shop_pk(shop_id), f"USAGE#{month}"),
                            "UpdateExpression": "ADD sends :minus",
                            "ExpressionAttributeValues": {":minus": {"N": str(-unused)}},
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            if self.cancellation_codes(exc)[:1] == ["ConditionalCheckFailed"]:
                return  # settled by another delivery of the message
            raise

    def claim_send(
        self,
        shop_id: str,
        send_id: str,
        signup_id: str,
        notification_id: str,
        month: str,
        limit: int | None,
        allow_resend: bool,
        expires_at: int,
        attempted_at: str,
        lease: str | None = None,
    ) -> None:
        """Before the provider is called: the claim (`sending`). Raises AlreadyClaimed, QuotaExceeded or
        NotNotifiable.

        Under a lease (`lease`: the message's quota is reserved) it is one conditional PutItem on the claim's own
        partition; the signup was read strongly consistent just before (`prefetch`). Without one (the month's rest
        is smaller than the message), the month's usage is taken under the plan limit and the signup checked in
        the same transaction, a send at a time."""
        claim = {
            "status": "sending",
            "signup_id": signup_id,
            "notification_id": notification_id,
            "attempted_at": attempted_at,
            "month": month,
            "expires_at": expires_at,
            "lease": lease,
        }
        if lease is not None:
            put = self._claim_put(shop_id, send_id, claim)["Put"]
            try:
                self.client.put_item(TableName=self.table_name, **put)
            except self.client.exceptions.ConditionalCheckFailedException:
                raise AlreadyClaimed(send_id) from None
            return
        usage: dict[str, Any] = {
            "Key": key(shop_pk(shop_id), f"USAGE#{month}"),
            "UpdateExpression": "ADD sends :one SET entity = :entity",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":entity": {"S": "usage"}},
        }
        if limit is not None:
            usage["ConditionExpression"] = "attribute_not_exists(sends) OR sends < :limit"
            usage["ExpressionAttributeValues"][":limit"] = {"N": str(limit)}
        try:
            self.transact(
                [
                    self._claim_put(shop_id, send_id, claim),
                    {"Update": usage},
                    self._notifiable(shop_id, signup_id, allow_resend),
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            codes = self.cancellation_codes(exc)
            if codes[0] == "ConditionalCheckFailed":
                raise AlreadyClaimed(send_id) from None
            if codes[1] == "ConditionalCheckFailed":
                raise QuotaExceeded(month) from None
            if codes[2] == "ConditionalCheckFailed":
                raise NotNotifiable(signup_id) from None
            raise

    def release_claim(self, shop_id: str, send_id: str, month: str, leased: bool = False) -> None:
        """The provider refused or failed: undo the claim (and the send's usage, unless its message's lease holds
        it: the retry sends under the same lease) so that a retry can send.

        Retried (beyond the SDK's own retries) with one idempotency token: a claim left `sending` reads, on the
        message's redelivery, as a crash after the provider call, and is recorded as sent without a message (found
        building `make chaos`: SES refused, then the release was throttled). The token makes a retry of a release
        that did apply change nothing (no second usage decrement)."""
        token = str(uuid.uuid4())
        items: list[dict[str, Any]] = [{"Delete": {"TableName": self.table_name, "Key": claim_key(shop_id, send_id)}}]
        if not leased:
            items.append(
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": key(shop_pk(shop_id), f"USAGE#{month}"),
                        "UpdateExpression": "ADD sends :minus",
                        "ExpressionAttributeValues": {":minus": {"N": "-1"}},
                    }
                }
            )
        for attempt in range(RELEASE_ATTEMPTS):
            try:
                self.client.transact_write_items(TransactItems=items, ClientRequestToken=token)
                return
            except Exception:
                if attempt == RELEASE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * 2**attempt)

    def record_sent(
        self, notification: dict[str, Any], send_id: str, provider_id: str | None, frees_slot: bool = False
    ) -> bool:
        """After the provider accepted (or after a crash in between, on redelivery): the log row and the signup's
        counters and timestamps, in one transaction. The log row's id is the claim's, and its Put is conditional:
        a recovery runs once, and the claim itself is not written again (it stays `sending`; its log row is what
        says it was recorded). Returns False when another invocation recorded it first.

        `frees_slot`: the send held the signup's send slot (a notify's, `send_outstanding`): the same update frees
        it, so a notify's send writes the signup once. From now on `last_notified_at` holds the signup for the
        shop's resend spacing (`SPACING_CONDITION`); no other send can hold the slot meanwhile (it was taken)."""
        shop_id, at = notification["shop_id"], notification["sent_at"]
        log = self._log_put({**notification, "provider_id": provider_id, "send_id": send_id})
        try:
            self.transact(
                [
                    log,
                    {
                        "Update": {
                            "Key": signup_key(shop_id, notification["signup_id"]),
                            "UpdateExpression": "SET notified_at = if_not_exists(notified_at, :at), "
                            "last_notified_at = :at ADD notifications_sent :one"
                            + (
                                " REMOVE send_outstanding, send_outstanding_until, send_outstanding_done"
                                if frees_slot
                                else ""
                            ),
                            "ConditionExpression": "attribute_exists(PK)",
                            "ExpressionAttributeValues": {":at": serialize(at), ":one": {"N": "1"}},
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            codes = self.cancellation_codes(exc)
            if codes[0] == "ConditionalCheckFailed":
                return False
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                # The signup was deleted while the send was in flight: keep the log row.
                try:
                    self.client.put_item(TableName=self.table_name, **log["Put"])
                except self.client.exceptions.ConditionalCheckFailedException:
                    return False
                return True
            raise
        return True

    def usage(self, shop_id: str, month: str) -> int:
        item = self.read(shop_pk(shop_id), f"USAGE#{month}")
        return int(item.get("sends", 0)) if item else 0
