"""Alarms on every function and on the API, all notifying the alarm topic."""

from __future__ import annotations

import pytest

from backinstock import registry
from tests.infra.template import Synth, function_of, functions_by_handler

pytestmark = pytest.mark.infra


def _alarms(synth: Synth) -> list[dict]:
    return [a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()]


def test_every_action_function_has_an_errors_and_a_throttles_alarm(synth: Synth) -> None:
    watched: dict[str, set[str]] = {}
    for alarm in _alarms(synth):
        if alarm.get("Namespace") != "AWS/Lambda":
            continue
        (dimension,) = alarm["Dimensions"]
        assert dimension["Name"] == "FunctionName"
        watched.setdefault(dimension["Value"]["Ref"], set()).add(alarm["MetricName"])
    authorizer, _ = functions_by_handler(synth)["auth.authorizer.handler"]
    for action in registry.actions():
        logical_id, _ = function_of(synth, action)
        assert watched.pop(logical_id) == {"Errors", "Throttles"}, action.name
    # The authorizer rejects a bad key by raising "Unauthorized", which Lambda counts as an error: an Errors alarm
    # would page on every bad key. Its real failures surface as API Gateway 5xx (the API alarm below).
    assert watched == {authorizer: {"Throttles"}}


def test_api_5xx_alarm(synth: Synth) -> None:
    api_alarms = [a for a in _alarms(synth) if a.get("Namespace") == "AWS/ApiGateway"]
    assert [a["MetricName"] for a in api_alarms] == ["5XXError"]


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


def test_dashboard_exists(synth: Synth) -> None:
    assert len(synth.resources("AWS::CloudWatch::Dashboard")) == 1
