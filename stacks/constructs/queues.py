"""A work queue and its dead-letter queue, built one way for every queue the stack has (send, webhooks).

Both queues: SSE-SQS, TLS only. The dead-letter queue keeps messages 14 days (the SQS maximum: time to find the
cause and redrive); the work queue's visibility timeout is 6 worker timeouts (AWS's advice for Lambda event
sources: the poller may retry a throttled invocation with the same batch, and its messages must not become visible
to another worker meanwhile). Logical IDs are pinned to the spec: queues hold messages in flight, and a moved
construct must never replace them (the messages would be lost).
"""

from __future__ import annotations

from aws_cdk import CfnResource, Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from backinstock.infra_spec import QueueSpec
from stacks.nag import acknowledge, checkov_skip

DEAD_LETTER_RETENTION = Duration.days(14)  # the SQS maximum


def dead_letters_id(spec: QueueSpec) -> str:
    return f"{spec.logical_id}DeadLetters"


CHECKOV_SSE_SQS_REASON = (
    "Encrypted at rest with SSE-SQS (SqsManagedSseEnabled), which this check does not recognise: it asks for a KMS "
    "key. Messages carry ids, not contact data."
)


def queue_with_dead_letters(scope: Construct, spec: QueueSpec, *, purpose: str) -> tuple[sqs.Queue, sqs.Queue]:
    """(queue, dead-letter queue) for `spec`, created in `scope`. `purpose`: what the queue carries, for the
    dead-letter queue's acknowledgment ("the send queue")."""
    dead_letter_queue = sqs.Queue(
        scope,
        dead_letters_id(spec),
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=DEAD_LETTER_RETENTION,
    )
    queue = sqs.Queue(
        scope,
        spec.logical_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(spec.retention_days),
        visibility_timeout=Duration.seconds(spec.visibility_timeout_seconds),
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letter_queue, max_receive_count=spec.max_receive_count),
    )
    pin(queue, spec.logical_id)
    pin(dead_letter_queue, dead_letters_id(spec))
    for each in (queue, dead_letter_queue):
        checkov_skip(each, "CKV_AWS_27", CHECKOV_SSE_SQS_REASON)
    acknowledge(
        dead_letter_queue,
        "AwsSolutions-SQS3",
        f"This is the dead-letter queue of {purpose}: it has no dead-letter queue of its own, and an alarm fires on "
        "its first message.",
    )
    return queue, dead_letter_queue


def pin(construct: Construct, logical_id: str) -> None:
    """Fix the CloudFormation logical ID of `construct`'s resource, whatever its construct path."""
    resource = construct.node.default_child
    assert isinstance(resource, CfnResource)
    resource.override_logical_id(logical_id)
