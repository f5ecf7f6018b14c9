"""Drivers of the local run's event sources for a test or a bench in `moto.mock_aws`: the send worker (`Worker`) and
Shopify (`Shopify`: signed webhook deliveries through the real intake route, then the webhook worker, the campaign
workflow and the send worker), each driven by its caller, a batch at a time."""

from __future__ import annotations

from typing import Any

from backinstock import deps
from backinstock_tools.testkit.builders import webhook_headers
from backinstock_tools.testkit.gateway import call
from backinstock_tools.testkit.shops import Shop
from backinstock_tools.testkit.sqs import receive_all

WEBHOOK_SECRET = "whsec-test-0123456789abcdef"  # noqa: S105 (a test shop's made-up secret)
ACCESS_TOKEN = "shpat_test_0123456789abcdef"  # noqa: S105


def driven_poller(queue_url: str, worker: str) -> Any:
    """The local run's queue poller for `worker`, driven by its caller: no long polling, and a failed record
    visible again at once."""
    import threading

    from backinstock_tools.local.pollers import QueuePoller

    return QueuePoller(queue_url, worker, threading.RLock(), wait_seconds=0, retry_base_seconds=0, retry_max_seconds=0)


class Worker:
    """Plays Lambda's SQS event source with the local run's poller (`backinstock_tools.local.pollers`), driven by the
    test: failed records go back on the queue visible at once, so a test can redeliver them when it wants."""

    def __init__(self) -> None:
        import os

        self.sqs = deps.queue().client
        self.url = os.environ["SEND_QUEUE_URL"]
        self.poller = driven_poller(self.url, "workers.send_worker")

    def pending(self) -> list[dict[str, Any]]:
        return receive_all(self.sqs, self.url)

    def run(self, messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """One batch through the worker (the messages given, or every visible one). Returns the failures."""
        messages = self.pending() if messages is None else messages
        failed = self.poller.run_batch(messages) if messages else set()
        return {"batchItemFailures": [{"itemIdentifier": i} for i in sorted(failed)]}

    def drain(self, rounds: int = 10) -> None:
        for _ in range(rounds):
            if not self.run()["batchItemFailures"] and not self.pending_count():
                return

    def pending_count(self) -> int:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]
        return int(attributes["ApproximateNumberOfMessages"])


class Shopify:
    """Plays Shopify for a connected shop: signed webhook deliveries through the real intake route, then the
    webhook worker (the local run's poller), the campaign workflow (moto runs it) and the send worker."""

    def __init__(self, shop: Shop, worker: Worker) -> None:
        import os

        self.shop = shop
        self.domain = shop.domain
        self.send_worker = worker
        self.events = 0
        self.url = os.environ["WEBHOOK_QUEUE_URL"]
        self.poller = driven_poller(self.url, "workers.webhook_worker")

    def post(
        self,
        topic: str,
        payload: dict[str, Any],
        *,
        event_id: str | None = None,
        secret: str = WEBHOOK_SECRET,
        domain: str | None = None,
        raw_body: str | None = None,
        drop: tuple[str, ...] = (),
    ) -> tuple[int, Any]:
        import json

        self.events += 1
        body = json.dumps(payload)
        headers = webhook_headers(
            topic,
            domain or self.domain,
            secret,
            body,
            event_id or f"evt-{self.events}",
            triggered_at="2026-11-27T10:00:00Z",
        )
        headers = {k: v for k, v in headers.items() if k not in drop}
        return call("POST", "/webhooks/shopify", raw_body=raw_body if raw_body is not None else body, headers=headers)

    def queued(self) -> list[dict[str, Any]]:
        return receive_all(deps.queue().client, self.url)

    def process(self) -> set[str]:
        """Run every queued webhook through the worker. Returns the ids of failed messages."""
        messages = self.queued()
        return self.poller.run_batch(messages) if messages else set()

    def finish_campaigns(self, timeout: float = 60) -> list[dict[str, Any]]:
        """Wait for every campaign execution to end (moto runs them on threads) and return their descriptions."""
        import os
        import time

        sfn = deps.campaigns().workflow.client
        arn = os.environ["CAMPAIGN_STATE_MACHINE_ARN"]
        deadline = time.monotonic() + timeout
        while True:
            executions = sfn.list_executions(stateMachineArn=arn)["executions"]
            if all(e["status"] != "RUNNING" for e in executions):
                return [sfn.describe_execution(executionArn=e["executionArn"]) for e in executions]
            if time.monotonic() > deadline:
                raise AssertionError("campaign executions still running")
            time.sleep(0.05)

    def run_all(self) -> None:
        """Webhooks, then campaigns, then sends."""
        self.process()
        self.finish_campaigns()
        self.send_worker.drain()


def deliver(shopify: Shopify, stream: Any, *events: tuple[str, dict[str, Any]]) -> None:
    """Each (topic, payload) delivered and queued, every queued webhook processed, then the stream's records
    aggregated (`stream`: the local run's `StreamPoller`)."""
    for topic, payload in events:
        status, body = shopify.post(topic, payload)
        assert status == 200 and body["status"] == "queued", body
    assert not shopify.process()
    stream.drain()
