"""The send log and the send worker's bookkeeping. Every DynamoDB expression for them lives here.

Items (see docs/DATA_MODEL.md, "Sends: claim, provider, record"):
- `SHOP#<id>#NOTIF#<nn> / NOTIF#<uuid7>`: one delivery attempt (`sent` or `blocked`), in one of the shop's 16 log
  partitions (`nn` from the id: `shards`), with the variant and product index keys, sharded the same way
  (`GSI1PK=SHOP#<id>#VARIANT#<v>#NOTIF#<nn>`, `GSI2PK=SHOP#<id>#PRODUCT#<p>#NOTIF#<nn>`, sort key `NOTIF#<uuid7>`):
  a restock's log rows spread over 16 keys of the table and of each index.
- A send's claim is on its signup (`last_send`: the send id, `sending` or `blocked`, the log row's id, the lease): one
  conditional UpdateItem before the provider is called, which also marks the signup notified; a redelivered message
  finds it there (`claim_of`) and does not send again. Claim items of the earlier layout
  (`SHOP#<id>#SEND#<nn> / SEND#<send_id>`, 16 partitions by `crc32(send_id) % 16`) are still read until they expire.
- `SHOP#<id>#SEND#<nn> / LEASE#<lease_id>`: the monthly quota reserved for one queue message (`n` sends), taken in
  one transaction with the month's usage; its unused part is given back once the message is done (`settled`).
- `SHOP#<id> / USAGE#<yyyy-mm>`: sends this month: reserved a message at a time (a lease), or a send at a time when
  the month's rest is smaller than a message. Never above the plan's limit.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from backinstock.ids import parse as ids_parse
from backinstock.repositories.base import BATCH_GET_LIMIT, Repository, from_item, key, serialize, to_item
from backinstock.repositories.shards import SHARDS, partitions, sharded
from backinstock.repositories.signups import (
    SEND_SPACING_CONDITION,
    ListFilter,
    entity_prefix,
    first_ids,
    list_ids,
    partition_functions,
    product_pk,
    send_spacing_values,
    shop_pk,
    signup_key,
    signup_pk,
    variant_pk,
)

NOTIF = "NOTIF#"
SEND_SHARDS = SHARDS  # claim and lease partitions per shop

RELEASE_ATTEMPTS = 4  # a refused send's claim release: once, then 3 retries (50, 100, 200 ms)


def send_pk(shop_id: str, send_id: str) -> str:
    """The claim partition of a send: `SHOP#<id>#SEND#<nn>`, `nn = crc32(send_id) % 16`."""
    return sharded(f"SHOP#{shop_id}#SEND", send_id)


def claim_key(shop_id: str, send_id: str) -> dict[str, Any]:
    return key(send_pk(shop_id, send_id), f"SEND#{send_id}")


def send_partitions() -> list[Any]:
    """The partitions outside `SHOP#<id>` that hold a shop's send claims and leases (for the privacy purge)."""
    return [lambda s, n=n: f"SHOP#{s}#SEND#{n:02d}" for n in range(SEND_SHARDS)]


def notification_pk(shop_id: str, notification_id: str) -> str:
    """`SHOP#<id>#NOTIF#<nn>`: one of the shop's 16 log partitions, computed from the row's id."""
    return sharded(entity_prefix(shop_id, NOTIF), notification_id)


def notification_partitions(shop_id: str) -> list[str]:
    """The 16 partition keys holding one shop's send-log rows."""
    return partitions(entity_prefix(shop_id, NOTIF))


def notification_key(shop_id: str, notification_id: str) -> dict[str, Any]:
    return key(notification_pk(shop_id, notification_id), NOTIF + notification_id)


def legacy_notification_key(shop_id: str, notification_id: str) -> dict[str, Any]:
    """Where a log row lived before issue 23 (`SHOP#<id> / NOTIF#<uuid7>`, `GSI1PK=SHOP#<id>#VARIANT#<v>`,
    `GSI2PK=SHOP#<id>#PRODUCT#<p>`): read by the privacy webhooks and moved by `backinstock migrate keys`."""
    return key(shop_pk(shop_id), NOTIF + notification_id)


def log_partitions() -> list[Any]:
    """The shop's 16 log partitions, as functions shop id -> partition key (for the privacy purge)."""
    return partition_functions(notification_partitions)


