"""The one stack: one construct per concern, composed here and nowhere else."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from backinstock.registry import BASE_PATH
from stacks.constructs.api import Api
from stacks.constructs.data import Data
from stacks.constructs.functions import AccessTargets, FunctionFactory
from stacks.constructs.layers import Layers
from stacks.constructs.monitoring import Monitoring
from stacks.constructs.reports import Exports, Rollups
from stacks.constructs.sending import SEND_WORKER_NAME, Sending

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
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.data = Data(self, "Data")
        self.layers = Layers(self, "Layers")
        # The queue and the link secret come first: API functions are granted on them.
        self.sending = Sending(self, "Sending")
        # The export bucket and the export state machine's name (ARN) too: export actions are granted on them.
        self.exports = Exports(self, "Exports")
        functions = FunctionFactory(
            layers=self.layers,
            targets=AccessTargets(
                table=self.data.table,
                index_names=tuple(self.data.index_names()),
                idempotency_table=self.data.idempotency_table,
                send_queue=self.sending.queue,
                link_secret=self.sending.link_secret,
                export_bucket=self.exports.bucket,
                export_state_machine_arn=self.exports.state_machine_arn,
                export_executions_arn=self.exports.executions_arn,
            ),
            log_level=log_level,
        )
        self.api = Api(self, "Api", functions=functions)
        self.exports.add_workflow(functions=functions)
        self.rollups = Rollups(self, "Rollups", functions=functions, table=self.data.table)
        base_url = self.api.rest_api.url_for_path(BASE_PATH)
        # The worker puts links to the API (opt-in, unsubscribe) in customers' messages: it comes after the API.
        self.sending.add_send_worker(functions=functions, public_base_url=base_url, sender_email=sender_email)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            rest_api=self.api.rest_api,
            functions=self.api.functions,
            authorizer=self.api.authorizer_function,
            table=self.data.table,
            workers={
                SEND_WORKER_NAME: self.sending.worker,
                "rollup_aggregator": self.rollups.function,
                "export_step": self.exports.task,
            },
            send_queue=self.sending.queue,
            dead_letter_queue=self.sending.dead_letter_queue,
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
