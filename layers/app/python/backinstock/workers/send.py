"""The send worker: consumes the send queue with Powertools batch processing and partial batch failures.

Each SQS record is one message (`backinstock.queue`): a record that raises is reported in `batchItemFailures`
and redelivered alone (even when every record of the batch failed); after the queue's maxReceiveCount it lands in
the dead-letter queue (alarmed).

Backpressure is never a failure: when the pace has no token for a send (`sending.Deferred`), the provider
throttles it (`ProviderThrottled`), or the invocation runs short of time, the message's remaining sends are queued
again as a new message with a delay (`defer`: a fresh receive count) and the record succeeds. A batch runs its
records quietest shop first (`fair_order`), so a small shop's message never waits behind a big restock's.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from backinstock import deps, ids, observability
from backinstock.providers import ProviderThrottled
from backinstock.queue import OPTIN_WAIT_SECONDS
from backinstock.services import campaigns, pacing, sending, signups
from backinstock.services.settings import settings_of

logger = observability.root_logger()
metrics = observability.metrics()
# A batch whose every record failed is reported record by record too (not raised): SQS redelivers exactly the same
# way, and the function's Errors metric stays for real faults (poison messages end in the alarmed DLQ).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


# Stop starting sends when the invocation has less than this left: a send cut by the timeout is recorded as sent
# without having been sent (see services/sending.py); the unstarted rest of the message is retried instead.
TIME_RESERVE_MS = 10_000
PAUSED_RECHECK_SECONDS = 60  # a paused campaign's message comes back this much later (SQS allows up to 900)


def handle_message(
    message: dict[str, Any], sender: sending.Sender | None = None, remaining_ms: Callable[[], int] | None = None
) -> Counter[str]:
    """Run one queue message. Raises when any part of it must be retried (parts already done are skipped on the
    retry: sends through their claims, transfers because moved signups left the source variant). `remaining_ms`
    (the Lambda context's) stops it from starting a send that the timeout could cut."""
    kind = message.get("kind")
    outcomes: Counter[str] = Counter()
    if kind == "transfer":
        result = signups.run_transfer_page(deps.waitlist(), message)
        if result["next"]:
            deps.queue().send(result["next"])
        logger.info(
            "transfer page",
            extra={"transfer_id": message["transfer_id"], **{k: result[k] for k in ("moved", "dropped")}},
        )
        outcomes.update(moved=result["moved"], dropped=result["dropped"])
        return outcomes
    s = sender or deps.sender()
    shop = s.shops.get(message["shop_id"])
    if shop is None:
        logger.warning("message for an unknown shop dropped", extra={"shop_id": message["shop_id"]})
        outcomes["dropped"] += 1
        return outcomes
    if kind == "optin":
        item = s.signups.signup(shop.shop_id, message["signup_id"])
        if item is None:
            outcomes[_optin_without_signup(message)] += 1
            return outcomes
        turns = pacing.Turns(s.pace, shop.shop_id, lambda: 1) if s.pace is not None else None
        try:
            outcomes[sending.send_optin(s, shop, item, turn=turns.take if turns else None).status] += 1
        except (sending.Deferred, ProviderThrottled) as exc:
            if turns is not None and isinstance(exc, ProviderThrottled):
                turns.unuse()
            deferrals = int(message.get("deferrals", 0)) + 1
            deps.queue().send({**message, "deferrals": deferrals}, delay_seconds=pacing.defer_seconds(deferrals - 1))
            outcomes["deferred_optin"] += 1
        finally:
            if turns is not None:
                turns.close()
        return outcomes
    if kind != "send":
        raise ValueError(f"unknown message kind {kind!r}")
    if message.get("campaign_id"):  # a restock campaign's sends: the merchant may have paused or cancelled it
        hold = campaigns.hold_of(deps.campaign_records(), shop.shop_id, message["campaign_id"])
        if hold == "paused":  # held: queued again, delayed, without counting towards the dead-letter queue
            deps.queue().send(message, delay_seconds=PAUSED_RECHECK_SECONDS)
        if hold is not None:
            outcomes[f"campaign_{hold}"] += len(message["sends"])
            return outcomes
    settings = settings_of(shop)
    sends: list[dict[str, Any]] = list(message["sends"])
    errors: list[Exception] = []
    batch = sending.prepare(s, shop, sends)  # the sends' claims and signups, and the month's quota
    at = {"index": 0}
    turns = pacing.Turns(s.pace, shop.shop_id, lambda: len(sends) - at["index"]) if s.pace is not None else None
    deferred: tuple[int, str] | None = None  # (first send not done, why)
    try:
        for index, send in enumerate(sends):
            at["index"] = index
            if remaining_ms is not None and remaining_ms() < TIME_RESERVE_MS:
                deferred = (index, "time")
                break
            if turns is not None and turns.waited >= pacing.MAX_HOLD_SECONDS:
                deferred = (index, "hold")  # its turn is over: behind the other shops' messages, not after a delay
                break
            if turns is not None:
                turns.last = None
            try:
                outcome = sending.process_send(s, shop, settings, send, batch=batch, turn=turns.take if turns else None)
            except sending.Deferred:
                deferred = (index, "pace")
                break
            except ProviderThrottled:
                if turns is not None:
                    turns.unuse()  # a throttled attempt is not a send: its token goes back
                deferred = (index, "throttled")
                break
            except Exception as exc:  # one failing send must not stop the others of the message
                if turns is not None and sending.not_sent(exc):
                    turns.unuse()  # its token is the next send's (after the provider accepted, it stays used)
                # The error's kind and code, not its text: a provider's message may quote the recipient's address.
                logger.warning(
                    "send failed; the message will be retried",
                    extra={"send_id": send["send_id"], "signup_id": send.get("signup_id"), "error": error_code(exc)},
                )
                errors.append(exc)
                continue
            outcomes[outcome.status] += 1
            _count_alert(outcome.status, batch.signups.get(send["signup_id"]))
            if send.get("outstanding") and outcome.status != "sent":  # a sent one's claim freed its slot
                signups.send_processed(s.signups, shop.shop_id, send)  # it holds the next notify a little longer
    finally:
        if turns is not None:
            turns.close()
    if errors:  # the whole message comes back (its done sends are skipped through their claims, the lease stays)
        codes = ", ".join(sorted({error_code(e) for e in errors}))
        raise RuntimeError(f"{len(errors)} parts of the message failed ({codes}); retrying the message") from None
    if deferred is not None:
        index, why = deferred
        defer(message, sends[index:], why)
        outcomes[f"deferred_{why}"] += len(sends) - index
        batch.returned += len(sends) - index  # the deferred message reserves its own: this lease gives theirs back
    sending.settle(s, shop, batch)
    return outcomes


def defer(message: dict[str, Any], rest: list[dict[str, Any]], why: str) -> None:
    """Queue the message's remaining sends again, delayed: a new message (its receive count starts again, so
    backpressure never leads to the dead-letter queue). Idempotent: the sends keep their ids, so their claims hold
    if this message and a redelivery of the original both run. Raises when SQS refuses (the record is retried)."""
    later = why in ("pace", "throttled")  # no token or a throttle: after a delay; out of time or turn: at once
    deferrals = int(message.get("deferrals", 0)) + (1 if later else 0)
    delay = pacing.defer_seconds(deferrals - 1) if later else 0
    deps.queue().send({**message, "sends": rest, "deferrals": deferrals}, delay_seconds=delay)
    logger.info("sends deferred", extra={"shop_id": message["shop_id"], "sends": len(rest), "why": why, "delay": delay})


def fair_order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A batch's records, quietest shop first (fewest records in the batch), each shop's in their queue order: the
    one message of a small shop's restock runs before the nine of a big one that came in the same batch."""

    def shop_of(record: dict[str, Any]) -> str:
        try:
            return str(json.loads(record.get("body") or "{}").get("shop_id", ""))
        except ValueError:
            return ""

    shops = [shop_of(r) for r in records]
    counts = Counter(shops)
    order = sorted(range(len(records)), key=lambda i: (counts[shops[i]], i))
    return [records[i] for i in order]


def _optin_without_signup(message: dict[str, Any]) -> str:
    """An opt-in message whose signup does not exist (a strongly consistent read): acknowledged with one log line
    (ids and a reason code, no contact), unless it was queued before its signup's write (the earlier message
    shape, `queued_at`) and is young enough that the write may still land: then it is retried, logged too."""
    ids_only = {"shop_id": message["shop_id"], "signup_id": message["signup_id"]}
    if "committed_at" in message:
        reason = "signup_deleted"  # the stream queued it after the write: the signup was deleted (or erased) since
    else:
        age = _age_seconds(message.get("queued_at"))
        if age < OPTIN_WAIT_SECONDS:
            logger.info(
                "opt-in message retried: its signup is not visible yet",
                extra={**ids_only, "reason": "signup_not_visible", "age_seconds": round(age)},
            )
            raise RuntimeError("the signup of this opt-in message is not visible yet; retrying the message")
        reason = "signup_never_written"  # queued before a write that was refused (409) or failed
    logger.info("opt-in message acknowledged: its signup does not exist", extra={**ids_only, "reason": reason})
    return "skipped"


def _age_seconds(queued_at: str | None) -> float:
    if not queued_at:
        return float("inf")
    return (ids.now() - datetime.fromisoformat(queued_at.replace("Z", "+00:00"))).total_seconds()


def _count_alert(status: str, signup: dict[str, Any] | None) -> None:
    """`AlertsSent_<channel>`, `AlertsBlocked_<channel>` (backinstock.observability): the send's signup's channel."""
    name = {"sent": observability.ALERTS_SENT, "blocked": observability.ALERTS_BLOCKED}.get(status)
    if name is not None:
        observability.count(metrics, observability.per_channel(name, (signup or {}).get("channel")))


def record_handler(record: SQSRecord, lambda_context: Any = None) -> None:
    observability.correlate(logger, record.message_id)
    remaining = lambda_context.get_remaining_time_in_millis if lambda_context is not None else None
    outcomes = handle_message(json.loads(record.body), remaining_ms=remaining)
    for status, count in outcomes.items():
        metrics.add_metric(name=f"Sends_{status}", unit=MetricUnit.Count, value=count)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> Any:
    metrics.add_metric(name="Records", unit=MetricUnit.Count, value=len(event.get("Records", [])))
    event = {**event, "Records": fair_order(list(event.get("Records", [])))}
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


def error_code(exc: BaseException) -> str:
    """What a log line may say of an error: its AWS error code, else its type (never its text)."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code or type(exc).__name__)
