"""The send worker: consumes the send queue with Powertools batch processing and partial batch failures.

Each SQS record is one message (`backinstock.queue`): a record that raises is reported in `batchItemFailures`
and redelivered alone (even when every record of the batch failed); after the queue's maxReceiveCount it lands in
the dead-letter queue (alarmed).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from backinstock import deps, ids
from backinstock.queue import OPTIN_WAIT_SECONDS
from backinstock.services import campaigns, sending, signups
from backinstock.services.settings import settings_of

logger = Logger()
metrics = Metrics(namespace="BackInStock")
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
        outcomes[sending.send_optin(s, shop, item).status] += 1
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
    errors: list[Exception] = []
    for index, send in enumerate(message["sends"]):
        if remaining_ms is not None and remaining_ms() < TIME_RESERVE_MS:
            left = len(message["sends"]) - index
            errors.append(TimeoutError(f"{left} sends not started: the invocation is running out of time"))
            break
        try:
            outcome = sending.process_send(s, shop, settings, send)
        except Exception as exc:  # one failing send must not stop the others of the message
            # The error's kind and code, not its text: a provider's message may quote the recipient's address.
            logger.warning(
                "send failed; the message will be retried",
                extra={"send_id": send["send_id"], "signup_id": send.get("signup_id"), "error": error_code(exc)},
            )
            errors.append(exc)
            continue
        outcomes[outcome.status] += 1
        if send.get("outstanding"):  # a notify's send, processed: it holds the next notify only a little longer
            signups.send_processed(s.signups, shop.shop_id, send)
    if errors:
        codes = ", ".join(sorted({error_code(e) for e in errors}))
        raise RuntimeError(f"{len(errors)} parts of the message failed ({codes}); retrying the message") from None
    return outcomes


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


def record_handler(record: SQSRecord, lambda_context: Any = None) -> None:
    remaining = lambda_context.get_remaining_time_in_millis if lambda_context is not None else None
    outcomes = handle_message(json.loads(record.body), remaining_ms=remaining)
    for status, count in outcomes.items():
        metrics.add_metric(name=f"Sends_{status}", unit=MetricUnit.Count, value=count)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> Any:
    metrics.add_metric(name="Records", unit=MetricUnit.Count, value=len(event.get("Records", [])))
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


def error_code(exc: BaseException) -> str:
    """What a log line may say of an error: its AWS error code, else its type (never its text)."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code or type(exc).__name__)
