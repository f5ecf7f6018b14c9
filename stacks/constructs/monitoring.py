"""Monitoring: alarms on the API, on every function and on the send queue, an SNS topic they notify, and a small
dashboard."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.api import construct_name

PERIOD = Duration.minutes(5)
API_5XX_THRESHOLD = 5  # API Gateway 5xx answers per period (integration errors, authorizer failures, timeouts)
# A restock alert that waits this long in the send queue is late: the worker is failing, throttled or too few.
SEND_QUEUE_AGE_THRESHOLD_SECONDS = 15 * 60


class Monitoring(Construct):
    """`functions`: the action functions, alarmed on errors and throttles. `authorizer`: alarmed on throttles only.
    A Lambda authorizer rejects a key by raising "Unauthorized", which Lambda counts as an error: its Errors metric
    is every bad key, not a fault. Its real failures (crash, timeout) reach the caller as API Gateway 5xx
    (AUTHORIZER_FAILURE), which the API 5xx alarm watches.

    `workers`: the queue workers, alarmed on errors and throttles like the actions. With partial batch failures a
    worker invocation errors only when a whole batch fails or it times out; single failing messages are retried and
    end in the dead-letter queue, whose first message raises `SendDeadLettersAlarm`. `send_queue`: alarmed when its
    oldest message is older than `SEND_QUEUE_AGE_THRESHOLD_SECONDS`."""

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
        send_queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.topic = sns.Topic(self, "AlarmTopic", display_name="backinstock alarms", enforce_ssl=True)
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

        def alarm(alarm_id: str, metric: cloudwatch.IMetric, threshold: float, description: str) -> None:
            created = cloudwatch.Alarm(
                self,
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
        for name, function in {**functions, **workers}.items():
            alarm(
                f"{construct_name(name)}ErrorsAlarm",
                function.metric_errors(period=PERIOD, statistic="Sum"),
                1,
                f"backinstock {name}: the function raised (unhandled error or timeout)",
            )
        every_function = {**functions, **workers, "authorizer": authorizer}
        for name, function in every_function.items():
            alarm(
                f"{construct_name(name)}ThrottlesAlarm",
                function.metric_throttles(period=PERIOD, statistic="Sum"),
                1,
                f"backinstock {name}: invocations throttled (account or function concurrency)",
            )
        alarm(
            "SendDeadLettersAlarm",
            dead_letter_queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
            1,
            "backinstock send queue: a message exhausted its retries and is in the dead-letter queue (sends or a "
            "transfer page did not happen); find the cause in the send worker's logs, then redrive",
        )
        alarm(
            "SendQueueAgeAlarm",
            send_queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum"),
            SEND_QUEUE_AGE_THRESHOLD_SECONDS,
            f"backinstock send queue: a message has waited >= {SEND_QUEUE_AGE_THRESHOLD_SECONDS // 60} minutes; "
            "restock alerts are late",
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
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Send queue: waiting and dead-lettered messages",
                left=[
                    send_queue.metric_approximate_number_of_messages_visible(
                        period=PERIOD, statistic="Maximum", label="send queue"
                    ),
                    dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=PERIOD, statistic="Maximum", label="dead letters"
                    ),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Send queue: age of the oldest message (s)",
                left=[send_queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum")],
                width=12,
            ),
        )