def log_index_keys(notification: dict[str, Any]) -> dict[str, str]:
    """A log row's index entries: its variant's (`GSI1`) and its product's (`GSI2`) list, each in the shard of the
    row's id (`...#NOTIF#<nn>`), by row id."""
    shop_id, row_id = notification["shop_id"], notification["notification_id"]
    sk = NOTIF + row_id
    return {
        "GSI1PK": sharded(f"{variant_pk(shop_id, notification['variant_id'])}#NOTIF", row_id),
        "GSI1SK": sk,
        "GSI2PK": sharded(f"{product_pk(shop_id, notification['product_id'])}#NOTIF", row_id),
        "GSI2SK": sk,
    }


def product_log_partitions(shop_id: str, product_id: int) -> list[str]:
    """The 16 `GSI2` keys holding one product's log rows."""
    return partitions(f"{product_pk(shop_id, product_id)}#NOTIF")


def lease_id(month: str, send_ids: list[str]) -> str:
    """A queue message's quota lease: the same message (a redelivery, or a campaign step queued again) finds the same
    lease, so its reservation is taken once."""
    return hashlib.sha256("|".join([month, *send_ids]).encode()).hexdigest()[:32]


def lease_key(shop_id: str, lease: str) -> dict[str, Any]:
    return key(send_pk(shop_id, lease), f"LEASE#{lease}")


# The once-guard of a send's claim on its signup: the signup's last claim is not this send (a redelivered message finds
# its claim, `claim_of`, and does not claim again).
ONCE_CONDITION = "(attribute_not_exists(last_send) OR last_send.send_id <> :send)"


def claim_of(signup: dict[str, Any] | None, send_id: str) -> dict[str, Any] | None:
    """A send's claim as its signup holds it (`last_send`, while it is the signup's last send)."""
    claim = (signup or {}).get("last_send")
    return claim if isinstance(claim, dict) and claim.get("send_id") == send_id else None


class QuotaExceeded(Exception):
    pass


class AlreadyClaimed(Exception):
    pass


class NotNotifiable(Exception):
    """The signup was notified since the send was queued, and no resend was asked for (or it was deleted)."""


