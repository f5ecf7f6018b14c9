"""Reports: the rollup aggregator on the table's stream, and the CSV exports (bucket, workflow, task function).

Rollups: a DynamoDB Streams event source with partial batch failures, bisection on error, bounded retries and record
age, an on-failure SQS destination (alarmed), and a filter that delivers only signups, notifications and
attributions (rollup writes themselves never come back to the function). The same function is the double opt-in
confirmation's outbox: a new signup that needs confirming queues its message on the send queue from the stream.

Exports: the bucket, and the export task's settings; the state machine and its task function are built by
`Workflows` like every `infra_spec.STATE_MACHINES` entry (the ASL JSON the local run executes, inline).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from backinstock import infra_spec
from backinstock.registry import Access
from stacks.constructs.functions import EXPORT_FILES_REASON, EXPORT_PREFIX, FunctionFactory, export_files_finding
from stacks.constructs.queues import CHECKOV_SSE_SQS_REASON
from stacks.constructs.sending import acknowledge_ses_identities, ses_send_email_statement
from stacks.constructs.workflows import TaskSettings
from stacks.nag import acknowledge, checkov_skip

EXPORT_TASK_TIMEOUT = Duration.minutes(15)  # services.exports stops at a part boundary a minute before it
EXPORT_TASK_ACTIONS = ("s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject")
EXPORT_TASK_BUCKET_ACTIONS = ("s3:ListBucketMultipartUploads",)
# The send queue: a committed signup that needs double opt-in gets its confirmation message from the stream.
ROLLUP_ACCESS = frozenset({Access.TABLE_READ, Access.TABLE_WRITE, Access.SEND_QUEUE})


class Rollups(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        table: dynamodb.ITable,
        sender_email: str,
        spec: infra_spec.StreamConsumerSpec = infra_spec.ROLLUP_CONSUMER,
    ) -> None:
        super().__init__(scope, construct_id)
        self.failures = sqs.Queue(
            self,
            "RollupFailures",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        checkov_skip(self.failures, "CKV_AWS_27", CHECKOV_SSE_SQS_REASON)
        self.function = functions.function(
            self,
            "RollupAggregator",
            handler=spec.handler,
            access=ROLLUP_ACCESS,
            description="Table stream -> report rollups (idempotent counters) and the opt-in confirmation outbox",
            role_description=f"backinstock {spec.handler}: least privilege for the rollup aggregator",
            timeout=Duration.seconds(spec.timeout_seconds),
            # A variant's waitlist crossing the merchant's threshold mails the merchant (services/merchant_alerts.py).
            environment={"SENDER_EMAIL": sender_email},
            statements=[ses_send_email_statement(self, sender_email)],
        )
        assert self.function.role is not None
        acknowledge_ses_identities(self.function.role)
        entities = list(spec.entities)
        self.function.add_event_source(
            event_sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=spec.batch_size,
                max_batching_window=Duration.seconds(spec.max_batching_window_seconds),
                parallelization_factor=spec.parallelization_factor,
                bisect_batch_on_error=True,
                retry_attempts=spec.retry_attempts,
                max_record_age=Duration.hours(spec.max_record_age_hours),
                report_batch_item_failures=True,
                on_failure=event_sources.SqsDlq(self.failures),
                filters=[
                    lambda_.FilterCriteria.filter({"dynamodb": {"NewImage": {"entity": {"S": entities}}}}),
                    lambda_.FilterCriteria.filter(
                        {"eventName": ["REMOVE"], "dynamodb": {"OldImage": {"entity": {"S": entities}}}}
                    ),
                ],
            )
        )
        acknowledge(
            self.failures,
            "AwsSolutions-SQS3",
            "This queue is the on-failure destination of the rollup aggregator's stream: it is itself where failures "
            "end, and an alarm fires on its first message.",
        )

    def alarm(self, topic: sns.ITopic) -> None:
        alarm = cloudwatch.Alarm(
            self,
            "RollupFailuresAlarm",
            metric=self.failures.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            alarm_description="Stream records the rollup aggregator gave up on: reports are missing activity",
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(topic))
        alarm.add_ok_action(cw_actions.SnsAction(topic))


class Exports(Construct):
    """The export files' bucket, and what the export workflow's task needs on it (`task_settings`, handed to
    `Workflows`, which builds the state machine and its task function from `infra_spec.EXPORT_WORKFLOW`)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "ExportBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-exports",
                    expiration=Duration.days(infra_spec.EXPORT_FILE_RETENTION_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            # Retained: CloudFormation cannot delete a bucket with objects; the lifecycle rule empties it in days.
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "Export files are short-lived (deleted after 7 days) and reached only through pre-signed URLs that the "
            "API signs per request and logs; server access logs would add a second bucket for no audit gain.",
        )
        checkov_skip(
            self.bucket,
            "CKV_AWS_18",
            "No server access logs: export files are short-lived and reached only through pre-signed URLs that the "
            "API signs per request and logs (the same reason as cdk-nag's AwsSolutions-S1).",
        )
        checkov_skip(
            self.bucket,
            "CKV_AWS_21",
            "No versioning: an export file is written once, regenerable from the table, and deleted after 7 days by "
            "the lifecycle rule; old versions would only keep customer data longer.",
        )

    def task_settings(self) -> dict[str, TaskSettings]:
        """The export task: the bucket's name, writing (multipart), aborting and deleting export files, 15 minutes."""
        ((_, handler),) = infra_spec.EXPORT_WORKFLOW.tasks
        bucket = self.bucket
        return {
            handler: TaskSettings(
                environment={"EXPORT_BUCKET_NAME": bucket.bucket_name},
                statements=lambda _scope: [
                    iam.PolicyStatement(
                        actions=list(EXPORT_TASK_ACTIONS), resources=[bucket.arn_for_objects(EXPORT_PREFIX + "*")]
                    ),
                    # To find an upload a killed attempt started and never recorded (`csvfile.abort_open_uploads`).
                    iam.PolicyStatement(actions=list(EXPORT_TASK_BUCKET_ACTIONS), resources=[bucket.bucket_arn]),
                ],
                timeout=EXPORT_TASK_TIMEOUT,
            )
        }

    def acknowledge_task(self, task: lambda_.Function) -> None:
        """The export task's grant on the export files (`exports/*`), acknowledged on its role."""
        assert task.role is not None
        acknowledge(task.role, export_files_finding(task.role, self.bucket), EXPORT_FILES_REASON)
