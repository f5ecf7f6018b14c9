"""Background pollers of the local run: they play Lambda's SQS and DynamoDB Streams event sources.

A poller long-polls one queue, hands each batch to the worker's handler as the very event Lambda's event source
mapping sends (`sqs_event`), deletes the records that succeeded and leaves the failed ones (`batchItemFailures`,
or every record when the handler raises) on the queue. In AWS a failed record becomes visible again after the
queue's visibility timeout (minutes); locally its visibility is cut to a short backoff so the retry happens in
seconds. After the queue's maxReceiveCount receives, the redrive policy moves the message to the dead-letter
queue (moto applies it on the next receive, as SQS does).

moto's own event source mapping is not used: it deletes messages even when the handler reports failures.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable
from typing import Any, Self

from backinstock import aws, dispatch, infra_spec

logger = logging.getLogger("backinstock_tools.local.pollers")

Handler = Callable[[dict[str, Any], Any], Any]


def _message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """ReceiveMessage's `MessageAttributes` in the event's spelling (lower camel case, binary as base64)."""
    converted: dict[str, Any] = {}
    for name, value in attributes.items():
        binary = value.get("BinaryValue")
        converted[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
            "stringListValues": list(value.get("StringListValues", [])),
            "binaryListValues": [base64.b64encode(b).decode() for b in value.get("BinaryListValues", [])],
            "dataType": value["DataType"],
        }
    return converted


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source sends for a batch of messages received with ReceiveMessage."""
    records = []
    for message in messages:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": _message_attributes(message.get("MessageAttributes", {})),
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}


def failures_of(response: Any, batch: set[str]) -> set[str]:
    """The failed message ids of a handler's answer, as Lambda reads it with ReportBatchItemFailures: no answer,
    an empty answer or an empty list means every record succeeded; an answer Lambda cannot read, or a failure that
    names no message of the batch, fails the whole batch."""
    if response is None or response == {}:
        return set()
    if not isinstance(response, dict):
        return batch
    failures = response.get("batchItemFailures")
    if failures is None or failures == []:
        return set()
    if not isinstance(failures, list):
        return batch
    named = {f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures}
    if not named <= batch:
        return batch
    return {str(n) for n in named}


