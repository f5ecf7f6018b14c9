"""The rollup aggregator: consumes the main table's DynamoDB stream and keeps the report rollups. It is also the
outbox of the double opt-in confirmation: a committed signup that needs confirming gets its send queue message here
(`services.optin`), so a request the table refused leaves no work behind.

Powertools batch processing with partial failures: a record that raises is reported in `batchItemFailures`; Lambda
retries from the first failed record (records after it too: each applies at most once, see
`repositories.rollups`), bisecting the batch, up to the event source's retry limit, then sends the batch's
description to the on-failure queue (alarmed). Records of items that are no signup, notification, attribution,
preorder ledger order or preorder customer row (other rollups, shops, claims) change nothing; in AWS the event
source's filter does not even deliver them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from backinstock import deps, ids
from backinstock.repositories.base import from_item
from backinstock.services import optin
from backinstock.services.rollups import change_of, pending_changes

logger = Logger()
metrics = Metrics(namespace="BackInStock")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


def apply_record(record: dict[str, Any]) -> str:
    """One stream record (the raw event's shape) applied to the rollups: `applied`, `replayed` or `ignored`. A new
    signup that requires double opt-in first queues its confirmation (again on a retried record: the worker sends
    it once)."""
    body = record.get("dynamodb") or {}
    old = from_item(body["OldImage"]) if body.get("OldImage") else None
    new = from_item(body["NewImage"]) if body.get("NewImage") else None
    confirmation = optin.confirmation_message(old, new)
    if confirmation is not None:
        deps.queue().send(confirmation)
    change = change_of(old, new)
    if change is None:
        return "ignored"
    outcome = deps.rollups().apply(change, record["eventID"], ids.now())
    if outcome == "applied":
        for variant_id, delta in pending_changes(change):
            after = deps.rollups().total(change.shop_id, f"v:{variant_id}", "pending")
            _pending_moved(change.shop_id, variant_id, after - delta, after)
    return outcome


def _pending_moved(shop_id: str, variant_id: int, before: int, after: int) -> None:
    """A variant's waitlist count moved: the merchant's signups-threshold alert decides (once per crossing)."""
    from backinstock.services import alerts

    shop = deps.shops().get(shop_id, consistent=False)
    if shop is None:
        return
    outcome = alerts.on_pending_count(deps.alerts(), shop, variant_id, before, after)
    if outcome:
        logger.info("signups threshold", extra={"variant_id": variant_id, "outcome": outcome, "pending": after})


def run_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()

    def on_record(record: DynamoDBRecord) -> None:
        outcomes[apply_record(record.raw_event)] += 1

    response: dict[str, Any] = dict(
        process_partial_response(event=event, record_handler=on_record, processor=processor, context=context)
    )
    for outcome, count in outcomes.items():
        metrics.add_metric(name=f"Rollup_{outcome}", unit=MetricUnit.Count, value=count)
    logger.info("stream batch", extra={"records": len(event.get("Records", [])), **outcomes})
    return response


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_batch(event, context)
