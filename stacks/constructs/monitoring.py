"""Monitoring: alarms on the API, on every function, on the work queues and on the workflows, an SNS topic they
notify, and a small dashboard."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from backinstock import observability
from stacks.constructs.api import construct_name

# The functions' Powertools metrics: namespace and the `service` dimension of a metric emitted on its own.
METRICS_NAMESPACE = observability.NAMESPACE
METRICS_SERVICE = observability.SERVICE

PERIOD = Duration.minutes(5)
API_5XX_THRESHOLD = 5  # API Gateway 5xx answers per period (integration errors, authorizer failures, timeouts)
# A restock alert that waits this long in the send queue is late: the worker is failing, throttled or too few.
SEND_QUEUE_AGE_THRESHOLD_SECONDS = 15 * 60
# A webhook that waits this long is late restock detection (and late alerts): never below one visibility timeout
# (12 minutes), when a message being retried is not late yet.
WEBHOOK_QUEUE_AGE_THRESHOLD_SECONDS = 20 * 60


@dataclass(frozen=True)
class WatchedQueue:
    """A work queue and its dead-letter queue. `name` makes the alarms' IDs (`send` -> `SendDeadLettersAlarm`,
    `SendQueueAgeAlarm`); `late` says what a late message means, `dead_letter` what a dead letter lost."""

    name: str
    queue: sqs.IQueue
    dead_letter_queue: sqs.IQueue
    age_threshold_seconds: int
    late: str
    dead_letter: str


class Monitoring(Construct):
    """`functions`: the action functions, alarmed on errors and throttles. `authorizer`: alarmed on throttles only.
    A Lambda authorizer rejects a key by raising "Unauthorized", which Lambda counts as an error: its Errors metric
    is every bad key, not a fault. Its real failures (crash, timeout) reach the caller as API Gateway 5xx
    (AUTHORIZER_FAILURE), which the API 5xx alarm watches.

    `workers`: the queue workers, alarmed on errors and throttles like the actions. With partial batch failures a
    worker invocation errors only when a whole batch fails or it times out; single failing messages are retried and
    end in the dead-letter queue, whose first message raises `<Name>DeadLettersAlarm`. `queues`: each alarmed on its
    dead-letter queue's first message and when its oldest message is older than its `age_threshold_seconds`.
    `state_machines`: alarmed on a failed, timed-out or aborted execution."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rest_api: apigw.RestApi,
        functions: Mapping[str, lambda_.Function],
        authorizer: lambda_.Function,
        table: dynamodb.ITable,
        workers: Mapping[str, lambda_.Function],
        queues: tuple[WatchedQueue, ...],
        state_machines: Mapping[str, sfn.IStateMachine],
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # Encrypted at rest with a key of this stack's (an AWS managed key cannot be used by CloudWatch alarms):
        # rotated yearly, usable by CloudWatch to publish and by SNS to deliver, nobody else but the account.
        self.key = kms.Key(
            self,
            "AlarmTopicKey",
            description="backinstock: encrypts the alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name="backinstock alarms", enforce_ssl=True, master_key=self.key
        )
        # The topic policy that `enforce_ssl` writes replaces SNS's default one: say explicitly that this account's
        # CloudWatch alarms may publish.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
                    },
                },
            )
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        action = cloudwatch_actions.SnsAction(self.topic)

        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(
            alarm_id: str,
            metric: cloudwatch.IMetric,
            threshold: float,
            description: str,
            scope: Construct = self,
        ) -> None:
            created = cloudwatch.Alarm(
                scope,
                alarm_id,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            created.add_alarm_action(action)
            created.add_ok_action(action)
            self.alarms.append(created)

        alarm(
            "Api5xxAlarm",
            rest_api.metric_server_error(period=PERIOD, statistic="Sum"),
            API_5XX_THRESHOLD,
            f"backinstock API answered >= {API_5XX_THRESHOLD} 5xx in 5 minutes",
        )
        # One alarm per function on errors + throttles (metric math): two per function would take ~100 of
        # CloudFormation's 500 resources a stack; the alarm's description and the dashboard tell which it was. Each
        # alarm lives in its function's stack: an action stack's alarms grow with its own actions.
        for name, function in {**functions, **workers}.items():
            alarm(
                f"{construct_name(name)}ErrorsAlarm",
                cloudwatch.MathExpression(
                    expression="errors + throttles",
                    using_metrics={
                        "errors": function.metric_errors(period=PERIOD, statistic="Sum"),
                        "throttles": function.metric_throttles(period=PERIOD, statistic="Sum"),
                    },
                    period=PERIOD,
                    label=f"{name} errors + throttles",
                ),
                1,
                f"backinstock {name}: the function raised (unhandled error or timeout) or was throttled "
                "(account or function concurrency)",
                scope=self._scope_beside(function),
            )
        # The rate limiter fails open (services/ratelimits.py): a request its store could not decide runs unlimited,
        # and each one counts here (`api.http.take_points`, one metric without the action dimension).
        alarm(
            "RateLimitStoreErrorsAlarm",
            cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name="RateLimitStoreErrors",
                dimensions_map={"service": METRICS_SERVICE},
                period=PERIOD,
                statistic="Sum",
            ),
            1,
            "backinstock rate limiter: its DynamoDB table failed to answer; requests ran without a per-shop limit "
            "(fail open). Check the RateLimitTable's throttling and errors.",
        )
        every_function = {**functions, **workers, "authorizer": authorizer}
        alarm(
            f"{construct_name('authorizer')}ThrottlesAlarm",
            authorizer.metric_throttles(period=PERIOD, statistic="Sum"),
            1,
            "backinstock authorizer: invocations throttled (account or function concurrency)",
        )
        for watched in queues:
            name = construct_name(watched.name)
            alarm(
                f"{name}DeadLettersAlarm",
                watched.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic="Maximum"
                ),
                1,
                f"backinstock {watched.name} queue: a message exhausted its retries and is in the dead-letter queue "
                f"({watched.dead_letter}); find the cause in the worker's logs, then redrive",
            )
            alarm(
                f"{name}QueueAgeAlarm",
                watched.queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum"),
                watched.age_threshold_seconds,
                f"backinstock {watched.name} queue: a message has waited >= {watched.age_threshold_seconds // 60} "
                f"minutes; {watched.late}",
            )
        for logical_id, state_machine in state_machines.items():
            for metric_name in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"):
                alarm(
                    f"{logical_id}{metric_name}Alarm",
                    state_machine.metric(metric_name, period=PERIOD, statistic="Sum"),
                    1,
                    f"backinstock {logical_id}: an execution ended {metric_name.removeprefix('Executions').lower()}; "
                    "see its execution history and its task functions' logs",
                )

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(6))
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[
                    rest_api.metric_count(period=PERIOD, statistic="Sum"),
                    rest_api.metric_client_error(period=PERIOD, statistic="Sum"),
                    rest_api.metric_server_error(period=PERIOD, statistic="Sum"),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="API latency (p50, p99)",
                left=[
                    rest_api.metric_latency(period=PERIOD, statistic="p50"),
                    rest_api.metric_latency(period=PERIOD, statistic="p99"),
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Function errors",
                left=[f.metric_errors(period=PERIOD, statistic="Sum", label=n) for n, f in every_function.items()],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Function duration p99",
                left=[f.metric_duration(period=PERIOD, statistic="p99", label=n) for n, f in every_function.items()],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="DynamoDB consumed capacity",
                left=[
                    table.metric_consumed_read_capacity_units(period=PERIOD, statistic="Sum"),
                    table.metric_consumed_write_capacity_units(period=PERIOD, statistic="Sum"),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Function throttles",
                left=[f.metric_throttles(period=PERIOD, statistic="Sum", label=n) for n, f in every_function.items()],
                width=12,
            ),
        )
        for watched in queues:
            title = watched.name.capitalize()
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{title} queue: waiting and dead-lettered messages",
                    left=[
                        watched.queue.metric_approximate_number_of_messages_visible(
                            period=PERIOD, statistic="Maximum", label=f"{watched.name} queue"
                        ),
                        watched.dead_letter_queue.metric_approximate_number_of_messages_visible(
                            period=PERIOD, statistic="Maximum", label="dead letters"
                        ),
                    ],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title=f"{title} queue: age of the oldest message (s)",
                    left=[watched.queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum")],
                    width=12,
                ),
            )
        self.dashboard.add_widgets(*business_widgets())
        if state_machines:
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="Workflow executions: started and failed",
                    left=[
                        state_machine.metric(metric_name, period=PERIOD, statistic="Sum", label=f"{lid} {metric_name}")
                        for lid, state_machine in state_machines.items()
                        for metric_name in ("ExecutionsStarted", "ExecutionsFailed")
                    ],
                    width=24,
                )
            )

    def _scope_beside(self, function: lambda_.IFunction) -> Construct:
        """Where `function`'s alarm goes: this construct for a function of this stack (its alarms keep their
        logical IDs), else a `Monitoring` construct in the function's own (nested) stack."""
        stack = Stack.of(function)
        if stack.node.path == Stack.of(self).node.path:
            return self
        existing = stack.node.try_find_child(self.node.id)
        if isinstance(existing, Construct):
            return existing
        return Construct(stack, self.node.id)


