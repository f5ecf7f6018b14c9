"""Alarms on every function, on the API, on the send and webhook queues and on the workflows, all notifying the
alarm topic."""

from __future__ import annotations

import pytest

from backinstock import infra_spec, registry
from tests.infra.template import Synth, function_of, function_of_module, functions_by_handler

pytestmark = pytest.mark.infra


def _alarms(synth: Synth) -> list[dict]:
    return [a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()]


def test_every_action_function_has_an_errors_and_a_throttles_alarm(synth: Synth) -> None:
    watched: dict[str, set[str]] = {}
    for alarm in _alarms(synth):
        # A function's errors and throttles: one alarm on their sum (metric math), or one metric (the authorizer).
        metrics = [m["MetricStat"]["Metric"] for m in alarm.get("Metrics", []) if "MetricStat" in m]
        if alarm.get("Namespace") == "AWS/Lambda":
            metrics = [alarm]
        for metric in metrics:
            if metric.get("Namespace") != "AWS/Lambda":
                continue
            (dimension,) = metric["Dimensions"]
            assert dimension["Name"] == "FunctionName"
            watched.setdefault(dimension["Value"]["Ref"], set()).add(metric["MetricName"])
        if len(metrics) > 1:
            (expression,) = [m for m in alarm["Metrics"] if "Expression" in m]
            assert expression["Expression"] == "errors + throttles" and alarm["Threshold"] == 1
    authorizer, _ = functions_by_handler(synth)["auth.authorizer.handler"]
    for action in registry.actions():
        logical_id, _ = function_of(synth, action)
        assert watched.pop(logical_id) == {"Errors", "Throttles"}, action.name
    # The workers too: with partial batch failures an invocation errors only when a whole batch fails or times out.
    # And the workflows' task functions (a failing task is retried by the workflow, but it is still a fault).
    tasks = [module for spec in infra_spec.STATE_MACHINES for _, module in spec.tasks]
    scheduled = [spec.handler for spec in infra_spec.SCHEDULES]
    consumers = [c.handler for c in infra_spec.STREAM_CONSUMERS]
    for handler in (*infra_spec.WORKER_HANDLERS, *tasks, *scheduled, *consumers):
        logical_id, _ = function_of_module(synth, handler)
        assert watched.pop(logical_id) == {"Errors", "Throttles"}, handler
    # The authorizer rejects a bad key by raising "Unauthorized", which Lambda counts as an error: an Errors alarm
    # would page on every bad key. Its real failures surface as API Gateway 5xx (the API alarm below).
    assert watched == {authorizer: {"Throttles"}}


def test_api_5xx_alarm(synth: Synth) -> None:
    api_alarms = [a for a in _alarms(synth) if a.get("Namespace") == "AWS/ApiGateway"]
    assert [a["MetricName"] for a in api_alarms] == ["5XXError"]


def test_the_rate_limiter_failing_open_raises_an_alarm(synth: Synth) -> None:
    # The metric api.http.take_points emits for each request that ran without its shop's limit (fail open).
    (alarm,) = [a for a in _alarms(synth) if a.get("MetricName") == "RateLimitStoreErrors"]
    assert alarm["Namespace"] == "BackInStock"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "backinstock"}]
    assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def _sqs_alarms(synth: Synth) -> dict[tuple[str, str], dict]:
    """(queue logical ID, metric name) -> alarm."""
    out = {}
    for alarm in _alarms(synth):
        if alarm.get("Namespace") == "AWS/SQS":
            (dimension,) = alarm["Dimensions"]
            assert dimension["Name"] == "QueueName"
            out[(dimension["Value"]["Fn::GetAtt"][0], alarm["MetricName"])] = alarm
    return out


QUEUES = [infra_spec.SEND_QUEUE, infra_spec.WEBHOOK_QUEUE]


@pytest.mark.parametrize("spec", QUEUES, ids=lambda s: s.logical_id)
def test_the_first_dead_letter_raises_an_alarm(synth: Synth, spec: infra_spec.QueueSpec) -> None:
    dead_letters = f"{spec.logical_id}DeadLetters"
    alarm = _sqs_alarms(synth)[(dead_letters, "ApproximateNumberOfMessagesVisible")]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dead_letters, "QueueName"]}
    assert alarm["Statistic"] == "Maximum"
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Threshold"] == 1
    assert alarm["EvaluationPeriods"] == 1


@pytest.mark.parametrize("spec", QUEUES, ids=lambda s: s.logical_id)
def test_late_messages_raise_an_alarm(synth: Synth, spec: infra_spec.QueueSpec) -> None:
    alarm = _sqs_alarms(synth)[(spec.logical_id, "ApproximateAgeOfOldestMessage")]
    assert alarm["Statistic"] == "Maximum"
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    # Not before one visibility timeout (a message being retried is not late yet), and within the hour.
    assert spec.visibility_timeout_seconds <= alarm["Threshold"] <= 3600
    # Plus the rollup aggregator's on-failure queue (its first message: tests/infra/test_reports.py).
    assert len(_sqs_alarms(synth)) == 2 * len(QUEUES) + 1


