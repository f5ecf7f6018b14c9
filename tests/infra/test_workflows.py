"""Workflows: one Standard state machine per `infra_spec.STATE_MACHINES` entry, its definition inline with the task
functions' ARNs substituted, a role that invokes exactly its task functions, logging and tracing; the task
functions' own roles and environment."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backinstock import config, infra_spec
from backinstock.infra_spec import StateMachineSpec
from tests.infra.template import (
    READ,
    WRITE,
    Synth,
    function_of_module,
    grants,
    log_group_of,
    role_grants,
    statements_of_role,
)

pytestmark = pytest.mark.infra

MAIN = infra_spec.MAIN_TABLE.logical_id
LOG_DELIVERY = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}


def _state_machine(synth: Synth, spec: StateMachineSpec) -> dict[str, Any]:
    resource = synth.template["Resources"][spec.logical_id]  # pinned: executions in flight survive a refactor
    assert resource["Type"] == "AWS::StepFunctions::StateMachine"
    return dict(resource["Properties"])


def test_one_state_machine_per_spec(synth: Synth) -> None:
    assert set(synth.resources("AWS::StepFunctions::StateMachine")) == {s.logical_id for s in infra_spec.STATE_MACHINES}
    assert infra_spec.CAMPAIGN_WORKFLOW in infra_spec.STATE_MACHINES


@pytest.mark.parametrize("spec", infra_spec.STATE_MACHINES, ids=lambda s: s.logical_id)
def test_definition_is_inline_with_every_task_arn_substituted(synth: Synth, spec: StateMachineSpec) -> None:
    props = _state_machine(synth, spec)
    assert props["StateMachineType"] == "STANDARD"
    assert "DefinitionS3Location" not in props
    definition = props["DefinitionString"]
    assert definition == spec.definition()  # the very JSON the local run executes
    substitutions = props["DefinitionSubstitutions"]
    assert set(substitutions) == {placeholder for placeholder, _ in spec.tasks}
    # CloudFormation substitutes every `${Name}` from DefinitionSubstitutions: after that none is left.
    rendered = definition
    for placeholder in substitutions:
        rendered = rendered.replace("${" + placeholder + "}", "arn:substituted")
    assert "${" not in rendered
    json.loads(rendered)
    for placeholder, module in spec.tasks:
        function, _ = function_of_module(synth, module)
        assert substitutions[placeholder] == {"Fn::GetAtt": [function, "Arn"]}


def test_campaign_definition_invokes_the_campaign_step_function(synth: Synth) -> None:
    spec = infra_spec.CAMPAIGN_WORKFLOW
    props = _state_machine(synth, spec)
    function, _ = function_of_module(synth, "workflows.campaign_step")
    assert props["DefinitionSubstitutions"] == {"CampaignStepFunctionArn": {"Fn::GetAtt": [function, "Arn"]}}
    definition = json.loads(props["DefinitionString"])
    task_names = {
        state["Parameters"]["FunctionName"] for state in definition["States"].values() if state["Type"] == "Task"
    }
    assert task_names == {"${CampaignStepFunctionArn}"}


@pytest.mark.parametrize("spec", infra_spec.STATE_MACHINES, ids=lambda s: s.logical_id)
def test_role_invokes_only_its_own_task_functions(synth: Synth, spec: StateMachineSpec) -> None:
    props = _state_machine(synth, spec)
    role = props["RoleArn"]["Fn::GetAtt"][0]
    assert synth.template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "states.amazonaws.com"
    }
    granted = grants(statements_of_role(synth, role))
    tasks = {function_of_module(synth, module)[0] for _, module in spec.tasks}
    # Logging and tracing support no resource-level permissions (acknowledged IAM5 on this role).
    assert granted.pop("*") == LOG_DELIVERY | XRAY
    assert granted == {task: {"lambda:InvokeFunction"} for task in tasks}


@pytest.mark.parametrize("spec", infra_spec.STATE_MACHINES, ids=lambda s: s.logical_id)
def test_logging_all_without_execution_data_and_tracing(synth: Synth, spec: StateMachineSpec) -> None:
    props = _state_machine(synth, spec)
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is False  # customers' addresses never reach the logs
    (destination,) = logging["Destinations"]
    log_group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert synth.template["Resources"][log_group]["Type"] == "AWS::Logs::LogGroup"
    assert "RetentionInDays" in synth.template["Resources"][log_group]["Properties"]
    assert props["TracingConfiguration"] == {"Enabled": True}


def test_campaign_step_role_and_environment(synth: Synth) -> None:
    _, props = function_of_module(synth, "workflows.campaign_step")
    granted = role_grants(synth, props)
    assert granted.pop(log_group_of(props)) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert granted == {
        MAIN: READ | WRITE,
        **{f"{MAIN}/index/{index.name}": READ for index in infra_spec.MAIN_TABLE.indexes},
        infra_spec.SEND_QUEUE.logical_id: {"sqs:SendMessage"},
        "*": {"xray:PutTraceSegments", "xray:PutTelemetryRecords"},
    }
    variables = props["Environment"]["Variables"]
    # Not CAMPAIGN_SECONDS_PER_HOUR (3600 in AWS) and not the state machine's ARN (the task starts nothing).
    assert set(variables) == set(config.BaseEnv.model_fields) | {"TABLE_NAME", "SEND_QUEUE_URL"}
    assert set(variables) <= set(config.CampaignEnv.model_fields)


def test_every_task_handler_has_access_and_a_missing_one_fails_the_synth() -> None:
    from stacks.constructs import workflows

    assert workflows.missing_task_access() == []
    extra = StateMachineSpec(
        logical_id="UndeclaredWorkflow",
        definition_file="export.asl.json",
        tasks=(("ExportStepFunctionArn", "workflows.undeclared_step"),),
        env_var="UNDECLARED_STATE_MACHINE_ARN",
    )
    assert workflows.missing_task_access((*infra_spec.STATE_MACHINES, extra)) == ["workflows.undeclared_step"]
