"""Observability in one place: the service name, the metrics namespace, the root loggers and the metrics of the
entry points, their correlation ids, and the business metrics a merchant's operator charts (the stack's dashboard
reads the same names: `stacks/constructs/monitoring.py`).

Every entry point (`api/http.py`, `api/auth.py`, `workers/`) takes its root logger from `root_logger()` and its
metrics from `metrics()`; services and repositories keep `Logger(child=True)`, which joins the root logger through
the service name (`POWERTOOLS_SERVICE_NAME`, set from `SERVICE` by CDK and by the local run). Powertools' metric
instances share one metric set per process, flushed once per invocation by the entry point's `log_metrics`.

Business metrics (EMF, namespace `NAMESPACE`, the one dimension `service`):

- `AlertsSent_<channel>`, `AlertsBlocked_<channel>` (email, sms, push): restock alerts the send worker sent or
  logged blocked (a reason in the send log). The channel is in the name, not a dimension: one flush per invocation
  carries one value per dimension, and one queue message may hold sends of several channels.
- `RestocksStarted_<trigger>` (webhook, manual): restock campaigns, counted by their first batch step.
- `ExportsFinished`, `ExportsFailed`: report export jobs, by the export workflow's task.
- `RollupLagSeconds`: the age of the oldest stream record of a rollup batch when it is applied: how far behind
  the reports are.

Nothing personal goes into a dimension or a metric name: a channel is one of `CHANNELS` (else `other`), a trigger
one of `TRIGGERS`; never a contact, never a shop id (reports are per shop; metrics are the operator's).

No Powertools Tracer: X-Ray comes from Lambda's active tracing (`Tracing.ACTIVE`, every function), which records
each invocation's segment. Tracer imports `aws_xray_sdk` and patches botocore: measured on the send worker's entry
point (5 paired fresh processes), its import took the cold import from a median 444 ms to 691 ms (+201 ms, x1.52),
on every function, for subsegments per AWS call (docs/ARCHITECTURE.md, "Metrics and tracing").
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "backinstock"
NAMESPACE = "BackInStock"

CHANNELS = ("email", "sms", "push")
TRIGGERS = ("webhook", "manual")

ALERTS_SENT = "AlertsSent"
ALERTS_BLOCKED = "AlertsBlocked"
RESTOCKS_STARTED = "RestocksStarted"
EXPORTS_FINISHED = "ExportsFinished"
EXPORTS_FAILED = "ExportsFailed"
ROLLUP_LAG = "RollupLagSeconds"


def per_channel(name: str, channel: object) -> str:
    """`AlertsSent_email`: a channel outside `CHANNELS` is `other` (a metric name never carries free text)."""
    return f"{name}_{channel if channel in CHANNELS else 'other'}"


def per_trigger(name: str, trigger: object) -> str:
    return f"{name}_{trigger if trigger in TRIGGERS else 'other'}"


# Every business metric by name, as the dashboard charts them.
ALERT_METRICS = tuple(per_channel(name, c) for name in (ALERTS_SENT, ALERTS_BLOCKED) for c in CHANNELS)
RESTOCK_METRICS = tuple(per_trigger(RESTOCKS_STARTED, t) for t in TRIGGERS)
EXPORT_METRICS = (EXPORTS_FINISHED, EXPORTS_FAILED)
BUSINESS_METRICS = (*ALERT_METRICS, *RESTOCK_METRICS, *EXPORT_METRICS, ROLLUP_LAG)


def root_logger() -> Logger:
    """An entry point's root logger (one per module: a test may patch one without the others)."""
    return Logger(service=SERVICE)


def metrics() -> Metrics:
    """An entry point's metrics: `@metrics.log_metrics` on its handler flushes them once per invocation."""
    return Metrics(namespace=NAMESPACE, service=SERVICE)


def count(m: Metrics, name: str, value: int = 1) -> None:
    m.add_metric(name=name, unit=MetricUnit.Count, value=value)


def flush(m: Metrics) -> None:
    """Flush the invocation's metrics, if it has any: for entry points whose invocations mostly have nothing to
    count (a campaign step, an export step), where `log_metrics` would warn on every empty one."""
    if m.provider.metric_set:
        m.flush_metrics()


def correlate(logger: Logger, correlation_id: object) -> None:
    """Every later line of this invocation carries `correlation_id` (an id, never a contact): the API's request
    id, a queue message's id, a campaign's or an export job's id."""
    logger.set_correlation_id(str(correlation_id) if correlation_id else None)
