"""The workers' queues alike (the send queue and the webhook queue, each with its dead-letter queue): encrypted, and
reachable over TLS only."""

from __future__ import annotations

import pytest

from backinstock import infra_spec
from tests.infra.template import Synth, queue_properties

pytestmark = pytest.mark.infra

QUEUES = [
    logical_id
    for spec in (infra_spec.SEND_QUEUE, infra_spec.WEBHOOK_QUEUE)
    for logical_id in (spec.logical_id, f"{spec.logical_id}DeadLetters")
]


@pytest.mark.parametrize("logical_id", QUEUES)
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
