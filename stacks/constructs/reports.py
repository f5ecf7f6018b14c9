"""Reports: the rollup aggregator on the table's stream, and the CSV exports (bucket, workflow, task function).

Rollups: a DynamoDB Streams event source with partial batch failures, bisection on error, bounded retries and record
age, an on-failure SQS destination (alarmed), and a filter that delivers only signups, notifications and
attributions (rollup writes themselves never come back to the function).

Exports: built in two steps, because API functions are granted on the state machine and its bucket before the
workflow's task function exists: `Exports` makes the bucket and names the state machine (its ARN is known from the
name), `add_workflow` makes the task function and the state machine from `infra_spec.EXPORT_WORKFLOW` (its ASL JSON,
inline via `DefinitionBody.from_string` with the function's ARN substituted, the same JSON the local run executes).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from backinstock import infra_spec
from backinstock.registry import Access
from stacks.constructs.functions import EXPORT_PREFIX, FunctionFactory
from stacks.nag import acknowledge

EXPORT_TASK_TIMEOUT = Duration.minutes(15)  # services.exports stops at a part boundary a minute before it
EXPORT_TASK_MEMORY_MB = 1024  # one 8 MiB part in memory; more memory is more CPU for the CSV writer
EXPORT_TASK_ACTIONS = ("s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject")
ROLLUP_ACCESS = frozenset({Access.TABLE_READ, Access.TABLE_WRITE})


class Rollups(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        table: dynamodb.ITable,
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
        self.function = functions.function(
            self,
            "RollupAggregator",
            handler=spec.handler,
            access=ROLLUP_ACCESS,
            description="Report rollups: table stream -> idempotent counters per shop, dimension and bucket",
            role_description=f"backinstock {spec.handler}: least privilege for the rollup aggregator",
            timeout=Duration.seconds(spec.timeout_seconds),
        )
        entities = list(spec.entities)
        self.function.add_event_source(
            event_sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=spec.batch_size,
                max_batching_window=Duration.seconds(spec.max_batching_window_seconds),
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


class Exports(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, spec: infra_spec.StateMachineSpec = infra_spec.EXPORT_WORKFLOW
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        stack = Stack.of(self)
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
        self.state_machine_name = f"{stack.stack_name}-{spec.logical_id}"
        self.state_machine_arn = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=self.state_machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.executions_arn = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self._task: lambda_.Function | None = None
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "Export files are short-lived (deleted after 7 days) and reached only through pre-signed URLs that the "
            "API signs per request and logs; server access logs would add a second bucket for no audit gain.",
        )

    @property
    def task(self) -> lambda_.Function:
        if self._task is None:
            raise RuntimeError("Exports.add_workflow has not been called")
        return self._task

    def add_workflow(self, *, functions: FunctionFactory) -> sfn.StateMachine:
        ((placeholder, handler),) = self.spec.tasks
        task = functions.function(
            self,
            "ExportStep",
            handler=handler,
            access=frozenset({Access.TABLE_READ, Access.TABLE_WRITE}),
            description="Export workflow task: a report or the waitlist -> CSV in S3 (multipart)",
            role_description=f"backinstock {handler}: least privilege for the export task",
            timeout=EXPORT_TASK_TIMEOUT,
            memory_size=EXPORT_TASK_MEMORY_MB,
            environment={"EXPORT_BUCKET_NAME": self.bucket.bucket_name},
            statements=[
                iam.PolicyStatement(
                    actions=list(EXPORT_TASK_ACTIONS), resources=[self.bucket.arn_for_objects(EXPORT_PREFIX + "*")]
                )
            ],
        )
        self._task = task
        log_group = logs.LogGroup(self, "ExportWorkflowLogs", retention=logs.RetentionDays.ONE_MONTH)
        machine = sfn.StateMachine(
            self,
            self.spec.logical_id,
            state_machine_name=self.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(self.spec.definition()),
            definition_substitutions={placeholder: task.function_arn},
            timeout=Duration.hours(6),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
        task.grant_invoke(machine)
        acknowledge(
            machine,
            "AwsSolutions-IAM5",
            "The state machine's role: lambda:InvokeFunction on the export task and its versions (`:*`, what "
            "grant_invoke emits), and the log delivery actions Step Functions needs, which support no resource.",
        )
        self.state_machine = machine
        return machine
