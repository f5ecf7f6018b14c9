"""The send log and the send worker's bookkeeping. Every DynamoDB expression for them lives here.

Items (see docs/DATA_MODEL.md):
- `SHOP#<id> / NOTIF#<uuid7>`: one delivery attempt (`sent` or `blocked`), with the variant and product index keys
  (`GSI1PK=SHOP#<id>#VARIANT#<v>`, `GSI2PK=SHOP#<id>#PRODUCT#<p>`, sort key `NOTIF#<uuid7>`).
- `SHOP#<id> / SEND#<send_id>`: the claim of one queued send. Written before the provider is called; a redelivered
  message finds it and does not send again. Expires (TTL) after the queue's retention.
- `SHOP#<id> / USAGE#<yyyy-mm>`: sends this month, incremented under the plan's limit in the claim's transaction.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from backinstock.repositories.base import Repository, key, serialize, to_item
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

RELEASE_ATTEMPTS = 4  # a refused send's claim release: once, then 3 retries (50, 100, 200 ms)


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
        return self.read(shop_pk(shop_id), f"SEND#{send_id}")

    def _claim_put(self, shop_id: str, send_id: str, values: dict[str, Any]) -> dict[str, Any]:
        return {
            "Put": {
                "Item": {**key(shop_pk(shop_id), f"SEND#{send_id}"), **to_item({"entity": "send_claim", **values})},
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
    ) -> None:
        """Before the provider is called: the claim (`sending`), the month's usage under the plan limit, and a
        check that the signup may still be notified. Raises AlreadyClaimed, QuotaExceeded or NotNotifiable."""
        usage: dict[str, Any] = {
            "Key": key(shop_pk(shop_id), f"USAGE#{month}"),
            "UpdateExpression": "ADD sends :one SET entity = :entity",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":entity": {"S": "usage"}},
        }
        if limit is not None:
            usage["ConditionExpression"] = "attribute_not_exists(sends) OR sends < :limit"
            usage["ExpressionAttributeValues"][":limit"] = {"N": str(limit)}
        claim = {
            "status": "sending",
            "signup_id": signup_id,
            "notification_id": notification_id,
            "attempted_at": attempted_at,
            "month": month,
            "expires_at": expires_at,
        }
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

    def release_claim(self, shop_id: str, send_id: str, month: str) -> None:
        """The provider refused or failed: undo the claim and the usage so that a retry can send.

        Retried (beyond the SDK's own retries) with one idempotency token: a claim left `sending` reads, on the
        message's redelivery, as a crash after the provider call, and is recorded as sent without a message (found
        building `make chaos`: SES refused, then the release was throttled). The token makes a retry of a release
        that did apply change nothing (no second usage decrement)."""
        token = str(uuid.uuid4())
        items = [
            {"Delete": {"TableName": self.table_name, "Key": key(shop_pk(shop_id), f"SEND#{send_id}")}},
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": key(shop_pk(shop_id), f"USAGE#{month}"),
                    "UpdateExpression": "ADD sends :minus",
                    "ExpressionAttributeValues": {":minus": {"N": "-1"}},
                }
            },
        ]
        for attempt in range(RELEASE_ATTEMPTS):
            try:
                self.client.transact_write_items(TransactItems=items, ClientRequestToken=token)
                return
            except Exception:
                if attempt == RELEASE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * 2**attempt)

    def record_sent(self, notification: dict[str, Any], send_id: str, provider_id: str | None) -> bool:
        """After the provider accepted (or after a crash in between, on redelivery): the log row, the signup's
        counters and timestamps, the claim marked `sent`. Conditional on the claim still being `sending`, so a
        recovery runs once. Returns False when another invocation recorded it first."""
        shop_id, at = notification["shop_id"], notification["sent_at"]
        try:
            self.transact(
                [
                    {
                        "Update": {
                            "Key": key(shop_pk(shop_id), f"SEND#{send_id}"),
                            "UpdateExpression": "SET #s = :sent" + (", provider_id = :pid" if provider_id else ""),
                            "ConditionExpression": "#s = :sending",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {
                                ":sent": {"S": "sent"},
                                ":sending": {"S": "sending"},
                                **({":pid": {"S": provider_id}} if provider_id else {}),
                            },
                        }
                    },
                    self._log_put(notification),
                    {
                        "Update": {
                            "Key": signup_key(shop_id, notification["signup_id"]),
                            "UpdateExpression": "SET notified_at = if_not_exists(notified_at, :at), "
                            "last_notified_at = :at ADD notifications_sent :one",
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
            if len(codes) > 2 and codes[2] == "ConditionalCheckFailed":
                # The signup was deleted while the send was in flight: keep the log row and the claim.
                self.transact([self._log_put(notification)])
                self.client.update_item(
                    TableName=self.table_name,
                    Key=key(shop_pk(shop_id), f"SEND#{send_id}"),
                    UpdateExpression="SET #s = :sent",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":sent": {"S": "sent"}},
                )
                return True
            raise
        return True

    def usage(self, shop_id: str, month: str) -> int:
        item = self.read(shop_pk(shop_id), f"USAGE#{month}")
        return int(item.get("sends", 0)) if item else 0
