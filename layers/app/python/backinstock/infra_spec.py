"""Shapes of the AWS resources that both the CDK stack and the local backend create from one definition.

The CDK data construct and `backinstock_tools.local.backend` both read these, so the local run's tables are the tables
that production has. See docs/DATA_MODEL.md for the access patterns behind the keys and indexes.
"""

from __future__ import annotations

from dataclasses import dataclass

from backinstock.keys import PK, SK, TTL_ATTRIBUTE


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str
    sort_key: str
    projection: str = "ALL"  # or "KEYS_ONLY": an update that changes no key attribute writes no index entry


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    partition_key: str
    sort_key: str | None
    indexes: tuple[Index, ...]
    ttl_attribute: str | None
    stream: bool


MAIN_TABLE = TableSpec(
    logical_id="MainTable",
    partition_key=PK,
    sort_key=SK,
    indexes=(
        Index("GSI1", "GSI1PK", "GSI1SK"),
        Index("GSI2", "GSI2PK", "GSI2SK"),
        # Signups by variant and by product, keys only: a send's claim (an UpdateItem of the signup) rewrites no
        # index entry (issue 23: 4 write units a send, not 6). Lists filter after their BatchGetItem.
        Index("GSI3", "GSI3PK", "GSI3SK", projection="KEYS_ONLY"),
        Index("GSI4", "GSI4PK", "GSI4SK", projection="KEYS_ONLY"),
    ),
    ttl_attribute=TTL_ATTRIBUTE,
    stream=True,  # NEW_AND_OLD_IMAGES: feeds the report rollups
)

# The main table's indexes before issue 23 (a stack deployed before it has these two). CloudFormation (DynamoDB)
# creates or deletes one global secondary index per table update, so such a stack takes the new ones one deploy at a
# time: `cdk deploy -c upgrade_indexes=1` first (`upgrade_step_indexes`), then a plain deploy (docs/DEPLOY.md,
# "Upgrading a stack deployed before issue 23").
MAIN_TABLE_INDEXES_BEFORE_23 = ("GSI1", "GSI2")


def upgrade_step_indexes(spec: TableSpec, existing: tuple[str, ...]) -> tuple[Index, ...]:
    """The indexes of one upgrade deploy of a table that has the indexes named `existing`: those, and the first of
    the spec's other indexes (one new index per table update). An index the spec no longer has is kept too: this
    step creates, it never deletes."""
    kept = tuple(i for i in spec.indexes if i.name in existing)
    new = [i for i in spec.indexes if i.name not in existing]
    return kept + tuple(new[:1])


# Powertools idempotency records (the `Idempotency-Key` header): its own table, so that a hot key never shares a
# partition with shop data; records expire through `expiration` (Powertools' attribute name).
IDEMPOTENCY_TABLE = TableSpec(
    logical_id="IdempotencyTable",
    partition_key="id",
    sort_key=None,
    indexes=(),
    ttl_attribute="expiration",
    stream=False,
)

# The per-shop rate limiter's buckets (services/ratelimits.py): one small item per shop, updated on every limited
# request; its own table so that those writes never reach the main table's stream. Idle buckets expire.
RATE_LIMIT_TABLE = TableSpec(
    logical_id="RateLimitTable",
    partition_key="id",
    sort_key=None,
    indexes=(),
    ttl_attribute="expires_at",
    stream=False,
)

TABLES = (MAIN_TABLE, IDEMPOTENCY_TABLE, RATE_LIMIT_TABLE)


@dataclass(frozen=True)
class QueueSpec:
    """An SQS queue with its dead-letter queue. The worker's timeout sets the visibility timeout (6x, as AWS
    advises for Lambda event sources) in CDK; the local run uses the same figures."""

    logical_id: str
    worker_timeout_seconds: int
    batch_size: int
    max_receive_count: int
    retention_days: int = 4

    @property
    def visibility_timeout_seconds(self) -> int:
        return 6 * self.worker_timeout_seconds


