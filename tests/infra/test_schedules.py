"""Scheduled merchant reports: one EventBridge rule per period, each invoking the scheduled function with its period."""

from __future__ import annotations

import json

from backinstock import infra_spec
from tests.infra.template import Synth


def test_one_rule_per_period_invokes_the_scheduled_function_with_its_period(synth: Synth) -> None:
    rules = {k: v for k, v in synth.template["Resources"].items() if v["Type"] == "AWS::Events::Rule"}
    expected = dict(infra_spec.SCHEDULED_REPORTS.rules)
    assert {r["Properties"]["ScheduleExpression"] for r in rules.values()} == set(expected.values())
    for rule in rules.values():
        [target] = rule["Properties"]["Targets"]
        period = json.loads(target["Input"])["period"]
        assert rule["Properties"]["ScheduleExpression"] == expected[period]
        assert "SchedulesScheduledReports" in json.dumps(target["Arn"])


def test_the_scheduled_function_reads_and_writes_the_table_and_sends_mail_only(synth: Synth) -> None:
    functions = {
        k: v
        for k, v in synth.template["Resources"].items()
        if v["Type"] == "AWS::Lambda::Function"
        and v["Properties"].get("Handler") == "workers.scheduled_reports.handler"
    }
    [function] = functions.values()
    assert set(function["Properties"]["Environment"]["Variables"]) >= {"TABLE_NAME", "SENDER_EMAIL"}
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [
        v
        for v in synth.template["Resources"].values()
        if v["Type"] == "AWS::IAM::Policy" and {"Ref": role} in v["Properties"]["Roles"]
    ]
    actions = {
        a
        for p in policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "ses:SendEmail" in actions and "dynamodb:Query" in actions and "dynamodb:PutItem" in actions
    assert not any(a.startswith(("sqs:", "states:", "secretsmanager:")) or a == "dynamodb:Scan" for a in actions)
    permissions = [
        v
        for v in synth.template["Resources"].values()
        if v["Type"] == "AWS::Lambda::Permission" and v["Properties"]["Principal"] == "events.amazonaws.com"
    ]
    assert len(permissions) == len(infra_spec.SCHEDULED_REPORTS.rules)
