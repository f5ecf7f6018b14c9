"""Webhooks: the webhook worker's `WorkerSpec` (the webhook queue and its dead-letter queue, the worker: a
`QueueWorker`) and the statements no access kind covers.

The public intake action (`receive_shopify_webhook`, an API route) verifies a Shopify webhook and enqueues it
(`Access.WEBHOOK_QUEUE`); the worker consumes the queue in batches with partial batch failures: catalog updates,
restock detection (which starts restock campaigns: the campaign state machine), order attribution, and the privacy
topics (data requests and merchant alerts mail the merchant; `shop/redact` deletes the shop's Shopify secret). The
worker is added after the workflows (`webhook_worker_environment`, given the campaign state machine).
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from backinstock import config
from backinstock.infra_spec import CAMPAIGN_WORKFLOW, WEBHOOK_QUEUE
from backinstock.registry import Access
from stacks.constructs.functions import SHOP_SECRETS_FINDING, SHOP_SECRETS_REASON, shop_secrets_arn
from stacks.constructs.queue_workers import WorkerSpec
from stacks.constructs.sending import SES_IDENTITIES_FINDING, SES_IDENTITIES_REASON, ses_send_email_statement

# Parallel worker invocations the queue may start: bounds the table writes and campaign starts a burst of webhooks
# (a bulk inventory import) can cause, and the share of the account's Lambda concurrency taken from the API.
WEBHOOK_WORKER_MAX_CONCURRENCY = 5

# Main table read/write (catalog, restocks, attribution, privacy purges), the send queue (campaign and privacy
# mail go through the send worker), shops' Shopify secrets (Admin API token for order tags). Its other calls are
# the statements of `webhook_worker_statements`.
WEBHOOK_WORKER = WorkerSpec(
    name="webhook_worker",
    construct_id="WebhookWorker",
    handler="workers.webhook_worker",  # functions/workers/webhook_worker.py, `handler`
    queue=WEBHOOK_QUEUE,
    access=frozenset({Access.TABLE_READ, Access.TABLE_WRITE, Access.SEND_QUEUE, Access.SHOP_SECRETS}),
    max_concurrency=WEBHOOK_WORKER_MAX_CONCURRENCY,
    purpose="the webhook queue",
    description="Webhook worker: Shopify webhooks -> catalog, restock campaigns, attribution, privacy",
    environment_model=config.WebhookWorkerEnv,
    role_findings=(
        (SES_IDENTITIES_FINDING, SES_IDENTITIES_REASON),
        # Same finding as its GetSecretValue grant (acknowledged there): DeleteSecret reaches the same secrets.
        (SHOP_SECRETS_FINDING, SHOP_SECRETS_REASON),
    ),
)
WEBHOOK_WORKER_HANDLER = WEBHOOK_WORKER.handler
WEBHOOK_WORKER_NAME = WEBHOOK_WORKER.name


def webhook_worker_environment(*, campaign_state_machine: sfn.IStateMachine, sender_email: str) -> dict[str, str]:
    """What the webhook worker reads besides its grants' variables (`config.WebhookWorkerEnv`)."""
    return {"SENDER_EMAIL": sender_email, CAMPAIGN_WORKFLOW.env_var: campaign_state_machine.state_machine_arn}


def webhook_worker_statements(
    scope: Construct, campaign_state_machine: sfn.IStateMachine, sender_email: str
) -> list[iam.PolicyStatement]:
    return [
        # A restock starts a campaign: an execution of the campaign state machine, and of no other.
        iam.PolicyStatement(actions=["states:StartExecution"], resources=[campaign_state_machine.state_machine_arn]),
        # shop/redact purges the shop, its Shopify secret included (deleted without a recovery window).
        iam.PolicyStatement(actions=["secretsmanager:DeleteSecret"], resources=[shop_secrets_arn(scope)]),
        # Data requests and merchant alerts mail the merchant, from the configured sender only.
        ses_send_email_statement(scope, sender_email),
    ]
