"""The event sources, one step at a time: the queues' batches through their workers, the workflows' tasks, the
table stream into the rollup aggregator, with the faults of each source (redelivery, expired visibility,
kills, replayed, bisected and reordered stream batches).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections.abc import Callable
from typing import Any

from backinstock_tools.chaos.model import FAULTED_ATTEMPTS, Killed, Run
from backinstock_tools.chaos.operations import _client_ops


# ---------------------------------------------------------------------------------------------------- driving
def _drive(r: Run) -> None:
    ops = _client_ops(r)
    steps: dict[str, Callable[[], bool]] = {
        "send": lambda: _queue_tick(r, "send"),
        "webhook": lambda: _queue_tick(r, "webhook"),
        "campaign": lambda: _campaign_tick(r),
        "export": lambda: _export_tick(r),
        "stream": lambda: _stream_tick(r),
    }
    idle = 0
    while True:
        r.faults.tick += 1
        if r.faults.tick % 500 == 0:
            r.say(
                f"{len(ops)} client operations left, {r.figures['stream_records']} stream records applied, "
                f"{len(r.faults.delivered)} messages delivered"
            )
        if ops and r.rng.random() < 0.25:
            ops.pop(0)()
            idle = 0
            continue
        name = r.rng.choice(sorted(steps))
        if steps[name]():
            idle = 0
            continue
        idle += 1
        if not ops and idle > 10 and not any(step() for step in steps.values()):
            if _delayed_messages(r):
                r.idle.append(r.faults.clock.time())
                r.faults.clock.sleep(1)  # virtual: the delayed messages come due without waiting
                r.figures["idle_virtual_seconds"] += 1
                continue
            return


_POLLERS: dict[str, Any] = {}


def _poller(url: str, handler: str) -> Any:
    from backinstock_tools.testkit.drivers import driven_poller

    key = f"{url}|{handler}"
    if key not in _POLLERS:
        _POLLERS[key] = driven_poller(url, handler)
    return _POLLERS[key]


def _queue_tick(r: Run, kind: str) -> bool:
    """One batch of a queue through its worker, as Lambda's event source would hand it over, with the faults."""
    url = os.environ["SEND_QUEUE_URL" if kind == "send" else "WEBHOOK_QUEUE_URL"]
    handler = "workers.send_worker" if kind == "send" else "workers.webhook_worker"
    poller = _poller(url, handler)
    messages = poller.client.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageSystemAttributeNames=["All"]
    ).get("Messages", [])
    if not messages:
        return False
    r.figures[f"{kind}_batches"] += 1
    if kind == "webhook":
        for m in messages:
            r.webhook_messages[json.loads(m["Body"]).get("event_id", "?")].add(m["MessageId"])
    receives = max(int(m["Attributes"].get("ApproximateReceiveCount", 1)) for m in messages)
    allowed = receives <= FAULTED_ATTEMPTS
    f = r.faults
    every = {m["MessageId"] for m in messages}
    if allowed and f.chance("sqs_delivered_twice"):  # a second consumer got the batch too and ran it first
        f.hit("sqs_delivered_twice")
        with f.invocation(kind, True, kill="worker_killed"), contextlib.suppress(Killed):
            poller.invoke(messages)
    with f.invocation(kind, allowed, kill="worker_killed"):
        if allowed and f.chance("sqs_visibility_expired"):
            target = r.rng.choice(messages)
            f.interleave_at = r.rng.randint(1, 4)
            f.interleave = lambda: _nested_consumer(kind, target)
        try:
            failed = poller.invoke(messages)
            module = _worker_module(kind)
            for record, exc in zip(module.processor.fail_messages, module.processor.exceptions, strict=False):
                r.causes[record.message_id] = f"{exc[0].__name__}: {exc[1]}"[:160]
        except Killed as killed:
            failed = every
            for m in messages:
                r.causes[m["MessageId"]] = f"Killed: {killed}"
    succeeded = [m for m in messages if m["MessageId"] not in failed]
    if succeeded:
        poller._delete(succeeded)
    back = [m for m in messages if m["MessageId"] in failed]
    if back:
        poller.client.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(back)
            ],
        )
        r.figures[f"{kind}_messages_retried"] += len(back)
    if kind == "webhook" or f.scope is None:
        _discover_workflows(r)
    return True


