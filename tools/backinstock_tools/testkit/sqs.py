"""SQS as Lambda's event source shows it to a worker, and a queue read to the end."""

from __future__ import annotations

import json
import uuid
from typing import Any

SEND_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:backinstock-send"


def sqs_event(
    bodies: list[dict[str, Any]], queue_arn: str = SEND_QUEUE_ARN, region: str = "us-east-1"
) -> dict[str, Any]:
    """What Lambda's SQS event source hands a worker for these message bodies (each a new message id, first
    delivery): the local run's own event (`local.pollers.sqs_event`) of messages as ReceiveMessage returns them."""
    from backinstock_tools.local.pollers import sqs_event as event_of

    received = [
        {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": "kit",
            "Body": json.dumps(body),
            "Attributes": {"ApproximateReceiveCount": "1"},
            "MD5OfBody": "",
        }
        for body in bodies
    ]
    return event_of(received, queue_arn, region)


def receive_all(sqs: Any, queue_url: str, delete: bool = False) -> list[dict[str, Any]]:
    """Every message visible on the queue now (moto answers at once; no long polling), deleted as read with
    `delete` (moto refuses a second PurgeQueue within 60 s, as SQS does)."""
    out: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])
        messages = batch.get("Messages", [])
        if not messages:
            return out
        out.extend(messages)
        if delete:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
