"""The rollup aggregator: consumes the main table's DynamoDB stream and keeps the report rollups. It is also the
outbox of the double opt-in confirmation: a committed signup that needs confirming gets its send queue message here
(`services.optin`), so a request the table refused leaves no work behind.

A batch is applied as a whole (`repositories.rollups`, "Exactly once, per batch"): each record's change
(`services.rollups.change_of`, the counting rules) is collected by `apply_record`, then a shop's records of every
source partition are summed and written once, with each partition's high-water mark, in as few transactions as fit.

Partial batch failures: a record that raises while it is read (its change, its opt-in message) stops the batch
there; the records before it are applied (the marks say so) and it is reported in `batchItemFailures`, so Lambda
retries from it (bisecting on error, up to the event source's retry limit, then the on-failure queue, alarmed).
A failed transaction reports the first record it did not apply; records after it that other partitions applied are
replays on the retry. Records of items that are no signup, notification, attribution, preorder ledger order or
preorder customer row change nothing; in AWS the event source's filter does not even deliver them.

Not Powertools' `BatchProcessor`: it hands records to a handler one at a time and reports each one's failure, while
this consumer sums the whole batch before it writes and must report the first record a failed transaction left out.
"""

from __future__ import annotations

from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from backinstock import deps, ids, observability
from backinstock.models.rollups import Change
from backinstock.repositories.base import from_item
from backinstock.repositories.rollups import ApplyFailed, Record
from backinstock.services import optin
from backinstock.services.rollups import change_of, pending_changes

logger = observability.root_logger()
metrics = observability.metrics()


@dataclass
class _Batch:
    """The records read so far, in stream order: (position, shop, source partition, record)."""

    records: list[tuple[int, str, str, Record]] = field(default_factory=list)
    position: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


_batch: ContextVar[_Batch | None] = ContextVar("rollup_batch", default=None)


def apply_record(record: dict[str, Any]) -> str:
    """One stream record (the raw event's shape). Inside `run_batch` it is read and collected (`batched`); alone it
    is applied as a batch of one: `applied`, `replayed` or `ignored`. A new signup that requires double opt-in
    first queues its confirmation (again on a retried record: the worker sends it once)."""
    body = record.get("dynamodb") or {}
    old = from_item(body["OldImage"]) if body.get("OldImage") else None
    new = from_item(body["NewImage"]) if body.get("NewImage") else None
    confirmation = optin.confirmation_message(old, new)
    if confirmation is not None:
        deps.queue().send(confirmation)
    change = change_of(old, new)
    batch = _batch.get()
    if batch is None:
        single = _Batch()
        _collect(single, body, change)
        if _write(single) is not None:
            raise RuntimeError(f"the rollups of stream record {record.get('eventID')} were not applied")
        return next((k for k, n in single.outcomes.items() if n and k != "transactions"), "replayed")
    _collect(batch, body, change)
    return "batched"


def _collect(batch: _Batch, body: dict[str, Any], change: Change | None) -> None:
    position = batch.position
    batch.position += 1
    if change is None:
        batch.outcomes["ignored"] += 1
        return
    image = body.get("NewImage") or body.get("OldImage") or {}
    source = str(((body.get("Keys") or image).get("PK") or {}).get("S"))
    batch.records.append((position, change.shop_id, source, Record(int(body["SequenceNumber"]), change)))


def _write(batch: _Batch) -> int | None:
    """Apply the collected records, one shop at a time: its records of every source partition summed together
    (`apply_sources`: each counter item written once a transaction, each source's mark moved in it). Returns the
    position of the first record not applied (None: all of them)."""
    shops: dict[str, dict[str, list[tuple[int, Record]]]] = {}
    for position, shop_id, source, record in batch.records:
        shops.setdefault(shop_id, {}).setdefault(source, []).append((position, record))
    first_failed: int | None = None
    now = ids.now()
    for shop_id, sources in shops.items():
        try:
            result = deps.rollups().apply_sources(
                shop_id,
                {source: [r for _, r in members] for source, members in sources.items()},
                now,
                committed=partial(_alert, shop_id),
            )
        except ApplyFailed as exc:
            logger.exception("rollup transaction failed", extra={"sources": len(sources)})
            position = min(p for members in sources.values() for p, r in members if r.seq in exc.seqs)
            first_failed = position if first_failed is None else min(first_failed, position)
            batch.outcomes["failed"] += 1
            continue
        batch.outcomes["applied"] += result.applied
        batch.outcomes["replayed"] += result.replayed
        batch.outcomes["transactions"] += result.transactions
    return first_failed


def _alert(shop_id: str, changes: list[Change]) -> None:
    """A transaction moved waitlist counts. The count after it is read once per variant; walking back through its
    records' deltas gives each record's before/after, so that the merchant's signups-threshold alert decides as if
    the records had been applied one by one (once per crossing, with the count at the crossing)."""
    steps: dict[int, list[int]] = {}
    for change in changes:
        for variant_id, delta in pending_changes(change):
            steps.setdefault(variant_id, []).append(delta)
    moved = {variant_id: deltas for variant_id, deltas in steps.items() if sum(deltas) or len(deltas) > 1}
    if not moved:
        return
    from backinstock.services import merchant_alerts

    shop = deps.shops().get(shop_id, consistent=False)
    if shop is None:
        return
    for variant_id, deltas in moved.items():
        count = deps.rollups().total(shop_id, f"v:{variant_id}", "pending") - sum(deltas)
        for delta in deltas:
            outcome = merchant_alerts.on_pending_count(deps.merchant_alerts(), shop, variant_id, count, count + delta)
            count += delta
            if outcome:
                logger.info("signups threshold", extra={"variant_id": variant_id, "outcome": outcome, "pending": count})


def run_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A Lambda stream event: every record read (`apply_record`), then written per source partition. The answer
    names the first record not applied (`batchItemFailures`), if any."""
    records = event.get("Records", [])
    batch = _Batch()
    token = _batch.set(batch)
    failed: int | None = None
    try:
        for position, record in enumerate(records):
            try:
                apply_record(record)
            except Exception:
                logger.exception("stream record failed", extra={"event_id": record.get("eventID")})
                failed = position
                break
    finally:
        _batch.reset(token)
    written = _write(batch)
    if written is not None:
        failed = written if failed is None else min(failed, written)
    for outcome, count in batch.outcomes.items():
        metrics.add_metric(name=f"Rollup_{outcome}", unit=MetricUnit.Count, value=count)
    lag = lag_seconds(records, ids.now().timestamp())
    if lag is not None:
        metrics.add_metric(name=observability.ROLLUP_LAG, unit=MetricUnit.Seconds, value=lag)
    logger.info("stream batch", extra={"records": len(records), **batch.outcomes})
    if failed is None:
        return {"batchItemFailures": []}
    return {"batchItemFailures": [{"itemIdentifier": records[failed]["dynamodb"]["SequenceNumber"]}]}


def lag_seconds(records: list[dict[str, Any]], now: float) -> float | None:
    """How far behind the reports are: the age of the batch's oldest record (its `ApproximateCreationDateTime`:
    epoch seconds in Lambda's event, a datetime from boto3 in the local run), when the batch is applied. None when
    no record says."""
    created = [t for t in (_created(r) for r in records) if t is not None]
    return max(0.0, round(now - min(created), 3)) if created else None


def _created(record: dict[str, Any]) -> float | None:
    value = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_batch(event, context)