def _worker_module(kind: str) -> Any:
    if kind == "send":
        from backinstock.workers import send

        return send
    from backinstock.workers import webhooks

    return webhooks


def _nested_consumer(kind: str, message: dict[str, Any]) -> None:
    """The message's visibility timeout expired while the first consumer still works on it: another consumer
    receives it and runs it to the end, in the middle of the first one's work."""
    module = _worker_module(kind)
    with contextlib.suppress(Exception):
        module.handle_message(json.loads(message["Body"]))


def _delayed_messages(r: Run) -> int:
    from backinstock import aws

    total = 0
    for name in ("SEND_QUEUE_URL", "WEBHOOK_QUEUE_URL"):
        attributes = aws.client("sqs").get_queue_attributes(
            QueueUrl=os.environ[name],
            AttributeNames=["ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        total += sum(int(v) for v in attributes.values())
    return total


# ----------------------------------------------------------------------------------------------- workflows
def _discover_workflows(r: Run) -> None:
    """Executions started since the last look: moto records them (not executing them); their tasks run here."""
    from backinstock import aws

    sfn = aws.client("stepfunctions")
    for variable, target in (("CAMPAIGN_STATE_MACHINE_ARN", r.campaigns), ("EXPORT_STATE_MACHINE_ARN", r.exports)):
        executions = sfn.list_executions(stateMachineArn=os.environ[variable])["executions"]
        for e in sorted(executions, key=lambda e: e["name"]):
            if e["executionArn"] in r.known_executions:
                continue
            r.known_executions.add(e["executionArn"])
            state = json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])
            target.append({"state": state, "attempts": 0})


def _task(r: Run, module: str, event: dict[str, Any], allowed: bool) -> dict[str, Any]:
    from backinstock import dispatch

    handler = dispatch.handler_for(module)
    with r.faults.invocation("workflow", allowed, kill="workflow_task_killed"):
        result: dict[str, Any] = handler(event, dispatch.LambdaContext(module))
        return result


def _campaign_tick(r: Run) -> bool:
    """One SendBatch of the campaign workflow; Retry on any task failure (States.TaskFailed, 4 attempts), then
    the Catch: Abandon."""
    _discover_workflows(r)
    if not r.campaigns:
        return False
    run_ = r.campaigns[0]
    state = run_["state"]
    try:
        state = _task(
            r, "workflows.campaign_step", {"phase": "batch", "campaign": state}, run_["attempts"] < FAULTED_ATTEMPTS
        )
    except (Exception, Killed) as exc:
        run_["attempts"] += 1
        r.figures["campaign_step_retries"] += 1
        if run_["attempts"] > 4:
            error = {"Error": type(exc).__name__, "Cause": str(exc)}
            with contextlib.suppress(Exception, Killed):
                _task(r, "workflows.campaign_step", {"phase": "abandon", "campaign": {**state, "error": error}}, False)
            r.campaigns.pop(0)
            r.figures["campaigns_abandoned"] += 1
        return True
    run_["attempts"] = 0
    run_["state"] = state
    r.figures["campaign_steps"] += 1
    if state.get("done"):
        r.campaigns.pop(0)
    return True


def _export_tick(r: Run) -> bool:
    """One step of the export workflow. Its Retry covers only Lambda service errors: a failed task goes to the
    Catch (RecordFailure, retried 3 times), which records the failure and aborts the upload."""
    _discover_workflows(r)
    if not r.exports:
        return False
    run_ = r.exports.pop(0)
    job = run_["state"]
    try:
        result = _task(r, "workflows.export_step", {"phase": "run", "job": job}, True)
    except (Exception, Killed) as exc:
        failed = {**job, "error": {"Error": type(exc).__name__, "Cause": str(exc)}}
        for _ in range(4):
            try:
                _task(r, "workflows.export_step", {"phase": "fail", "job": failed}, False)
                break
            except (Exception, Killed):  # noqa: S112 (RecordFailure's own Retry: the next attempt)
                continue
        r.figures["exports_failed"] += 1
        return True
    if not result.get("done"):
        r.exports.append({"state": result, "attempts": 0})
    else:
        r.figures["exports_done"] += 1
    return True