class NotificationRepository(Repository):
    def notification(self, shop_id: str, notification_id: str) -> dict[str, Any] | None:
        return self.read(notification_pk(shop_id, notification_id), NOTIF + notification_id)

    def notifications(self, shop_id: str, ids: list[str]) -> list[dict[str, Any]]:
        return self.batch_get([notification_key(shop_id, i) for i in ids])

    def list_ids(self, shop_id: str, where: ListFilter, **window: Any) -> list[str]:
        return list_ids(self, shop_id, NOTIF, where, **window)

    def first_ids(self, shop_id: str, where: ListFilter, limit: int, **window: Any) -> tuple[list[str], bool]:
        return first_ids(self, shop_id, NOTIF, where, limit, **window)

    # ----------------------------------------------------------------------------------------- worker state
    def claim(self, shop_id: str, signup_id: str, send_id: str) -> dict[str, Any] | None:
        """The claim of one send: its signup's `last_send` when it names the send, else a claim item written before
        the claims moved onto the signup (read until they expire)."""
        claims, _ = self.prefetch(shop_id, [{"send_id": send_id, "signup_id": signup_id}])
        return claims.get(send_id)

    def prefetch(
        self, shop_id: str, sends: list[dict[str, Any]]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """The claims and signups of a message's sends, strongly consistent: one BatchGetItem per 50 sends (instead
        of two GetItem a send). A send's claim is its signup's `last_send` when that names it (`claim_of`); the
        claim items of the earlier layout (`SEND#<send_id>`) are read in the same call until they expire. Returns
        (send id -> claim, signup id -> signup)."""
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
        for send in sends:
            claim = claim_of(signups.get(send["signup_id"]), send["send_id"])
            if claim is not None:
                claims.setdefault(send["send_id"], claim)
        return claims, signups

    def _log_put(self, notification: dict[str, Any]) -> dict[str, Any]:
        shop_id = notification["shop_id"]
        item = {**notification, "entity": "notification", **log_index_keys(notification)}
        return {
            "Put": {
                "Item": {**notification_key(shop_id, notification["notification_id"]), **to_item(item)},
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def signup_claim(
        self,
        shop_id: str,
        signup_id: str,
        claim: dict[str, Any],
        allow_resend: bool,
        spaced: str | None,
        frees_slot: bool = False,
    ) -> dict[str, Any]:
        """The claim of one send, on its signup (one conditional UpdateItem): `last_send` names the send, and a send
        to go out marks the signup notified now (`notified_at`, `last_notified_at`, `notifications_sent`; undone
        by `release_claim` if the provider does not take it); a blocked one sets `blocked_at`. Its condition is the
        once-guard (`ONCE_CONDITION`: the signup's last claim is not this send), "may still be notified" (not
        notified, unless a resend), and, for a send that goes out, the resend spacing (`SEND_SPACING_CONDITION`)."""
        at = claim["attempted_at"]
        kept = {k: v for k, v in claim.items() if v is not None}
        values: dict[str, Any] = {":send": {"S": claim["send_id"]}, ":claim": serialize(kept), ":at": {"S": at}}
        if claim["status"] == "sending":
            update = (
                "SET last_send = :claim, notified_at = if_not_exists(notified_at, :at), last_notified_at = :at "
                "ADD notifications_sent :one"
            )
            values[":one"] = {"N": "1"}
            if frees_slot:  # a notify's send: its slot is free from now on (the spacing holds through the alert)
                update += " REMOVE send_outstanding, send_outstanding_until, send_outstanding_done"
        else:
            update = "SET last_send = :claim, blocked_at = :at"
        condition = f"attribute_exists(PK) AND {ONCE_CONDITION}"
        if not allow_resend:
            condition += " AND attribute_not_exists(notified_at)"
        if claim["status"] == "sending" and spaced is not None:
            condition += f" AND {SEND_SPACING_CONDITION}"
            values.update(send_spacing_values(claim["send_id"], ids_parse(at), spaced))
        return {
            "Key": signup_key(shop_id, signup_id),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }

    def _refused(self, old: dict[str, Any] | None, send_id: str) -> Exception:
        """Why a signup claim's condition failed, from the signup as it was."""
        if old and claim_of(old, send_id) is not None:
            return AlreadyClaimed(send_id)
        return NotNotifiable(old.get("signup_id") if old else None)

    def _update_signup(self, update: dict[str, Any], send_id: str) -> dict[str, Any]:
        """One conditional UpdateItem of a signup claim; returns the signup as it was before (for a release)."""
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                **update,
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as failed:
            old = failed.response.get("Item")
            raise self._refused(from_item(old) if old else None, send_id) from None
        return from_item(response.get("Attributes") or {})

    def record_blocked(self, notification: dict[str, Any], send_id: str, expires_at: int, allow_resend: bool) -> None:
        """The blocked attempt: its claim on the signup (`blocked_at`, `last_send` with the reason), then its log row
        (conditional). Two writes: a crash in between is recovered by the send's redelivery, which finds its claim
        and writes the row (`record`)."""
        shop_id, signup_id = notification["shop_id"], notification["signup_id"]
        claim = {
            "send_id": send_id,
            "status": "blocked",
            "notification_id": notification["notification_id"],
            "attempted_at": notification["sent_at"],
            "reason": notification["blocked_reason"],
        }
        self._update_signup(self.signup_claim(shop_id, signup_id, claim, allow_resend, None), send_id)
        self.record(notification)

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
        spaced: str | None = None,
        frees_slot: bool = False,
    ) -> dict[str, Any] | None:
        """Before the provider is called: the send's claim on its signup (`signup_claim`: marked notified, `last_send`
        names the send, `sending`). Raises AlreadyClaimed, QuotaExceeded or NotNotifiable. Returns the signup as it
        was (what `release_claim` puts back), or None when it was not read back (a send at a time).

        Under a lease (`lease`: the message's quota is reserved) it is one conditional UpdateItem of the signup.
        Without one (the month's rest is smaller than the message), the month's usage is taken under the plan limit
        in the same transaction, a send at a time. `spaced`: the resend spacing (`SEND_SPACING_CONDITION`)."""
        claim = {
            "send_id": send_id,
            "status": "sending",
            "notification_id": notification_id,
            "attempted_at": attempted_at,
            "lease": lease,
        }
        update = self.signup_claim(shop_id, signup_id, claim, allow_resend, spaced, frees_slot)
        if lease is not None:
            return self._update_signup(update, send_id)
        usage: dict[str, Any] = {
            "Key": key(shop_pk(shop_id), f"USAGE#{month}"),
            "UpdateExpression": "ADD sends :one SET entity = :entity",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":entity": {"S": "usage"}},
        }
        if limit is not None:
            usage["ConditionExpression"] = "attribute_not_exists(sends) OR sends < :limit"
            usage["ExpressionAttributeValues"][":limit"] = {"N": str(limit)}
        try:
            self.transact([{"Update": usage}, {"Update": update}])
        except self.client.exceptions.TransactionCanceledException as exc:
            codes = self.cancellation_codes(exc)
            if codes[0] == "ConditionalCheckFailed":
                raise QuotaExceeded(month) from None
            if codes[1] == "ConditionalCheckFailed":
                raise self._refused(self.read(signup_pk(shop_id, signup_id), f"SIGNUP#{signup_id}"), send_id) from None
            raise
        return None

    def release_claim(
        self,
        shop_id: str,
        send_id: str,
        month: str,
        leased: bool = False,
        signup_id: str | None = None,
        before: dict[str, Any] | None = None,
    ) -> None:
        """The provider refused or failed: undo the send's claim on its signup (its notified marks back as they were
        in `before`, the signup as the claim found it; its send slot back to a notify's send) and the send's usage
        (unless its message's lease holds it: the retry sends under the same lease), so that a retry can send. A
        claim item of the earlier layout is deleted.

        Retried (beyond the SDK's own retries) with one idempotency token: a claim left `sending` reads, on the
        message's redelivery, as a crash after the provider call, and is recorded as sent without a message (found
        building `make chaos`: SES refused, then the release was throttled). The token (and the condition that the
        signup's last claim is this send) makes a retry of a release that did apply change nothing."""
        token = str(uuid.uuid4())
        items: list[dict[str, Any]] = []
        if signup_id is None:
            items.append({"Delete": {"TableName": self.table_name, "Key": claim_key(shop_id, send_id)}})
        else:
            items.append(
                {"Update": {"TableName": self.table_name, **self._unclaim(shop_id, signup_id, send_id, before)}}
            )
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
            except self.client.exceptions.TransactionCanceledException as exc:
                if self.cancellation_codes(exc)[:1] == ["ConditionalCheckFailed"]:
                    return  # released already (or the signup is gone): nothing to undo
                if attempt == RELEASE_ATTEMPTS - 1:
                    raise
            except Exception:
                if attempt == RELEASE_ATTEMPTS - 1:
                    raise
            time.sleep(0.05 * 2**attempt)

    def _unclaim(self, shop_id: str, signup_id: str, send_id: str, before: dict[str, Any] | None) -> dict[str, Any]:
        was = before or {}
        sets, removes = [], ["last_send"]
        values: dict[str, Any] = {":send": {"S": send_id}, ":minus": {"N": "-1"}}
        for name in ("notified_at", "last_notified_at"):
            if was.get(name):
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = serialize(was[name])
            else:
                removes.append(name)
        if was.get("last_send"):
            removes.remove("last_send")
            sets.append("last_send = :previous")
            values[":previous"] = serialize(was["last_send"])
        if was.get("send_outstanding") == send_id:  # a notify's send: it holds its slot again (unless taken since)
            sets.append("send_outstanding = if_not_exists(send_outstanding, :send)")
            sets.append("send_outstanding_until = if_not_exists(send_outstanding_until, :until)")
            values[":until"] = serialize(was["send_outstanding_until"])
        update = ("SET " + ", ".join(sets) + " " if sets else "") + "REMOVE " + ", ".join(removes)
        return {
            "Key": signup_key(shop_id, signup_id),
            "UpdateExpression": update + " ADD notifications_sent :minus",
            "ConditionExpression": "last_send.send_id = :send AND last_send.#status = :sending",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {**values, ":sending": {"S": "sending"}},
        }

    def record(self, notification: dict[str, Any], provider_id: str | None = None) -> bool:
        """The send's log row (`sent` or `blocked`), after its claim: one conditional PutItem, whose condition is the
        record's once-guard (the row's id is the claim's). Returns False when it was written before (a
        redelivery, or another invocation recovering the same claim)."""
        row = {**notification}
        if provider_id is not None:
            row["provider_id"] = provider_id
        put = self._log_put(row)["Put"]
        try:
            self.client.put_item(TableName=self.table_name, **put)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def record_sent(self, notification: dict[str, Any], send_id: str, provider_id: str | None) -> bool:
        """After the provider accepted (or after a crash in between, on redelivery): the log row. The signup was
        marked notified by the claim. Returns False when another invocation recorded it first."""
        return self.record({**notification, "send_id": send_id}, provider_id)

    def usage(self, shop_id: str, month: str) -> int:
        item = self.read(shop_pk(shop_id), f"USAGE#{month}")
        return int(item.get("sends", 0)) if item else 0