class _PollLoop:
    """A poll loop on a daemon thread, as Lambda's event source mappings poll: `start` checks the source
    (`_check`, so a missing queue or stream fails at start, not in the thread) and runs `_poll` until `stop`. A poll
    that raises is logged and retried a second later: a poller survives a failed AWS call."""

    _failure = "a poll failed"

    def _init_loop(self, thread_name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    def _check(self) -> None:
        """Fail now when the source is missing."""

    def _poll(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._check()
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the poll in progress."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._poll()
            except Exception:
                logger.exception("%s: %s", self._thread.name, self._failure)
                self._stop.wait(1)


class QueuePoller(_PollLoop):
    """Long-polls `queue_url` on a daemon thread and runs `handler_module`'s handler (a Lambda entry point under
    `functions/`, imported as Lambda imports it) on each batch, holding `lock` while the handler runs."""

    def __init__(
        self,
        queue_url: str,
        handler_module: str,
        lock: threading.RLock,
        *,
        batch_size: int = 10,
        wait_seconds: int = 1,
        retry_base_seconds: int = 1,
        retry_max_seconds: int = 2,
        client: Any = None,
    ) -> None:
        self.queue_url = queue_url
        self.handler_module = handler_module
        self.function_name = handler_module.rsplit(".", 1)[-1]
        self.lock = lock
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        self._client = client
        self._queue_arn: str | None = None
        self.max_receive_count: int | None = None  # from the queue's redrive policy
        self._init_loop(f"poller-{self.function_name}")

    @property
    def client(self) -> Any:
        return self._client or aws.client("sqs")

    @property
    def queue_arn(self) -> str:
        if self._queue_arn is None:
            attributes = self.client.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["QueueArn", "RedrivePolicy"]
            )["Attributes"]
            self._queue_arn = str(attributes["QueueArn"])
            if attributes.get("RedrivePolicy"):
                self.max_receive_count = int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])
        return self._queue_arn

    @property
    def region(self) -> str:
        return str(self.queue_arn.split(":")[3])

    # ------------------------------------------------------------------------------------------------ lifecycle
    _failure = "receive or acknowledge failed"

    def _check(self) -> None:
        self.queue_arn  # noqa: B018 (reads the queue's attributes: fails when the queue is missing)

    def _poll(self) -> None:
        self.poll_once()  # a receive waits at most `wait_seconds`

    # ------------------------------------------------------------------------------------------------- one batch
    def poll_once(self) -> dict[str, int]:
        """Receive one batch, run the handler, delete successes, back off failures. Returns the counts."""
        messages = self.client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return {"received": 0, "succeeded": 0, "failed": 0}
        failed_ids = self.run_batch(messages)
        return {"received": len(messages), "succeeded": len(messages) - len(failed_ids), "failed": len(failed_ids)}

    def run_batch(self, messages: list[dict[str, Any]]) -> set[str]:
        """Run the handler on received messages, delete the successes, back the failures off. Returns the ids of
        the failed messages."""
        failed_ids = self.invoke(messages)
        succeeded = [m for m in messages if m["MessageId"] not in failed_ids]
        failed = [m for m in messages if m["MessageId"] in failed_ids]
        if succeeded:
            self._delete(succeeded)
        if failed:
            self._back_off(failed)
        return failed_ids

    def invoke(self, messages: list[dict[str, Any]]) -> set[str]:
        """Run the handler on the batch as Lambda would. Returns the ids of the messages that failed: the
        handler's `batchItemFailures`, or the whole batch when it raises (Powertools raises when every record
        fails) or answers something else."""
        every = {m["MessageId"] for m in messages}
        event = sqs_event(messages, self.queue_arn, self.region)
        handler: Handler = dispatch.handler_for(self.handler_module)
        try:
            with self.lock:
                response = handler(event, dispatch.LambdaContext(self.function_name))
        except Exception:
            logger.warning(
                "poller %s: the handler raised; the whole batch will be retried", self.function_name, exc_info=True
            )
            return every
        return failures_of(response, every)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        response = self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        for failure in response.get("Failed", []):
            logger.warning("poller %s: could not delete a processed message: %s", self.function_name, failure)

    def backoff_seconds(self, receive_count: int) -> int:
        """Doubling from `retry_base_seconds` up to `retry_max_seconds` (by default 1, 2, 2, 2 s): locally a failed
        message is retried within seconds rather than after the queue's visibility timeout, and one that keeps
        failing reaches the dead-letter queue within about ten seconds."""
        return int(min(self.retry_base_seconds * 2 ** max(receive_count - 1, 0), self.retry_max_seconds))

    def _back_off(self, messages: list[dict[str, Any]]) -> None:
        entries = []
        for i, message in enumerate(messages):
            received = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
            delay = self.backoff_seconds(received)
            last = self.max_receive_count is not None and received >= self.max_receive_count
            logger.warning(
                "poller %s: message %s failed (receive %s of %s); %s",
                self.function_name,
                message["MessageId"],
                received,
                self.max_receive_count or "unlimited",
                "the redrive policy moves it to the dead-letter queue" if last else f"retrying in {delay} s",
            )
            entries.append({"Id": str(i), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": delay})
        self.client.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)


# The local run's event sources: (environment variable of the queue URL, worker entry point, queue spec). A new
# queue with a worker adds one line here, as it adds one event source to the CDK stack.
EVENT_SOURCES: tuple[tuple[str, str, infra_spec.QueueSpec], ...] = (
    ("SEND_QUEUE_URL", "workers.send_worker", infra_spec.SEND_QUEUE),
    ("WEBHOOK_QUEUE_URL", "workers.webhook_worker", infra_spec.WEBHOOK_QUEUE),
)


def start_pollers(env: dict[str, str], lock: threading.RLock) -> list[QueuePoller]:
    """One started poller per event source, each with its queue's batch size."""
    return [
        QueuePoller(env[variable], handler, lock, batch_size=spec.batch_size).start()
        for variable, handler, spec in EVENT_SOURCES
    ]


# ------------------------------------------------------------------------------------------ DynamoDB Streams
def stream_event(records: list[dict[str, Any]], stream_arn: str) -> dict[str, Any]:
    """The event Lambda's DynamoDB Streams event source sends for records read with GetRecords."""
    out = []
    for record in records:
        body = dict(record["dynamodb"])
        created = body.get("ApproximateCreationDateTime")
        if created is not None and not isinstance(created, int | float):
            body["ApproximateCreationDateTime"] = int(created.timestamp())
        out.append(
            {**{k: v for k, v in record.items() if k != "dynamodb"}, "dynamodb": body, "eventSourceARN": stream_arn}
        )
    return {"Records": out}


class StreamPoller(_PollLoop):
    """Reads every shard of a table's stream from its start and runs the consumer's handler on batches of records,
    as Lambda's event source mapping does: a failed record (`batchItemFailures`: its sequence number, or the whole
    batch when the handler raises) is retried from there, up to `retry_attempts` times, then skipped with a warning
    (in AWS: described on the on-failure queue)."""

    def __init__(
        self,
        table_name: str,
        spec: infra_spec.StreamConsumerSpec,
        lock: threading.RLock,
        *,
        interval_seconds: float = 0.5,
        client: Any = None,
    ) -> None:
        self.table_name = table_name
        self.spec = spec
        self.lock = lock
        self.interval_seconds = interval_seconds
        self._client = client
        self._iterators: dict[str, str | None] = {}
        self._attempts: dict[str, int] = {}
        self._stream_arn: str | None = None
        self.empty_polls = 0  # polls that found every shard read to its end (`caught_up` waits for one)
        self._init_loop(f"stream-{spec.handler}")

    @property
    def client(self) -> Any:
        return self._client or aws.client("dynamodbstreams")

    @property
    def stream_arn(self) -> str:
        if self._stream_arn is None:
            table = aws.client("dynamodb").describe_table(TableName=self.table_name)["Table"]
            self._stream_arn = str(table["LatestStreamArn"])
        return self._stream_arn

    _failure = "a read failed"

    def _check(self) -> None:
        self.stream_arn  # noqa: B018 (fails when the table has no stream)

    def _poll(self) -> None:
        if not self.poll_once():
            self.empty_polls += 1
            self._stop.wait(self.interval_seconds)

    def caught_up(self, timeout: float) -> bool:
        """Wait until a poll that starts from now finds nothing left to read. False after `timeout` seconds."""
        import time

        deadline = time.monotonic() + timeout
        seen = self.empty_polls
        while self.empty_polls < seen + 2:  # the poll in progress may have started before the caller's writes
            if time.monotonic() > deadline or self._stop.is_set():
                return False
            time.sleep(0.1)
        return True

    def drain(self, rounds: int = 50) -> int:
        """Poll until no shard has records left (tests). Returns how many records were handed to the handler."""
        total = 0
        for _ in range(rounds):
            handled = self.poll_once()
            if not handled:
                return total
            total += handled
        return total

    def poll_once(self) -> int:
        """One GetRecords per shard, each non-empty batch through the handler. Returns the records handled."""
        handled = 0
        shards = self.client.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self.client.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            iterator = self._iterators[shard_id]
            if iterator is None:
                continue
            response = self.client.get_records(ShardIterator=iterator, Limit=self.spec.batch_size)
            records = response.get("Records", [])
            if not records:
                self._iterators[shard_id] = response.get("NextShardIterator")
                continue
            handled += len(records)
            delivered = [r for r in records if self.wanted(r)]  # the event source's filter
            failed_at = self._invoke(delivered) if delivered else None
            if failed_at is None:
                self._iterators[shard_id] = response.get("NextShardIterator")
                continue
            attempts = self._attempts.get(failed_at, 0) + 1
            self._attempts[failed_at] = attempts
            if attempts > self.spec.retry_attempts:
                logger.warning(
                    "stream poller %s: record %s failed %s times; skipped (in AWS: the on-failure queue)",
                    self.spec.handler,
                    failed_at,
                    attempts,
                )
                self._iterators[shard_id] = self.client.get_shard_iterator(
                    StreamArn=self.stream_arn,
                    ShardId=shard_id,
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    SequenceNumber=failed_at,
                )["ShardIterator"]
            else:
                self._iterators[shard_id] = self.client.get_shard_iterator(
                    StreamArn=self.stream_arn,
                    ShardId=shard_id,
                    ShardIteratorType="AT_SEQUENCE_NUMBER",
                    SequenceNumber=failed_at,
                )["ShardIterator"]
        return handled

    def wanted(self, record: dict[str, Any]) -> bool:
        """The event source's filter: only records of the consumer's entities reach the handler."""
        body = record.get("dynamodb") or {}
        image = body.get("NewImage") or body.get("OldImage") or {}
        return image.get("entity", {}).get("S") in self.spec.entities

    def invoke(self, records: list[dict[str, Any]]) -> Any:
        """Hand a batch to the handler, as Lambda does. Returns its answer."""
        handler: Handler = dispatch.handler_for(self.spec.handler)
        with self.lock:
            return handler(stream_event(records, self.stream_arn), dispatch.LambdaContext(self.spec.handler))

    def _invoke(self, records: list[dict[str, Any]]) -> str | None:
        """The sequence number to retry from, or None when the batch succeeded."""
        sequence = [r["dynamodb"]["SequenceNumber"] for r in records]
        try:
            response = self.invoke(records)
        except Exception:
            logger.warning("stream poller %s: the handler raised; retrying the batch", self.spec.handler, exc_info=True)
            return sequence[0]
        failed = failures_of(response, set(sequence))
        if not failed:
            return None
        return min(failed, key=sequence.index)


def start_stream_pollers(table_name: str, lock: threading.RLock) -> list[StreamPoller]:
    """One started poller per stream consumer of the stack (infra_spec.STREAM_CONSUMERS)."""
    return [StreamPoller(table_name, spec, lock).start() for spec in infra_spec.STREAM_CONSUMERS]