# ------------------------------------------------------------------------------------------------ the stream
def _read_stream(r: Run) -> None:
    """The records written since the last read, filtered as the event source's filter does. Read from moto's shard
    in process: its GetRecords answer is the same list, but moto's response serializer costs ~0.4 s a call."""
    from backinstock import infra_spec

    items = _shard().items
    for record in items[r.stream_offset :]:
        body = record.to_json()
        image = body["dynamodb"].get("NewImage") or body["dynamodb"].get("OldImage") or {}
        if image.get("entity", {}).get("S") in infra_spec.ROLLUP_CONSUMER.entities:
            copied = copy.deepcopy(body)
            created = copied["dynamodb"].get("ApproximateCreationDateTime")
            if created is not None and not isinstance(created, int | float):
                copied["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
            r.stream_pending.append(copied)
    r.stream_offset = len(items)


def _shard() -> Any:
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    from backinstock_tools.local import backend

    return get_backend("dynamodb")[DEFAULT_ACCOUNT_ID][backend.REGION].tables[os.environ["TABLE_NAME"]].stream_shard


def _stream_arn() -> str:
    from backinstock import aws

    return str(aws.client("dynamodb").describe_table(TableName=os.environ["TABLE_NAME"])["Table"]["LatestStreamArn"])


def _shop_of(record: dict[str, Any]) -> str:
    return str(record["dynamodb"].get("Keys", {}).get("PK", {}).get("S", "")).split("#")[1:2][0]


def _stream_tick(r: Run) -> bool:
    """One stream batch to the aggregator: in order, or one shop's records ahead of another's (as shards of
    different partitions are read in any order), bisected, replayed; killed mid-batch."""
    from backinstock import infra_spec

    _read_stream(r)
    if not r.stream_pending:
        return False
    f, rng = r.faults, r.rng
    size = infra_spec.ROLLUP_CONSUMER.batch_size
    order = [s.shop_id for s in r.shops]
    shops = sorted({_shop_of(x) for x in r.stream_pending}, key=lambda shop: order.index(shop) if shop in order else -1)
    if len(shops) > 1 and f.chance("stream_reordered"):
        chosen = rng.choice(shops)
        if chosen != _shop_of(r.stream_pending[0]):
            f.hit("stream_reordered")
        batch = [x for x in r.stream_pending if _shop_of(x) == chosen][:size]
    else:
        batch = r.stream_pending[:size]
    taken = {id(x) for x in batch}
    r.stream_pending = [x for x in r.stream_pending if id(x) not in taken]
    if len(batch) > 1 and f.chance("stream_bisected"):
        f.hit("stream_bisected")
        cut = rng.randint(1, len(batch) - 1)
        _deliver(r, batch[:cut])
        _deliver(r, batch[cut:])
    else:
        _deliver(r, batch)
    if f.chance("stream_replayed"):
        f.hit("stream_replayed")
        _deliver(r, batch)
    r.figures["stream_records"] += len(batch)
    return True


def _deliver(r: Run, records: list[dict[str, Any]]) -> None:
    """Lambda's stream event source: retry from the first failed record, up to the consumer's retry limit; then
    the record is given up (in AWS: described on the on-failure queue, alarmed)."""
    from backinstock import dispatch, infra_spec
    from backinstock_tools.local.pollers import failures_of, stream_event

    spec = infra_spec.ROLLUP_CONSUMER
    handler = dispatch.handler_for(spec.handler)
    attempts = 0
    while records:
        sequence = [x["dynamodb"]["SequenceNumber"] for x in records]
        cause = ""
        with r.faults.invocation("stream", attempts < FAULTED_ATTEMPTS, kill="stream_killed"):
            try:
                response = handler(stream_event(records, r.stream_arn), dispatch.LambdaContext(spec.handler))
                failed = failures_of(response, set(sequence))
                cause = "batchItemFailures"
            except Killed as killed:
                failed, cause = set(sequence), f"Killed: {killed}"
            except Exception as error:  # a function error: Lambda retries the whole batch
                failed, cause = set(sequence), f"function error: {type(error).__name__}"
        r.figures["stream_invocations"] += 1
        if not failed:
            return
        start = min(sequence.index(s) for s in failed)
        attempts += 1
        if attempts > spec.retry_attempts:
            r.stream_failures.append(f"{records[start]['eventID']} ({_shop_of(records[start])}): {cause}")
            records, attempts = records[start + 1 :], 0
        else:
            records = records[start:]
