"""Sending: the send worker's role and environment, the link secret, the outputs. What it shares with the webhook
worker (its queues, its event source) is tests/infra/test_queue_workers.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backinstock import config, infra_spec
from tests.infra.template import (
    POLLER,
    READ,
    SES_IDENTITIES,
    SKIP_BUNDLING,
    WRITE,
    Synth,
    functions_by_handler,
    log_group_of,
    role_grants,
    role_of,
    statements_of_role,
)

pytestmark = pytest.mark.infra

SPEC = infra_spec.SEND_QUEUE
QUEUE = SPEC.logical_id
DEAD_LETTERS = f"{SPEC.logical_id}DeadLetters"
SECRET = "LinkSecret"
MAIN = infra_spec.MAIN_TABLE.logical_id
RATE_LIMITS = infra_spec.RATE_LIMIT_TABLE.logical_id
WORKER_HANDLER = "workers.send_worker.handler"
DEFAULT_SENDER = "alerts@example.com"

# What the Lambda poller needs (ReceiveMessage, DeleteMessage, ChangeMessageVisibility, attributes) plus SendMessage:
# the worker enqueues the next page of a transfer itself.
QUEUE_ACTIONS = POLLER | {"sqs:SendMessage"}


def _worker(synth: Synth) -> tuple[str, dict[str, Any]]:
    return functions_by_handler(synth)[WORKER_HANDLER]


def test_worker_role_is_least_privilege(synth: Synth) -> None:
    _, props = _worker(synth)
    assert "ManagedPolicyArns" not in synth.template["Resources"][role_of(props)]["Properties"]
    granted = role_grants(synth, props)
    assert granted.pop(log_group_of(props)) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    expected = {
        MAIN: READ | WRITE,
        **{f"{MAIN}/index/{index.name}": READ for index in infra_spec.MAIN_TABLE.indexes},
        QUEUE: QUEUE_ACTIONS,
        SECRET: {"secretsmanager:GetSecretValue"},
        SES_IDENTITIES: {"ses:SendEmail"},
        # The send pace's budget items: one conditional UpdateItem (a reservation, a give-back), nothing else.
        RATE_LIMITS: {"dynamodb:UpdateItem"},
        # SMS to a phone number has no ARN; X-Ray and the account's SES quota have no resource-level permissions.
        "*": {"sns:Publish", "ses:GetSendQuota", "xray:PutTraceSegments", "xray:PutTelemetryRecords"},
    }
    assert granted == expected
    every_action = {a for actions in granted.values() for a in actions}
    assert "dynamodb:Scan" not in every_action
    assert infra_spec.IDEMPOTENCY_TABLE.logical_id not in granted
    (ses,) = [s for s in statements_of_role(synth, role_of(props)) if s["Action"] == "ses:SendEmail"]
    assert ses["Condition"] == {"StringEquals": {"ses:FromAddress": DEFAULT_SENDER}}


def test_worker_environment_is_the_worker_env(synth: Synth) -> None:
    _, props = _worker(synth)
    variables = props["Environment"]["Variables"]
    assert set(variables) == set(config.WorkerEnv.model_fields)
    assert variables["TABLE_NAME"] == {"Ref": MAIN}
    assert variables["SEND_QUEUE_URL"] == {"Ref": QUEUE}
    assert variables["LINK_SECRET_ARN"] == {"Ref": SECRET}
    assert variables["SENDER_EMAIL"] == DEFAULT_SENDER
    assert variables["RATE_LIMIT_TABLE_NAME"] == {"Ref": RATE_LIMITS}
    # The send pace's SNS rates are the stack's settings, with their documented defaults (infra_spec).
    assert variables["SMS_SEND_RATE"] == str(infra_spec.SMS_SEND_RATE) == "20"
    assert variables["PUSH_SEND_RATE"] == str(infra_spec.PUSH_SEND_RATE) == "300"
    # The API's own base URL (customer links point at the public link routes): the stage URL plus the base path.
    assert variables["PUBLIC_BASE_URL"] == synth.template["Outputs"]["ApiBaseUrl"]["Value"]
    parts = variables["PUBLIC_BASE_URL"]["Fn::Join"][1]
    assert parts[0] == "https://" and parts[-1] == "/api/v2/external"
    assert any(isinstance(p, dict) and p.get("Ref", "").startswith("ApiRestApi") for p in parts)


def test_link_secret_is_generated_unnamed_and_retained(synth: Synth) -> None:
    resource = synth.template["Resources"][SECRET]
    assert resource["Type"] == "AWS::SecretsManager::Secret"
    assert resource["DeletionPolicy"] == "Retain"
    props = resource["Properties"]
    assert "Name" not in props  # CloudFormation names it per stack: no collision between stacks or redeploys
    assert "SecretString" not in props  # never in the template
    generated = props["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32
    assert generated["ExcludePunctuation"] is True
    # No rotation: it would break the links already in customers' inboxes (acknowledged SMG4).
    assert not synth.resources("AWS::SecretsManager::RotationSchedule")


def test_outputs_name_the_queues(synth: Synth) -> None:
    outputs = synth.template["Outputs"]
    assert outputs["SendQueueUrl"]["Value"] == {"Ref": QUEUE}
    assert outputs["DeadLetterQueueUrl"]["Value"] == {"Ref": DEAD_LETTERS}


def test_sender_email_comes_from_the_context(tmp_path: Any) -> None:
    from stacks.application import build_app

    context = {**SKIP_BUNDLING, "sender_email": "restock@mail.shop.example"}
    app, stack = build_app(outdir=str(tmp_path), validation=False, checks=False, context=context)
    template = app.synth().get_stack_artifact(stack.artifact_id).template
    (worker,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == WORKER_HANDLER
    ]
    assert worker["Environment"]["Variables"]["SENDER_EMAIL"] == "restock@mail.shop.example"
    assert '"ses:FromAddress": "restock@mail.shop.example"' in json.dumps(template)


def test_a_malformed_sender_email_fails_the_synth(tmp_path: Any) -> None:
    from stacks.application import build_app

    with pytest.raises(ValueError, match="sender_email"):
        build_app(outdir=str(tmp_path), validation=False, checks=False, context={"sender_email": "not-an-address"})
