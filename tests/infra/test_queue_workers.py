"""What every queue worker is (`stacks.constructs.queue_workers.QueueWorker`), for each of them: the send worker and
the webhook worker. Their roles, environments and outputs differ: tests/infra/test_sending.py, test_webhooks.py."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.constructs.queue_workers import WorkerSpec
from stacks.constructs.sending import SEND_WORKER
from stacks.constructs.webhooks import WEBHOOK_WORKER
from tests.infra.template import Synth, function_of_module, queue_properties, role_grants

pytestmark = pytest.mark.infra

WORKERS = [SEND_WORKER, WEBHOOK_WORKER]
# The logical IDs as deployed: a queue holds messages in flight (a changed ID replaces it and loses them); the
# worker's function, role and event source follow from the construct path (`Sending/SendWorker...`).
DEPLOYED_IDS = {
    SEND_WORKER.name: {
        "SendQueue",
        "SendQueueDeadLetters",
        "SendingSendWorkerRole3EF97164",
        "SendingSendWorkerRoleDefaultPolicy2E686CCD",
        "SendingSendWorkerFunction4365049E",
        "SendingSendWorkerFunctionSqsEventSourceBackInStockSendingSendQueue027E66A4CFB34BE8",
    },
    WEBHOOK_WORKER.name: {
        "WebhookQueue",
        "WebhookQueueDeadLetters",
        "WebhooksWebhookWorkerRole12D87FFA",
        "WebhooksWebhookWorkerRoleDefaultPolicyB211A651",
        "WebhooksWebhookWorkerFunction0DE8E91A",
        "WebhooksWebhookWorkerFunctionSqsEventSourceBackInStockWebhooksWebhookQueue0CA1C584DC0C1DF7",
    },
}
by_name = pytest.mark.parametrize("spec", WORKERS, ids=lambda s: s.name)


def _worker(synth: Synth, spec: WorkerSpec) -> tuple[str, dict[str, Any]]:
    return function_of_module(synth, spec.handler)


@by_name
def test_logical_ids_are_the_deployed_ones(synth: Synth, spec: WorkerSpec) -> None:
    assert DEPLOYED_IDS[spec.name] <= set(synth.main.template["Resources"])
    worker, _ = _worker(synth, spec)
    assert worker in DEPLOYED_IDS[spec.name]


@by_name
def test_worker_has_the_spec_timeout(synth: Synth, spec: WorkerSpec) -> None:
    _, props = _worker(synth, spec)
    assert props["Timeout"] == spec.queue.worker_timeout_seconds
    assert props["MemorySize"] >= 512
    assert props["TracingConfig"] == {"Mode": "Active"}


@by_name
def test_worker_consumes_its_queue_in_batches_with_partial_failures(synth: Synth, spec: WorkerSpec) -> None:
    worker, _ = _worker(synth, spec)
    (mapping,) = [
        m["Properties"]
        for m in synth.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": worker}
    ]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [spec.queue.logical_id, "Arn"]}
    assert mapping["BatchSize"] == spec.queue.batch_size
    # Without it, one failing record makes the whole batch visible again and every other record is redone.
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == spec.max_concurrency
    assert 2 <= spec.max_concurrency <= 10  # 2: the minimum SQS accepts; 10: the send worker's share
    assert mapping.get("Enabled", True) is True


@by_name
def test_queue_redrives_to_its_dead_letterqueue_properties(synth: Synth, spec: WorkerSpec) -> None:
    dead_letters_id = f"{spec.queue.logical_id}DeadLetters"
    queue = queue_properties(synth, spec.queue.logical_id)
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dead_letters_id, "Arn"]},
        "maxReceiveCount": spec.queue.max_receive_count,
    }
    assert queue["MessageRetentionPeriod"] == spec.queue.retention_days * 86400
    dead_letters = queue_properties(synth, dead_letters_id)
    assert dead_letters["MessageRetentionPeriod"] == 14 * 86400
    assert "RedrivePolicy" not in dead_letters
    # The dead letters must outlive the retries: a message's age counts from its first enqueue.
    assert dead_letters["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]


@by_name
def test_visibility_timeout_is_six_worker_timeouts(synth: Synth, spec: WorkerSpec) -> None:
    _, worker = _worker(synth, spec)
    queue = queue_properties(synth, spec.queue.logical_id)
    assert queue["VisibilityTimeout"] == spec.queue.visibility_timeout_seconds == 6 * worker["Timeout"]


@pytest.mark.parametrize(
    "logical_id", [q for s in WORKERS for q in (s.queue.logical_id, f"{s.queue.logical_id}DeadLetters")]
)
def test_queues_are_encrypted_and_take_only_tls(synth: Synth, logical_id: str) -> None:
    assert queue_properties(synth, logical_id)["SqsManagedSseEnabled"] is True
    (policy,) = [
        p["Properties"]
        for p in synth.resources("AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": logical_id}]
    ]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@by_name
def test_worker_role_has_no_managed_policy_and_never_scans(synth: Synth, spec: WorkerSpec) -> None:
    from tests.infra.template import role_of

    _, props = _worker(synth, spec)
    assert "ManagedPolicyArns" not in synth.template["Resources"][role_of(props)]["Properties"]
    every_action = {a for actions in role_grants(synth, props).values() for a in actions}
    assert "dynamodb:Scan" not in every_action


def test_an_environment_variable_the_worker_does_not_read_fails_the_synth() -> None:
    from aws_cdk import App, Stack

    from stacks.constructs.queue_workers import QueueWorker

    worker = QueueWorker(Stack(App(), "Probe"), "Sending", spec=SEND_WORKER)
    with pytest.raises(RuntimeError, match="WorkerEnv does not read"):
        worker.add_worker(functions=None, environment={"SENDR_EMAIL": "a@example.com"})  # type: ignore[arg-type]


def test_a_worker_outside_the_worker_handlers_is_refused() -> None:
    with pytest.raises(RuntimeError, match="WORKER_HANDLERS"):
        WorkerSpec(**{**SEND_WORKER.__dict__, "handler": "workers.nowhere"})
