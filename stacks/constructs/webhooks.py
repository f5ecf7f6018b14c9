"""Webhooks: the webhook queue and its dead-letter queue, and the webhook worker.

The public intake action (`receive_shopify_webhook`, an API route) verifies a Shopify webhook and enqueues it
(`Access.WEBHOOK_QUEUE`); the worker consumes the queue in batches with partial batch failures: catalog updates,
restock detection (which starts restock campaigns: the campaign state machine), order attribution, and the privacy
topics (data requests and merchant alerts mail the merchant; `shop/redact` deletes the shop's Shopify secret).

Built in two steps, like `Sending`: the queues exist before the API (the intake function is granted on them), the
worker after the workflows (`add_worker`, given the campaign state machine, whose ARN it starts executions of).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from backinstock import config, infra_spec
from backinstock.infra_spec import CAMPAIGN_WORKFLOW, WEBHOOK_QUEUE, QueueSpec
from backinstock.registry import Access
from stacks.constructs.functions import SHOP_SECRETS_FINDING, SHOP_SECRETS_REASON, FunctionFactory, shop_secrets_arn
from stacks.constructs.queues import queue_with_dead_letters
from stacks.constructs.sending import acknowledge_ses_identities, ses_send_email_statement
from stacks.nag import acknowledge

WEBHOOK_WORKER_HANDLER = "workers.webhook_worker"  # functions/workers/webhook_worker.py, `handler`
WEBHOOK_WORKER_NAME = "webhook_worker"
# Parallel worker invocations the queue may start: bounds the table writes and campaign starts a burst of webhooks
# (a bulk inventory import) can cause, and the share of the account's Lambda concurrency taken from the API.
WEBHOOK_WORKER_MAX_CONCURRENCY = 5

# Main table read/write (catalog, restocks, attribution, privacy purges), the send queue (campaign and privacy
# mail go through the send worker), shops' Shopify secrets (Admin API token for order tags). Its other calls are
# the statements of `_statements`.
WEBHOOK_WORKER_ACCESS = frozenset({Access.TABLE_READ, Access.TABLE_WRITE, Access.SEND_QUEUE, Access.SHOP_SECRETS})

if WEBHOOK_WORKER_HANDLER not in infra_spec.WORKER_HANDLERS:
    raise RuntimeError(f"{WEBHOOK_WORKER_HANDLER} is not in infra_spec.WORKER_HANDLERS")


class Webhooks(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, spec: QueueSpec = WEBHOOK_QUEUE) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.queue, self.dead_letter_queue = queue_with_dead_letters(self, spec, purpose="the webhook queue")
        self._worker: lambda_.Function | None = None

    @property
    def worker(self) -> lambda_.Function:
        if self._worker is None:
            raise RuntimeError("Webhooks.add_worker has not been called")
        return self._worker

    def add_worker(
        self, *, functions: FunctionFactory, campaign_state_machine: sfn.IStateMachine, sender_email: str
    ) -> lambda_.Function:
        """The webhook worker: an SQS event source on the webhook queue, partial batch failures, least privilege."""
        if self._worker is not None:
            raise RuntimeError("the webhook worker exists already")
        spec = self.spec
        environment = {
            "SENDER_EMAIL": sender_email,
            CAMPAIGN_WORKFLOW.env_var: campaign_state_machine.state_machine_arn,
        }
        # A renamed variable on either side fails the synth, not the worker's cold start.
        unread = set(environment) - set(config.WebhookWorkerEnv.model_fields)
        if unread:
            raise RuntimeError(f"config.WebhookWorkerEnv does not read {sorted(unread)}")
        worker = functions.function(
            self,
            "WebhookWorker",
            handler=WEBHOOK_WORKER_HANDLER,
            access=WEBHOOK_WORKER_ACCESS,
            description="Webhook worker: Shopify webhooks -> catalog, restock campaigns, attribution, privacy",
            role_description=f"backinstock {WEBHOOK_WORKER_HANDLER}: least privilege for the webhook worker",
            timeout=Duration.seconds(spec.worker_timeout_seconds),
            environment=environment,
            statements=_statements(self, campaign_state_machine, sender_email),
        )
        worker.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=spec.batch_size,
                report_batch_item_failures=True,
                max_concurrency=WEBHOOK_WORKER_MAX_CONCURRENCY,
            )
        )
        assert worker.role is not None
        acknowledge_ses_identities(worker.role)
        # Same finding as its GetSecretValue grant (acknowledged there): DeleteSecret reaches the same secrets.
        acknowledge(worker.role, SHOP_SECRETS_FINDING, SHOP_SECRETS_REASON)
        self._worker = worker
        return worker


def _statements(
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
