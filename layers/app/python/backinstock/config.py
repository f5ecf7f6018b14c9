"""Environment of a function, one pydantic model per need, validated once per container (cold start).

CDK sets exactly the variables an action's `Access` needs (see `stacks/constructs/api.py`); the local server
sets the same names. A missing or malformed variable fails the cold start with a message naming it.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from backinstock import infra_spec, observability

E = TypeVar("E", bound=BaseModel)

DEFAULT_TABLE_NAME = "backinstock"


class BaseEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    POWERTOOLS_SERVICE_NAME: str = observability.SERVICE
    POWERTOOLS_METRICS_NAMESPACE: str = observability.NAMESPACE
    LOG_LEVEL: str = "INFO"


class TableEnv(BaseEnv):
    TABLE_NAME: str = Field(min_length=3, max_length=255)


@cache
def load(model: type[E]) -> E:
    return model.model_validate(dict(os.environ))


def table_name() -> str:
    return load(TableEnv).TABLE_NAME


class QueueEnv(BaseEnv):
    SEND_QUEUE_URL: str = Field(min_length=8)


class IdempotencyEnv(BaseEnv):
    IDEMPOTENCY_TABLE_NAME: str = Field(min_length=3, max_length=255)


class RateLimitEnv(BaseEnv):
    """Every function of a route limited per shop (an API key or Bearer route): the limiter's table."""

    RATE_LIMIT_TABLE_NAME: str = Field(min_length=3, max_length=255)


class LinkEnv(BaseEnv):
    LINK_SECRET_ARN: str = Field(min_length=3)


class WorkerEnv(TableEnv, QueueEnv, LinkEnv, RateLimitEnv):
    """The send worker: sends mail from SENDER_EMAIL and links customers to PUBLIC_BASE_URL (the API's base URL).
    Its pace (services/pacing.py) keeps its budget items in the limiter's table; SMS_SEND_RATE and PUSH_SEND_RATE
    are the SNS rates it keeps to (SES's is read from the account)."""

    SENDER_EMAIL: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    PUBLIC_BASE_URL: str = Field(pattern=r"^https?://")
    SMS_SEND_RATE: float = Field(default=infra_spec.SMS_SEND_RATE, gt=0, le=100_000)
    PUSH_SEND_RATE: float = Field(default=infra_spec.PUSH_SEND_RATE, gt=0, le=100_000)


class WebhookQueueEnv(BaseEnv):
    WEBHOOK_QUEUE_URL: str = Field(min_length=8)


def webhook_queue_url() -> str:
    return load(WebhookQueueEnv).WEBHOOK_QUEUE_URL


class CampaignRunEnv(TableEnv):
    """Functions that start restock campaigns (the webhook worker, the restock actions) or run their batches (the
    workflow task). CAMPAIGN_SECONDS_PER_HOUR: how long a `wait_hours` hour lasts; 3600 in AWS, shorter in the local
    run. The send queue's URL is read only where something is queued (`queue.Queue`)."""

    CAMPAIGN_STATE_MACHINE_ARN: str = Field(default="", description="needed to start a campaign")
    CAMPAIGN_SECONDS_PER_HOUR: int = Field(default=3600, ge=0, le=3600)


class CampaignEnv(CampaignRunEnv, QueueEnv):
    """The campaign functions that queue sends (the workflow task) or start campaigns (the webhook worker)."""


class MailEnv(TableEnv):
    """Functions that email merchants (alerts, scheduled reports, data requests) from SENDER_EMAIL."""

    SENDER_EMAIL: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class WebhookWorkerEnv(CampaignEnv, MailEnv):
    pass


def queue_url() -> str:
    return load(QueueEnv).SEND_QUEUE_URL


def idempotency_table() -> str:
    return load(IdempotencyEnv).IDEMPOTENCY_TABLE_NAME


def link_secret_arn() -> str:
    return load(LinkEnv).LINK_SECRET_ARN


class ExportRunEnv(BaseEnv):
    """Functions that start or stop export workflows (and abort their partial uploads)."""

    EXPORT_STATE_MACHINE_ARN: str = Field(min_length=20)
    EXPORT_BUCKET_NAME: str = Field(min_length=3, max_length=63)


class ExportReadEnv(BaseEnv):
    """Functions that sign download URLs of export files."""

    EXPORT_BUCKET_NAME: str = Field(min_length=3, max_length=63)


def export_bucket() -> str:
    return load(ExportReadEnv).EXPORT_BUCKET_NAME


def export_state_machine() -> str:
    return load(ExportRunEnv).EXPORT_STATE_MACHINE_ARN


class AggregatorEnv(MailEnv, QueueEnv):
    """The rollup aggregator: it also mails the merchant's signups-threshold alert from SENDER_EMAIL, and queues the
    double opt-in confirmation of new signups on the send queue (the stream is its outbox)."""