# Lambda entry points under functions/ that are not API actions: SQS workers (CDK wires their event sources).
WORKER_HANDLERS = ("workers.send_worker", "workers.webhook_worker")

# The send pace's SNS rates (services/pacing.py; SES's is read from the account): the worker's SMS_SEND_RATE and
# PUSH_SEND_RATE. SMS: 20 a second, a careful default for an account's transactional SMS; set it to what your
# account's origination numbers allow. Push: 300 a second to APNs / FCM platform endpoints, far below SNS's own
# Publish quota. Change them here and redeploy (SES needs nothing: its quota is read from the account).
SMS_SEND_RATE = 20
PUSH_SEND_RATE = 300

SEND_QUEUE = QueueSpec(logical_id="SendQueue", worker_timeout_seconds=60, batch_size=10, max_receive_count=5)
# Verified Shopify webhooks: intake answers at once, the webhook worker does the work (restocks, catalog, orders,
# privacy). A poison webhook lands in the DLQ after 5 receives (alarmed).
WEBHOOK_QUEUE = QueueSpec(logical_id="WebhookQueue", worker_timeout_seconds=120, batch_size=10, max_receive_count=5)


@dataclass(frozen=True)
class StateMachineSpec:
    """A Step Functions (Standard) state machine. Its definition is ASL JSON under `backinstock/workflows/`, with
    `${Placeholder}` names for the Lambda functions of its tasks: CDK substitutes the deployed functions' ARNs,
    the local backend ARNs that `backinstock_tools.local.stepfunctions` routes to the same handlers."""

    logical_id: str
    definition_file: str
    tasks: tuple[tuple[str, str], ...]  # (placeholder, handler module under functions/)
    env_var: str  # the variable that carries the state machine's ARN to the functions that start executions

    def definition(self) -> str:
        from pathlib import Path

        return (Path(__file__).parent / "workflows" / self.definition_file).read_text()


def task_function_name(handler_module: str) -> str:
    """The local name of a task's Lambda function: `workflows.campaign_step` -> `workflows-campaign_step`."""
    return handler_module.replace(".", "-")


# A restock campaign: batches of sends with Wait states between them (backinstock/services/campaigns.py).
CAMPAIGN_WORKFLOW = StateMachineSpec(
    logical_id="CampaignWorkflow",
    definition_file="campaign.asl.json",
    tasks=(("CampaignStepFunctionArn", "workflows.campaign_step"),),
    env_var="CAMPAIGN_STATE_MACHINE_ARN",
)

# A CSV export: the task streams a report or the waitlist into S3, looping while the file is long; a Catch records
# the failure and aborts the partial upload (backinstock/services/exports.py).
EXPORT_WORKFLOW = StateMachineSpec(
    logical_id="ExportWorkflow",
    definition_file="export.asl.json",
    tasks=(("ExportStepFunctionArn", "workflows.export_step"),),
    env_var="EXPORT_STATE_MACHINE_ARN",
)

STATE_MACHINES = (CAMPAIGN_WORKFLOW, EXPORT_WORKFLOW)


@dataclass(frozen=True)
class StreamConsumerSpec:
    """A Lambda consuming the main table's stream: batches with partial failures, bisected on error, retried a
    bounded number of times, then described on an on-failure queue. Only records of `entities` are delivered (the
    event source's filter; the handler ignores any other too)."""

    handler: str
    batch_size: int
    max_batching_window_seconds: int
    retry_attempts: int
    max_record_age_hours: int
    timeout_seconds: int
    entities: tuple[str, ...]
    parallelization_factor: int = 1