def test_send_queue_alarms_keep_their_logical_ids(synth: Synth) -> None:
    # Renaming an alarm replaces it (and loses its history): the send queue's predate the webhook queue.
    resources = synth.template["Resources"]
    alarms = {lid for lid in resources if resources[lid]["Type"] == "AWS::CloudWatch::Alarm"}
    assert {lid for lid in alarms if lid.startswith("MonitoringSendDeadLettersAlarm")}
    assert {lid for lid in alarms if lid.startswith("MonitoringSendQueueAgeAlarm")}
    assert {lid for lid in alarms if lid.startswith("MonitoringWebhookDeadLettersAlarm")}
    assert {lid for lid in alarms if lid.startswith("MonitoringWebhookQueueAgeAlarm")}


@pytest.mark.parametrize("spec", infra_spec.STATE_MACHINES, ids=lambda s: s.logical_id)
def test_a_failed_workflow_execution_raises_an_alarm(synth: Synth, spec: infra_spec.StateMachineSpec) -> None:
    metrics = set()
    for alarm in _alarms(synth):
        if alarm.get("Namespace") == "AWS/States":
            (dimension,) = alarm["Dimensions"]
            assert dimension["Name"] == "StateMachineArn"
            if dimension["Value"] == {"Ref": spec.logical_id}:
                metrics.add(alarm["MetricName"])
                assert alarm["Threshold"] == 1 and alarm["Statistic"] == "Sum"
    assert metrics == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}


def test_every_alarm_notifies_the_topic_which_only_takes_tls(synth: Synth) -> None:
    (topic_id,) = synth.resources("AWS::SNS::Topic")
    for alarm in _alarms(synth):
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["OKActions"] == [{"Ref": topic_id}]
        assert alarm["TreatMissingData"] == "notBreaching"
    (policy,) = [p["Properties"] for p in synth.resources("AWS::SNS::TopicPolicy").values()]
    statements = policy["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in statements)


def _refs(value: object) -> set[str]:
    """Every logical ID a `Ref` names in `value`, however deeply nested."""
    if isinstance(value, dict):
        own = {value["Ref"]} if set(value) == {"Ref"} else set()
        return own.union(*(_refs(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(item) for item in value))
    return set()


def test_the_dashboard_graphs_every_function_whatever_its_stack(synth: Synth) -> None:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    # The dashboard is in the main stack; the action functions' names come from their nested stacks' outputs.
    graphed = _refs(dashboard["Properties"]["DashboardBody"])
    functions = set(synth.resources("AWS::Lambda::Function"))
    assert functions <= graphed
    assert any(function not in synth.main.template["Resources"] for function in functions)


def test_the_alarm_topic_is_encrypted_with_a_rotated_key_cloudwatch_may_use(synth: Synth) -> None:
    (topic,) = synth.resources("AWS::SNS::Topic").values()
    key_ref = topic["Properties"]["KmsMasterKeyId"]
    keys = synth.resources("AWS::KMS::Key")
    (key_id,) = [k for k in keys if k in str(key_ref)]
    key = keys[key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = key["KeyPolicy"]["Statement"]
    (cloudwatch,) = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert "aws:SourceAccount" in str(cloudwatch["Condition"])


def _dashboard_widgets(synth: Synth) -> list[dict]:
    """The dashboard's widgets, its body's references (region, function names) read as "X"."""
    import json

    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    return list(json.loads("".join(p if isinstance(p, str) else "X" for p in parts))["widgets"])


def test_the_dashboard_charts_the_business_metrics_of_backinstock_observability(synth: Synth) -> None:
    from backinstock import observability

    charted: dict[str, set[str]] = {}
    for widget in _dashboard_widgets(synth):
        for metric in widget["properties"].get("metrics", []):
            if metric[0] == observability.NAMESPACE:
                # EMF's one dimension, the service: no channel, shop or contact dimension to chart by
                assert metric[2:4] == ["service", observability.SERVICE], metric
                charted.setdefault(widget["properties"]["title"], set()).add(metric[1])
    assert charted == {
        "Restock alerts sent, by channel": {"AlertsSent_email", "AlertsSent_sms", "AlertsSent_push"},
        "Restock alerts blocked, by channel": {"AlertsBlocked_email", "AlertsBlocked_sms", "AlertsBlocked_push"},
        "Restocks started and exports": {
            "RestocksStarted_webhook",
            "RestocksStarted_manual",
            "ExportsFinished",
            "ExportsFailed",
        },
        "Report rollup lag (s, oldest stream record of a batch)": {"RollupLagSeconds"},
    }
    assert set().union(*charted.values()) == set(observability.BUSINESS_METRICS)
