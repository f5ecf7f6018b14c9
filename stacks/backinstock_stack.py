"""The main stack: one construct per concern, composed here and nowhere else.

It holds everything shared (tables, queues, secrets, bucket, layers, workflows, workers, the REST API with every
route, monitoring) and one nested stack per registry resource with that resource's action functions
(`stacks.action_stacks`): the part that grows with the registry stays out of the main stack's 500 resources.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from backinstock.infra_spec import CAMPAIGN_WORKFLOW, EXPORT_WORKFLOW
from backinstock.registry import BASE_PATH
from stacks.action_stacks import ActionStacks
from stacks.constructs.api import Api
from stacks.constructs.data import Data
from stacks.constructs.functions import AccessTargets, FunctionFactory
from stacks.constructs.layers import Layers
from stacks.constructs.monitoring import (
    SEND_QUEUE_AGE_THRESHOLD_SECONDS,
    WEBHOOK_QUEUE_AGE_THRESHOLD_SECONDS,
    Monitoring,
    WatchedQueue,
)
from stacks.constructs.queue_workers import QueueWorker
from stacks.constructs.reports import Exports, Rollups
from stacks.constructs.schedules import Schedules
from stacks.constructs.sending import SEND_WORKER, link_secret, provider_statements, send_worker_environment
from stacks.constructs.webhooks import WEBHOOK_WORKER, webhook_worker_environment, webhook_worker_statements
from stacks.constructs.workflows import Workflows

DEFAULT_SENDER_EMAIL = "alerts@example.com"


class BackInStockStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        log_level: str = "INFO",
        alarm_email: str | None = None,
        sender_email: str = DEFAULT_SENDER_EMAIL,
        upgrade_indexes: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.data = Data(self, "Data", upgrade_indexes=upgrade_indexes)
        self.layers = Layers(self, "Layers")
        # The queues and the link secret come first: API functions are granted on them (the send queue, the webhook
        # queue for the public webhook intake, the link secret).
        # (Construct IDs `Sending` and `Webhooks`: the workers' logical IDs follow from them.)
        self.sending = QueueWorker(self, "Sending", spec=SEND_WORKER)
        self.link_secret = link_secret(self.sending)
        self.webhooks = QueueWorker(self, "Webhooks", spec=WEBHOOK_WORKER)
        # The export bucket too: export actions and the export workflow's task are granted on it.
        self.exports = Exports(self, "Exports")
        functions = FunctionFactory(
            stack=self,
            layers=self.layers,
            targets=AccessTargets(
                table=self.data.table,
                index_names=tuple(self.data.index_names()),
                idempotency_table=self.data.idempotency_table,
                rate_limit_table=self.data.rate_limit_table,
                send_queue=self.sending.queue,
                webhook_queue=self.webhooks.queue,
                link_secret=self.link_secret,
                export_bucket=self.exports.bucket,
            ),
            log_level=log_level,
        )
        # The workflows' task functions reference nothing built after them; the webhook worker starts campaigns, so
        # it needs the campaign state machine's ARN and comes after.
        self.workflows = Workflows(self, "Workflows", functions=functions, task_settings=self.exports.task_settings())
        functions.targets.state_machines.update(self.workflows.state_machines)  # the export actions start one
        self.exports.acknowledge_task(self.workflows.task_functions[EXPORT_WORKFLOW.tasks[0][1]])
        campaign_state_machine = self.workflows.state_machines[CAMPAIGN_WORKFLOW.logical_id]
        # The action functions, in one nested stack per registry resource; the API places their routes.
        self.actions = ActionStacks(self, "Actions", functions=functions)
        self.api = Api(
            self, "Api", functions=functions, action_functions=self.actions.functions, route_stacks=self.actions.stacks
        )
        self.rollups = Rollups(self, "Rollups", functions=functions, table=self.data.table, sender_email=sender_email)
        base_url = self.api.rest_api.url_for_path(BASE_PATH)
        # The worker puts links to the API (opt-in, unsubscribe) in customers' messages: it comes after the API.
        self.sending.add_worker(
            functions=functions,
            environment=send_worker_environment(public_base_url=base_url, sender_email=sender_email),
            statements=provider_statements(self.sending, sender_email),
        )
        self.webhooks.add_worker(
            functions=functions,
            environment=webhook_worker_environment(
                campaign_state_machine=campaign_state_machine, sender_email=sender_email
            ),
            statements=webhook_worker_statements(self.webhooks, campaign_state_machine, sender_email),
        )
        self.schedules = Schedules(self, "Schedules", functions=functions, sender_email=sender_email)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            rest_api=self.api.rest_api,
            functions=self.api.functions,
            authorizer=self.api.authorizer_function,
            table=self.data.table,
            workers={
                SEND_WORKER.name: self.sending.worker,
                WEBHOOK_WORKER.name: self.webhooks.worker,
                "rollup_aggregator": self.rollups.function,
                # Task functions by handler name: `workflows.campaign_step` -> `campaign_step`.
                **{m.rsplit(".", 1)[-1]: f for m, f in self.workflows.task_functions.items()},
                **self.schedules.functions,
            },
            queues=(
                WatchedQueue(
                    name="send",
                    queue=self.sending.queue,
                    dead_letter_queue=self.sending.dead_letter_queue,
                    age_threshold_seconds=SEND_QUEUE_AGE_THRESHOLD_SECONDS,
                    late="restock alerts are late",
                    dead_letter="sends or a transfer page did not happen",
                ),
                WatchedQueue(
                    name="webhook",
                    queue=self.webhooks.queue,
                    dead_letter_queue=self.webhooks.dead_letter_queue,
                    age_threshold_seconds=WEBHOOK_QUEUE_AGE_THRESHOLD_SECONDS,
                    late="restock detection, campaigns and privacy requests are late",
                    dead_letter="a Shopify webhook was not applied: catalog, restock, order or privacy request",
                ),
            ),
            state_machines=self.workflows.state_machines,
            alarm_email=alarm_email,
        )

        self.rollups.alarm(self.monitoring.topic)

        CfnOutput(self, "ApiBaseUrl", value=base_url, description="v2 external base URL")
        CfnOutput(self, "TableName", value=self.data.table.table_name)
        CfnOutput(self, "ExportBucketName", value=self.exports.bucket.bucket_name)
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)
        CfnOutput(self, "SendQueueUrl", value=self.sending.queue.queue_url, description="send queue (worker input)")
        CfnOutput(
            self,
            "DeadLetterQueueUrl",
            value=self.sending.dead_letter_queue.queue_url,
            description="send queue's dead letters (alarmed; redrive after fixing the cause)",
        )
        CfnOutput(
            self,
            "WebhookQueueUrl",
            value=self.webhooks.queue.queue_url,
            description="webhook queue (webhook worker input)",
        )
        CfnOutput(
            self,
            "WebhookDeadLetterQueueUrl",
            value=self.webhooks.dead_letter_queue.queue_url,
            description="webhook queue's dead letters (alarmed; redrive after fixing the cause)",
        )
        CfnOutput(
            self,
            "RollupFailuresQueueUrl",
            value=self.rollups.failures.queue_url,
            description="stream batches the rollup aggregator gave up on (alarmed; `backinstock reports failures`)",
        )
        for logical_id, state_machine in self.workflows.state_machines.items():
            CfnOutput(self, f"{logical_id}Arn", value=state_machine.state_machine_arn)