# The report rollups (backinstock/workers/rollups.py). The aggregator writes each counter item once per batch
# (repositories/rollups/), so a bigger batch costs fewer writes per record: up to 1,000 records, gathered for up
# to 5 s (a restock's burst fills a batch well before; a quiet shop's reports lag at most the window). A shard's
# batches run 4 at a time (parallelization factor): Lambda keeps each partition key's records in order on one of
# them, which is what the per-source-partition mark needs, and different shops' partitions no longer wait for
# each other. 120 s: a batch of 1,000 records of many shops is a few transactions per shop.
ROLLUP_CONSUMER = StreamConsumerSpec(
    handler="workers.rollup_aggregator",
    batch_size=1000,
    max_batching_window_seconds=5,
    retry_attempts=10,
    max_record_age_hours=24,
    timeout_seconds=120,
    # The ledger's orders ("preorder") and the per-customer rows the aggregator itself writes ("rollup_customer":
    # their creation counts distinct customers).
    entities=("signup", "notification", "attribution", "preorder", "rollup_customer"),
    parallelization_factor=4,
)
STREAM_CONSUMERS = (ROLLUP_CONSUMER,)

# Export files: private, encrypted, TLS only; objects deleted by a lifecycle rule (download URLs are short-lived).
EXPORT_FILE_RETENTION_DAYS = 7  # and a download link lives as long (services/downloads.py)
EXPORT_JOB_RETENTION_HOURS = 24  # an export job's row, after completion (then DynamoDB's TTL deletes it)
DOWNLOAD_REDIRECT_SECONDS = 300  # the pre-signed S3 URL a download link redirects to


def task_handlers() -> tuple[str, ...]:
    """Every workflow task's handler module under functions/."""
    return tuple(module for spec in STATE_MACHINES for _, module in spec.tasks)


@dataclass(frozen=True)
class ScheduleSpec:
    """A function run on schedules (EventBridge rules in AWS): each rule passes `{"period": <name>}`."""

    handler: str  # module under functions/
    rules: tuple[tuple[str, str], ...]  # (period, EventBridge schedule expression, UTC)


# Merchants' summary emails (alerts.scheduled_reports): after each day, ISO week (Monday) and month, at 07:00 UTC.
SCHEDULED_REPORTS = ScheduleSpec(
    handler="workers.scheduled_reports",
    rules=(("daily", "cron(0 7 * * ? *)"), ("weekly", "cron(0 7 ? * MON *)"), ("monthly", "cron(0 7 1 * ? *)")),
)
SCHEDULES = (SCHEDULED_REPORTS,)

# The HMAC key of opt-in and unsubscribe links (Secrets Manager; generated by the stack, by the local backend).
LINK_SECRET_NAME = "backinstock/link-signing-key"  # noqa: S105 (a name, not a secret)

# Authorizer results are cached by API Gateway per token for this long: a rotated key stops working in AWS
# within this many seconds (immediately in the local run, which does not cache).
AUTHORIZER_CACHE_SECONDS = 60

# The one 401 message: the authorizer's, and API Gateway's own when the identity header is missing.
GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit (the functions' own is lower)
GATEWAY_TOO_LARGE_MESSAGE = f"request body exceeds {GATEWAY_MAX_BODY_BYTES} bytes (10 MB), API Gateway's limit"
UNAUTHORIZED_MESSAGE = (
    "Missing, invalid or revoked API key: send the shop's key in the X-Auth-Token header "
    "(for MCP: Authorization: Bearer <key>)"
)

# Security headers, one definition for the functions' responses (`api.http`), API Gateway's own responses
# (`stacks/constructs/api.py`) and the local server. Every response: no MIME sniffing. JSON (every API answer, every
# error): never cached. The customer link pages (HTML whose URLs carry tokens): nothing loads, nothing frames them,
# no Referer leaves them, the form posts only to the page's own origin.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff"}
JSON_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
HTML_HEADERS = {
    **SECURITY_HEADERS,
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def security_headers(content_type: str | None) -> dict[str, str]:
    """The headers a response of this content type carries (None: a response without a body)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "text/html":
        return dict(HTML_HEADERS)
    if kind == "application/json" or kind.endswith("+json"):
        return dict(JSON_HEADERS)
    return dict(SECURITY_HEADERS)
