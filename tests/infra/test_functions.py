"""One function per action: runtime, architecture, layers, environment and least-privilege IAM from the registry."""

from __future__ import annotations

import pytest

from backinstock import config, registry
from backinstock.registry import Access, Action
from tests.infra.template import Synth, as_list, function_of, functions_by_handler, iam_actions, statements_of_role

pytestmark = pytest.mark.infra

# Stated here on purpose, not imported from the construct: the test is the second opinion.
READ = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"}
WRITE = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
AUTHORIZER_HANDLER = "auth.authorizer.handler"


def expected_table_actions(action: Action) -> set[str]:
    access = set(action.access)
    if action.runs_actions:
        for other in registry.actions():
            access |= other.access
    if Access.TABLE_WRITE in access:
        return READ | WRITE
    return READ if Access.TABLE_READ in access else set()


def role_statements(synth: Synth, function_props: dict) -> list[dict]:
    return statements_of_role(synth, function_props["Role"]["Fn::GetAtt"][0])


def test_one_function_per_action_plus_the_authorizer(synth: Synth) -> None:
    handlers = set(functions_by_handler(synth))
    assert handlers == {f"{a.handler}.handler" for a in registry.actions()} | {AUTHORIZER_HANDLER}


def test_every_function_runs_python_312_on_arm64_with_both_layers_and_tracing(synth: Synth) -> None:
    layers = set(synth.resources("AWS::Lambda::LayerVersion"))
    assert len(layers) == 2
    code_keys = set()
    for _logical_id, props in functions_by_handler(synth).values():
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert {ref["Ref"] for ref in props["Layers"]} == layers
        assert "LogGroup" in props["LoggingConfig"]
        code_keys.add(props["Code"]["S3Key"])
    assert len(code_keys) == 1, "every function ships the one functions/ asset"
    for layer in synth.resources("AWS::Lambda::LayerVersion").values():
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


@pytest.mark.parametrize("action", registry.actions(), ids=lambda a: a.name)
def test_function_has_exactly_the_table_actions_its_access_implies(synth: Synth, action: Action) -> None:
    _, props = function_of(synth, action)
    statements = role_statements(synth, props)
    granted = iam_actions(statements, "dynamodb:")
    assert granted == expected_table_actions(action)
    assert "dynamodb:Scan" not in granted
    if action.read_only and not action.runs_actions:
        assert not granted & WRITE


def test_mcp_function_has_the_union_of_every_other_actions_access(synth: Synth) -> None:
    mcp = registry.by_name("mcp")
    assert mcp.runs_actions
    _, props = function_of(synth, mcp)
    assert iam_actions(role_statements(synth, props), "dynamodb:") == READ | WRITE


def test_authorizer_reads_the_table_and_never_writes(synth: Synth) -> None:
    _, props = functions_by_handler(synth)[AUTHORIZER_HANDLER]
    assert iam_actions(role_statements(synth, props), "dynamodb:") == READ
    assert props["Environment"]["Variables"]["TABLE_NAME"] == {"Ref": "MainTable"}


def test_roles_grant_nothing_beyond_table_logs_and_tracing(synth: Synth) -> None:
    for _logical_id, props in functions_by_handler(synth).values():
        role = synth.template["Resources"][props["Role"]["Fn::GetAtt"][0]]["Properties"]
        assert "ManagedPolicyArns" not in role
        statements = role_statements(synth, props)
        others = iam_actions(statements) - READ - WRITE
        assert others <= {
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
        }
        for statement in statements:
            actions = set(as_list(statement["Action"]))
            resources = as_list(statement["Resource"])
            if "*" in resources:
                # X-Ray has no resource-level permissions: the one wildcard, and the acknowledged cdk-nag IAM5.
                assert actions <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
            if actions & (READ | WRITE):
                # the table and its indexes, nothing else
                assert all("MainTable" in str(r) for r in resources)
            if actions & WRITE:
                assert "/index/" not in str(resources), "writes address the base table only"


@pytest.mark.parametrize("action", registry.actions(), ids=lambda a: a.name)
def test_environment_has_table_name_exactly_when_the_function_touches_the_table(synth: Synth, action: Action) -> None:
    _, props = function_of(synth, action)
    variables = props["Environment"]["Variables"]
    if expected_table_actions(action):
        assert variables["TABLE_NAME"] == {"Ref": "MainTable"}
    else:
        assert "TABLE_NAME" not in variables
    # The names the functions validate at cold start (backinstock.config), with the values the app expects.
    base = config.BaseEnv().model_dump()
    assert {k: v for k, v in variables.items() if k != "TABLE_NAME"} == base
    assert base["POWERTOOLS_SERVICE_NAME"] == "backinstock"
    assert base["POWERTOOLS_METRICS_NAMESPACE"] == "BackInStock"
    assert set(config.TableEnv.model_fields) - set(base) == {"TABLE_NAME"}
