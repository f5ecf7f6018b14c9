"""Webhooks: the public intake route, the webhook worker's role and environment, the outputs. What it shares with the
send worker (its queues, its event source) is tests/infra/test_queue_workers.py."""

from __future__ import annotations

from typing import Any

import pytest

from backinstock import config, infra_spec, registry
from backinstock.registry import Auth
from tests.infra.template import (
    POLLER,
    READ,
    SES_IDENTITIES,
    WRITE,
    Synth,
    functions_by_handler,
    grants,
    log_group_of,
    methods,
    role_grants,
    role_of,
    statements_of_role,
)

pytestmark = pytest.mark.infra

SPEC = infra_spec.WEBHOOK_QUEUE
QUEUE = SPEC.logical_id
DEAD_LETTERS = f"{SPEC.logical_id}DeadLetters"
SEND_QUEUE = infra_spec.SEND_QUEUE.logical_id
MAIN = infra_spec.MAIN_TABLE.logical_id
STATE_MACHINE = infra_spec.CAMPAIGN_WORKFLOW.logical_id
WORKER_HANDLER = "workers.webhook_worker.handler"
DEFAULT_SENDER = "alerts@example.com"

SHOP_SECRETS = "arn:AWS::Partition:secretsmanager:AWS::Region:AWS::AccountId:secret:backinstock/shops/*"


def _worker(synth: Synth) -> tuple[str, dict[str, Any]]:
    return functions_by_handler(synth)[WORKER_HANDLER]


def test_the_webhook_route_exists_and_is_public(synth: Synth) -> None:
    action = registry.by_name("receive_shopify_webhook")
    assert action.auth is Auth.PUBLIC
    method = methods(synth)[("POST", "/api/v2/external/webhooks/shopify")]
    assert method["AuthorizationType"] == "NONE"
    assert "AuthorizerId" not in method
    assert method["Integration"]["Type"] == "AWS_PROXY"


def test_worker_role_is_least_privilege(synth: Synth) -> None:
    _, props = _worker(synth)
    assert "ManagedPolicyArns" not in synth.template["Resources"][role_of(props)]["Properties"]
    granted = role_grants(synth, props)
    assert granted.pop(log_group_of(props)) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert granted == {
        MAIN: READ | WRITE,
        **{f"{MAIN}/index/{index.name}": READ for index in infra_spec.MAIN_TABLE.indexes},
        QUEUE: POLLER,
        SEND_QUEUE: {"sqs:SendMessage"},
        SHOP_SECRETS: {"secretsmanager:GetSecretValue", "secretsmanager:DeleteSecret"},
        STATE_MACHINE: {"states:StartExecution"},
        SES_IDENTITIES: {"ses:SendEmail"},
        "*": {"xray:PutTraceSegments", "xray:PutTelemetryRecords"},  # X-Ray only: no sns:Publish here
    }
    assert "LinkSecret" not in granted
    assert infra_spec.IDEMPOTENCY_TABLE.logical_id not in granted


def test_worker_starts_executions_of_the_campaign_state_machine_only(synth: Synth) -> None:
    _, props = _worker(synth)
    statements = statements_of_role(synth, role_of(props))
    starts = [s for s in statements if "states:StartExecution" in s["Action"]]
    assert [s["Resource"] for s in starts] == [{"Ref": STATE_MACHINE}]
    assert synth.template["Resources"][STATE_MACHINE]["Type"] == "AWS::StepFunctions::StateMachine"
    every_action = {a for actions in grants(statements).values() for a in actions}
    assert {a for a in every_action if a.startswith("states:")} == {"states:StartExecution"}


def test_worker_deletes_shop_secrets_only_and_mails_from_the_sender_only(synth: Synth) -> None:
    _, props = _worker(synth)
    statements = statements_of_role(synth, role_of(props))
    deleting = [s for s in statements if "secretsmanager:DeleteSecret" in s["Action"]]
    assert deleting and all(grants([s]).keys() == {SHOP_SECRETS} for s in deleting)
    (ses,) = [s for s in statements if s["Action"] == "ses:SendEmail"]
    assert ses["Condition"] == {"StringEquals": {"ses:FromAddress": DEFAULT_SENDER}}


def test_worker_environment_is_the_webhook_worker_env(synth: Synth) -> None:
    _, props = _worker(synth)
    variables = props["Environment"]["Variables"]
    # CAMPAIGN_SECONDS_PER_HOUR stays unset: the model's default (3600) is the real hour.
    assert set(variables) == set(config.WebhookWorkerEnv.model_fields) - {"CAMPAIGN_SECONDS_PER_HOUR"}
    assert variables["TABLE_NAME"] == {"Ref": MAIN}
    assert variables["SEND_QUEUE_URL"] == {"Ref": SEND_QUEUE}
    assert variables["SENDER_EMAIL"] == DEFAULT_SENDER
    assert variables["CAMPAIGN_STATE_MACHINE_ARN"] == {"Ref": STATE_MACHINE}
    assert config.WebhookWorkerEnv.model_fields["CAMPAIGN_SECONDS_PER_HOUR"].default == 3600


def test_outputs_name_the_webhook_queues(synth: Synth) -> None:
    outputs = synth.template["Outputs"]
    assert outputs["WebhookQueueUrl"]["Value"] == {"Ref": QUEUE}
    assert outputs["WebhookDeadLetterQueueUrl"]["Value"] == {"Ref": DEAD_LETTERS}
