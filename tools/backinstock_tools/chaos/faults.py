"""The faults at the AWS and provider boundary: botocore hooks on the clients the code uses (`Faults`), and the
kills between two writes they carry out for the drivers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from backinstock_tools.chaos.model import (
    BASE_RATES,
    CONTENTION_WINDOW,
    PROVIDER_CALL_SECONDS,
    START,
    WRITES,
    Killed,
    VirtualClock,
)


# ---------------------------------------------------------------------------------------------------- faults
class Faults:
    """The botocore hooks. Faults fire only inside an invocation the driver runs (`invocation`), never during the
    driver's own reads, and only while that invocation's work may still be faulted (`allowed`)."""

    def __init__(self, rng: random.Random, rate: float, seed: int = 0) -> None:
        self.rng = rng
        self.rate = rate
        self.seed = seed
        self.calls: Counter[tuple[int, str, str]] = Counter()  # (invocation, kind, call) -> decisions so far
        self.counts: Counter[str] = Counter()
        self.scope: str | None = None
        self.allowed = False
        self.depth = 0  # > 0 inside a nested consumer (visibility expired): no faults there
        self.writes = 0
        self.kill_at: int | None = None
        self.interleave_at: int | None = None
        self.interleave: Callable[[], None] | None = None
        self.delivered: list[tuple[int, str, str]] = []  # (tick, recipient, subject) accepted by SES / SNS
        self.sent_at: list[float] = []  # virtual time of each restock alert accepted
        self.provider_calls = 0
        self.send_kills = 0  # send worker invocations killed between two writes
        self.tick = 0
        # contention: the items of the last transactions, by invocation; cancelled ones not yet tried again
        self.invocations = 0
        self.current = 0  # the running invocation's number
        self.recent: list[tuple[int, frozenset[tuple[str, str]]]] = []
        self.conflicted: dict[frozenset[tuple[str, str]], str] = {}
        self.contention_escaped: list[str] = []
        self.clock = VirtualClock(START.timestamp())

    def chance(self, kind: str) -> bool:
        return self.rng.random() < BASE_RATES[kind] * self.rate

    def chance_at(self, kind: str, call: str) -> bool:
        """A fault of one call at the AWS or provider boundary, decided by the call itself, not by its place among
        the invocation's calls: a hash of (seed, the invocation's number, kind, the call's identity, how many times
        the invocation made that call before). The invocations are numbered in the driver's (seeded) order; within
        one, code that makes the same calls in another order (iterating over a set of strings, whose order changes
        with PYTHONHASHSEED) gets the same faults on the same calls, and the driver's generator is not moved."""
        return self._draw(kind, call) < BASE_RATES[kind] * self.rate

    def _draw(self, kind: str, call: str) -> float:
        key = (self.current, kind, call)
        self.calls[key] += 1
        text = f"{self.seed}|{self.current}|{kind}|{call}|{self.calls[key]}"
        return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") / 2**64

    def hit(self, kind: str) -> None:
        self.counts[kind] += 1

    def install(self) -> None:
        from backinstock import aws

        for service in ("dynamodb", "sqs", "ses", "sesv2", "sns"):
            events = aws.client(service).meta.events
            events.register(f"before-parameter-build.{service}", self.parameters)
            events.register(f"before-call.{service}", self.before)
            events.register(f"after-call.{service}", self.after)

    @contextlib.contextmanager
    def invocation(self, scope: str, allowed: bool, *, kill: str | None = None) -> Iterator[None]:
        """One invocation of a handler; `kill`: the fault kind that may kill it between two writes."""
        self.scope, self.allowed, self.writes = scope, allowed, 0
        self.kill_at = None
        self.invocations += 1
        self.current = self.invocations
        self.calls.clear()  # an earlier invocation's calls are never decided again
        if allowed and kill and self.chance(kill):
            self.kill_at = self.rng.randint(1, 6)
            self._kill_kind = kill
        killed = False
        try:
            yield
        except Killed:
            killed = True
            raise
        finally:
            if not killed:  # a transaction cancelled by contention and never tried again reached the caller
                self.contention_escaped += sorted(self.conflicted.values())
            self.conflicted = {}
            self.scope, self.allowed, self.kill_at, self.interleave_at, self.interleave = None, False, None, None, None

    @contextlib.contextmanager
    def nested(self) -> Iterator[None]:
        self.depth += 1
        self.invocations += 1
        outer, self.current = self.current, self.invocations
        conflicted, self.conflicted = self.conflicted, {}
        try:
            yield
        finally:
            self.depth -= 1
            self.current, self.conflicted = outer, conflicted

    @staticmethod
    def parameters(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        """The call's parameters as the caller passed them (`before-call` sees the serialized request)."""
        context["chaos_params"] = params

    def before(self, event_name: str, context: dict[str, Any], **_: Any) -> Any:
        from botocore.exceptions import ClientError

        service, operation = event_name.split(".")[1:3]
        params: dict[str, Any] = context.get("chaos_params") or {}
        recipient = _recipient(operation, params) if service in ("ses", "sesv2", "sns") else None
        call = _identity(service, operation, params, recipient)
        context["chaos_call"] = call
        if recipient is not None:
            context["chaos_recipient"] = recipient
            if operation in ("SendEmail", "SendRawEmail", "Publish"):
                self.provider_calls += 1
                self.clock.sleep(PROVIDER_CALL_SECONDS)
        if service == "dynamodb" and operation == "TransactWriteItems" and self.scope is not None:
            self.contend(params, call)
        if self.scope is None or self.depth:
            return None
        if operation in WRITES:
            self.writes += 1
            if self.interleave_at is not None and self.writes == self.interleave_at and self.interleave is not None:
                run, self.interleave = self.interleave, None
                self.hit("sqs_visibility_expired")
                with self.nested():
                    run()
            if self.kill_at is not None and self.writes == self.kill_at and _releases_a_claim(operation, params):
                self.kill_at += 1  # inside the at-most-once window (model.WRITES): killed at the next write instead
            if self.kill_at is not None and self.writes == self.kill_at:
                self.kill_at = None
                self.hit(self._kill_kind)
                if self.scope == "send":
                    self.send_kills += 1  # its send's pace token dies with it
                raise Killed(f"{self.scope} killed before {operation}")
        if not self.allowed:
            return None
        if service == "dynamodb":
            if operation == "TransactWriteItems" and self.chance_at("dynamodb_transaction_cancelled", call):
                self.hit("dynamodb_transaction_cancelled")
                from backinstock import aws

                size = len(params.get("TransactItems", []))
                reasons = [{"Code": "None"}] * size
                if reasons:
                    reasons[int(self._draw("conflict_item", call) * size)] = {"Code": "TransactionConflict"}
                error = {
                    "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled (chaos)"},
                    "CancellationReasons": reasons,
                }
                raise aws.client("dynamodb").exceptions.TransactionCanceledException(error, operation)
            if self.chance_at("dynamodb_throttled", call):
                self.hit("dynamodb_throttled")
                raise ClientError(_error("ProvisionedThroughputExceededException", 400), operation)
        elif service == "sqs" and operation in ("SendMessage", "SendMessageBatch"):
            if self.chance_at("sqs_send_failed", call):
                self.hit("sqs_send_failed")
                raise ClientError(_error("InternalError", 500), operation)
        elif service in ("ses", "sesv2") and operation in ("SendEmail", "SendRawEmail"):
            if self.chance_at("ses_throttled", call):
                self.hit("ses_throttled")
                raise ClientError(_error("Throttling", 400, "Maximum sending rate exceeded."), operation)
            if self.chance_at("ses_5xx", call):
                self.hit("ses_5xx")
                raise ClientError(_error("ServiceUnavailable", 503), operation)
        elif service == "sns" and operation == "Publish" and self.chance_at("sns_throttled", call):
            self.hit("sns_throttled")
            raise ClientError(_error("Throttling", 400), operation)
        return None

    def contend(self, params: dict[str, Any], call: str) -> None:
        """The contention fault: a transaction touching an item that another invocation's transaction touched at the
        same moment (one of the last `CONTENTION_WINDOW`) is cancelled with TransactionConflict on that item; the
        earlier one has committed by then, so the same transaction tried again goes through. An invocation runs its
        transactions one after another, so only its latest in the window is in flight: it is the one met, and once
        it has committed, that invocation's earlier ones have too (a retry meets none of them; an aggregator batch
        writes a transaction per source partition). A cancelled one that its invocation ends without trying again
        escaped to the caller (an invariant counts them)."""
        from backinstock import aws

        entries = [next(iter(e.values())) for e in params.get("TransactItems", [])]
        keys = [
            ((body.get("Key") or body.get("Item") or {}).get("PK", {}).get("S", ""),
             (body.get("Key") or body.get("Item") or {}).get("SK", {}).get("S", ""))
            for body in entries
        ]  # fmt: skip
        mine = frozenset(keys)
        self.conflicted.pop(mine, None)  # tried again
        me = self.current
        in_flight = {who: items for who, items in self.recent if who != me}  # each other invocation's latest
        clash = next(((who, items) for who, items in in_flight.items() if mine & items), None)
        self.recent = [*self.recent, (me, mine)][-CONTENTION_WINDOW:]
        if clash is None or not self.allowed or self.depth or not self.chance_at("contention", call):
            return
        who, items = clash  # it committed, and its invocation's earlier ones: a retry meets none of them
        self.recent = [entry for entry in self.recent if entry[0] != who]
        self.hit("contention")
        shared = sorted(mine & items)[0]
        self.conflicted[mine] = f"{self.scope}: {shared[1].split('#')[0]}"
        reasons = [{"Code": "TransactionConflict" if k == shared else "None"} for k in keys]
        self.recent = [x for x in self.recent if x[1] is not mine]
        error = {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled (chaos: contention)"},
            "CancellationReasons": reasons,
        }
        raise aws.client("dynamodb").exceptions.TransactionCanceledException(error, "TransactWriteItems")

    def after(self, event_name: str, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        service = event_name.split(".")[1]
        if service not in ("ses", "sesv2", "sns") or getattr(http_response, "status_code", 500) >= 300:
            return
        recipient, subject = context.get("chaos_recipient") or ("?", "?")
        self.delivered.append((self.tick, recipient, subject))
        if "back in stock" in subject:
            self.sent_at.append(self.clock.time())
        if (
            self.scope == "send"
            and not self.depth
            and self.allowed
            and self.chance_at("send_killed_after_provider", str(context.get("chaos_call", "?")))
        ):
            self.hit("send_killed_after_provider")
            raise Killed("send worker killed after the provider accepted the message")


def _releases_a_claim(operation: str, params: dict[str, Any]) -> bool:
    """The write that gives a send's claim back after the provider did not take its message
    (`NotificationRepository.release_claim`: its condition is that the signup's last claim is this send, still
    `sending`). Until it is written the claim reads as "the provider may have accepted it", so a worker killed before
    it is the send worker's documented at-most-once window, as a kill before the provider call would be."""
    if operation != "TransactWriteItems":
        return False
    return any(
        "last_send.#status = :sending" in str(next(iter(entry.values())).get("ConditionExpression", ""))
        for entry in params.get("TransactItems", [])
    )


def _identity(service: str, operation: str, params: dict[str, Any], recipient: tuple[str, str] | None) -> str:
    """What a call is, independent of when it is made: its operation, table or queue, and the keys it touches (a
    DynamoDB item's PK/SK or id, every item of a transaction or batch, sorted), the message it sends, the recipient
    it sends to. Never a time the code read (the application's clock is logical: its readings follow the calls)."""

    def key(body: dict[str, Any]) -> str:
        item = body.get("Key") or body.get("Item") or {}
        return json.dumps({a: item[a] for a in ("PK", "SK", "id") if a in item}, sort_keys=True)

    parts = [service, operation, str(params.get("TableName") or params.get("QueueUrl") or "")]
    if "Key" in params or "Item" in params:
        parts.append(key(params))
    if "TransactItems" in params:
        parts += sorted(key(next(iter(e.values()))) for e in params["TransactItems"])
    for table, request in sorted((params.get("RequestItems") or {}).items()):
        if isinstance(request, dict):  # BatchGetItem: {"Keys": [...]}; BatchWriteItem: [{"PutRequest": ...}, ...]
            keys = [key({"Key": k}) for k in request.get("Keys", [])]
        else:
            keys = [key(next(iter(w.values()))) for w in request]
        parts += [table, *sorted(keys)]
    if "KeyConditionExpression" in params:
        parts += [str(params.get("IndexName", "")), params["KeyConditionExpression"]]
        parts.append(json.dumps(params.get("ExpressionAttributeValues", {}), sort_keys=True))
    if "MessageBody" in params:
        parts.append(str(params["MessageBody"]))
    parts += sorted(str(e.get("MessageBody", "")) for e in params.get("Entries", []) if isinstance(e, dict))
    if recipient is not None:
        parts.append("|".join(recipient))
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


def _error(code: str, status: int, message: str = "chaos") -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}


def _recipient(operation: str, params: dict[str, Any]) -> tuple[str, str]:
    """(recipient, subject) of a provider call: SES v1 Destination, SES v2 raw MIME, SNS phone number."""
    import email
    import email.policy

    if operation == "Publish":
        return str(params.get("PhoneNumber") or params.get("TargetArn")), str(params.get("Message", ""))[:60]
    if "Destination" in params:
        return params["Destination"]["ToAddresses"][0], params["Message"]["Subject"]["Data"]
    raw = params.get("Content", {}).get("Raw", {}).get("Data") or params.get("RawMessage", {}).get("Data", b"")
    parsed = email.message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(), policy=email.policy.default)
    return str(parsed["To"]), str(parsed["Subject"])
