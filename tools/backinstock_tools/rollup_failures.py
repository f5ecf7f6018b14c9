"""`backinstock reports failures`: which shops the stream records on `RollupFailures` belong to (the runbook of
`RollupFailuresAlarm`, docs/DEPLOY.md).

Each message is Lambda's description of a stream batch the aggregator gave up on (`DDBStreamBatchInfo`: the shard,
the first and last sequence numbers, when they arrived), not the records. While the stream still holds them (24 h)
the records are read back (GetShardIterator AT_SEQUENCE_NUMBER, GetRecords up to the last sequence number) and their
keys name the shops (`SHOP#<id>...`). Once trimmed, the shops cannot be told: the message says so, and the runbook
rebuilds every shop.

Messages are received with a visibility timeout (so that one run reads each once) and made visible again after;
`clear` deletes only those whose shops were all rebuilt (or, with `all_rebuilt`, every message read), so a failure
that arrives meanwhile stays for the next run.
"""

from __future__ import annotations

import json
from typing import Any

VISIBILITY_SECONDS = 60
_MAX_EMPTY_PAGES = 3


def read(sqs: Any, streams: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue (hidden for `VISIBILITY_SECONDS` while read), each with its batch and `shops` (a
    sorted list, or None when the stream no longer holds the records) and its `receipt`."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=VISIBILITY_SECONDS, WaitTimeSeconds=0
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            return out
        for message in fresh:
            seen.add(message["MessageId"])
            body = json.loads(message["Body"])
            batch = body.get("DDBStreamBatchInfo") or {}
            out.append(
                {
                    "message_id": message["MessageId"],
                    "receipt": message["ReceiptHandle"],
                    "condition": (body.get("requestContext") or {}).get("condition"),
                    "batch": batch,
                    "shops": shops_of(streams, batch) if batch else None,
                }
            )


def shops_of(streams: Any, batch: dict[str, Any]) -> list[str] | None:
    """The shops of the records from the batch's first to its last sequence number; None when the stream no longer
    holds them."""
    first, last = batch["startSequenceNumber"], int(batch["endSequenceNumber"])
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=batch["streamArn"],
            ShardId=batch["shardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=first,
        )["ShardIterator"]
    except (streams.exceptions.TrimmedDataAccessException, streams.exceptions.ResourceNotFoundException):
        return None
    shops: set[str] = set()
    empty = 0
    while iterator and empty < _MAX_EMPTY_PAGES:
        response = streams.get_records(ShardIterator=iterator, Limit=1000)
        records = response.get("Records", [])
        empty = 0 if records else empty + 1
        for record in records:
            if int(record["dynamodb"]["SequenceNumber"]) > last:
                return sorted(shops)
            pk = record["dynamodb"]["Keys"]["PK"]["S"]
            if pk.startswith("SHOP#"):
                shops.add(pk.split("#")[1])
        iterator = response.get("NextShardIterator")
    return sorted(shops)


def clear(sqs: Any, queue_url: str, messages: list[dict[str, Any]], rebuilt: set[str], all_rebuilt: bool) -> int:
    """Delete the messages whose shops were all rebuilt. Returns how many."""
    done = [m for m in messages if all_rebuilt or (m["shops"] is not None and set(m["shops"]) <= rebuilt)]
    for message in done:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["receipt"])
    release(sqs, queue_url, [m for m in messages if m not in done])
    return len(done)


def release(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> None:
    """Make messages read visible again at once (the next `reports failures` reads them)."""
    for start in range(0, len(messages), 10):
        entries = [
            {"Id": str(i), "ReceiptHandle": m["receipt"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