def business_metric(name: str, statistic: str = "Sum", label: str | None = None) -> cloudwatch.Metric:
    """A business metric of `backinstock.observability` (EMF: the namespace, the `service` dimension)."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": METRICS_SERVICE},
        period=PERIOD,
        statistic=statistic,
        label=label or name,
    )


def _by_channel(title: str, metric: str) -> cloudwatch.GraphWidget:
    """A graph of one business metric, a line per channel."""
    left = [business_metric(observability.per_channel(metric, c), label=c) for c in observability.CHANNELS]
    return cloudwatch.GraphWidget(title=title, left=left, width=12)


def business_widgets() -> list[cloudwatch.IWidget]:
    """What a merchant's operator charts (docs/ARCHITECTURE.md, "Metrics and tracing"): restock alerts sent and
    blocked per channel, restocks started, exports finished and failed, how far the reports lag. Widgets live in the
    dashboard's body: no CloudFormation resource of their own."""
    return [
        _by_channel("Restock alerts sent, by channel", observability.ALERTS_SENT),
        _by_channel("Restock alerts blocked, by channel", observability.ALERTS_BLOCKED),
        cloudwatch.GraphWidget(
            title="Restocks started and exports",
            left=[business_metric(name) for name in (*observability.RESTOCK_METRICS, *observability.EXPORT_METRICS)],
            width=12,
        ),
        cloudwatch.GraphWidget(
            title="Report rollup lag (s, oldest stream record of a batch)",
            left=[business_metric(observability.ROLLUP_LAG, statistic="Maximum")],
            width=12,
        ),
    ]
