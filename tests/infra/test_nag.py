"""Every cdk-nag acknowledgment carries a reason and is listed in docs/DEPLOY.md; none hides more than it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backinstock import infra_spec, registry
from backinstock.registry import Auth
from tests.infra.template import Synth, registry_routes

pytestmark = pytest.mark.infra

DEPLOY_DOC = Path(__file__).resolve().parents[2] / "docs" / "DEPLOY.md"
RULE_ID = re.compile(r"AwsSolutions-[A-Z]+[0-9]+(?:\[[^\]`]+\])?")
SECTION = "## cdk-nag acknowledgments"


def documented_rule_ids() -> set[str]:
    text = DEPLOY_DOC.read_text()
    assert SECTION in text
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return set(RULE_ID.findall(section))


def in_main_stack_terms(synth: Synth, rule_id: str) -> str:
    """A finding on a nested stack's resource names a main-stack value by the parameter that carries it
    (`<referencetoBackInStock...Arn>`): the same finding, in the main stack's names (`<ExportBucket....Arn>`)."""
    for parameter, name in synth.parameter_names.items():
        rule_id = rule_id.replace(f"<{parameter}>", name)
    return rule_id


def acknowledgments(synth: Synth) -> dict[str, dict[str, str]]:
    """rule id (in the main stack's terms) -> {construct path: reason}"""
    out: dict[str, dict[str, str]] = {}
    for path, entries in synth.metadata.items():
        for entry in entries:
            if entry["type"] != "aws:cdk:acknowledged-rules":
                continue
            for qualified_id, reason in entry["data"].items():
                rule_id = in_main_stack_terms(synth, qualified_id.split("::", 1)[-1])
                out.setdefault(rule_id, {})[path] = reason
    return out


def test_every_acknowledgment_has_a_reason_and_is_documented(synth: Synth) -> None:
    acked = acknowledgments(synth)
    assert acked, "the stack acknowledges findings: the metadata should show them"
    for rule, where in acked.items():
        for path, reason in where.items():
            assert len(reason) > 40, f"{rule} at {path}: say why"
    assert set(acked) == documented_rule_ids()


def _route_of(construct_path: str) -> tuple[str, str]:
    """(method, API path) of a method's construct path: under the REST API (`.../RestApi/Default/api/v2/...`) or a
    nested stack's routes (`.../Routes/api.v2.external.preorders.reports/exports/...`, its first segment dotted)."""
    head, method = construct_path.rsplit("/", 1)
    if "/Default/" in head:
        return method, "/" + head.split("/Default/", 1)[1]
    first, _, rest = head.split("/Routes/", 1)[1].partition("/")
    return method, "/" + first.replace(".", "/") + ("/" + rest if rest else "")


def test_acknowledgments_sit_on_the_constructs_they_concern(synth: Synth) -> None:
    acked = acknowledgments(synth)
    # Runtime and X-Ray wildcard: per function and per role, never stack-wide.
    assert all(p.endswith("Function") for p in acked["AwsSolutions-L1"])
    assert all(p.endswith("Role") for p in acked["AwsSolutions-IAM5[Resource::*]"])
    # Public routes only, each one: the OpenAPI document and the customer links of emails; and each path's ANY
    # method, the mock that answers 405 to the methods no action declares there.
    public = {
        (action.method, action.gateway_path(path))
        for action in registry.actions()
        if action.auth is Auth.PUBLIC
        for path in action.all_paths
    }
    answers_405 = {("ANY", path) for _, path in registry_routes()}
    assert {_route_of(p) for p in acked["AwsSolutions-APIG4"]} == public | answers_405
    assert len(acked["AwsSolutions-APIG4"]) == len(public) + len(answers_405)
    assert ("GET", "/api/v2/external/openapi.json") in public
    # The dead-letter queues are the queues without a DLQ; the link key is the one unrotated secret; the SES
    # identity wildcard belongs to the two workers that mail (customers; merchants).
    assert set(acked["AwsSolutions-SQS3"]) == {
        "/BackInStock/Sending/SendQueueDeadLetters",
        "/BackInStock/Webhooks/WebhookQueueDeadLetters",
        "/BackInStock/Rollups/RollupFailures",
    }
    assert set(acked["AwsSolutions-S1"]) == {"/BackInStock/Exports/ExportBucket"}
    assert set(acked["AwsSolutions-SMG4"]) == {"/BackInStock/Sending/LinkSecret"}
    ses = "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*]"
    assert set(acked[ses]) == {
        "/BackInStock/Sending/SendWorkerRole",
        "/BackInStock/Webhooks/WebhookWorkerRole",
        "/BackInStock/Rollups/RollupAggregatorRole",
        "/BackInStock/Schedules/ScheduledReportsRole",
    }
    # Shops' Shopify secrets: the roles of the functions with Access.SHOP_SECRETS (the intake, the webhook worker).
    shop_secrets = (
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:"
        "secret:backinstock/shops/*]"
    )
    assert set(acked[shop_secrets]) == {
        "/BackInStock/Actions/Webhooks/ReceiveShopifyWebhookRole",
        "/BackInStock/Webhooks/WebhookWorkerRole",
    }
    # The state machines' roles carry the logging and tracing wildcard CDK grants them.
    from stacks.constructs.workflows import construct_name

    state_machine_roles = {f"/BackInStock/Workflows/{spec.logical_id}Role" for spec in infra_spec.STATE_MACHINES}
    task_roles = {
        f"/BackInStock/Workflows/{construct_name(module)}Role"
        for spec in infra_spec.STATE_MACHINES
        for _, module in spec.tasks
    }
    workflow_wildcards = {p for p in acked["AwsSolutions-IAM5[Resource::*]"] if p.startswith("/BackInStock/Workflows/")}
    assert workflow_wildcards == state_machine_roles | task_roles
    assert not any(p.count("/") <= 1 for where in acked.values() for p in where), "no stack-level acknowledgment"
