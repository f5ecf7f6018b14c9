"""Integration tests run the real handlers and repositories against moto, in process (`mock_aws`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backinstock import deps
from backinstock.services import shops
from backinstock_tools.local import backend, stepfunctions

pytestmark = pytest.mark.integration


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    env = backend.local_environment("http://unused")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # mock_aws intercepts in process; no endpoint
    deps.reset()
    with mock_aws(config=stepfunctions.MOTO_CONFIG):  # type: ignore[arg-type]
        stepfunctions.enable()
        for name, value in backend.create_resources().items():
            monkeypatch.setenv(name, value)
        deps.reset()
        yield
    deps.reset()


@pytest.fixture
def shop(aws: None) -> dict[str, Any]:
    return shops.create_shop(deps.shops(), "first-shop.myshopify.com", plan="growth")


@pytest.fixture
def other_shop(aws: None) -> dict[str, Any]:
    return shops.create_shop(deps.shops(), "second-shop.myshopify.com")


@pytest.fixture
def catalog(shop: dict[str, Any]) -> dict[str, int]:
    """Two products: a tee (variants 101, 102) and a mug (variant 201)."""
    repo = deps.catalog()
    repo.put_variant(shop["shop_id"], 101, 10, "Small / Blue", "Classic Tee", "classic-tee")
    repo.put_variant(shop["shop_id"], 102, 10, "Large / Blue", "Classic Tee", "classic-tee")
    repo.put_variant(shop["shop_id"], 201, 20, "Default Title", "Camp Mug", "camp-mug")
    return {"small": 101, "large": 102, "mug": 201}


class Worker:
    """Plays Lambda's SQS event source with the local run's poller (`backinstock_tools.local.pollers`), driven by the
    test: failed records go back on the queue visible at once, so a test can redeliver them when it wants."""

    def __init__(self) -> None:
        import os
        import threading

        from backinstock_tools.local.pollers import QueuePoller

        self.sqs = deps.queue().client
        self.url = os.environ["SEND_QUEUE_URL"]
        self.poller = QueuePoller(
            self.url,
            "workers.send_worker",
            threading.RLock(),
            wait_seconds=0,
            retry_base_seconds=0,
            retry_max_seconds=0,
        )

    def pending(self) -> list[dict[str, Any]]:
        from tests.helpers import receive_all

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


@pytest.fixture
def worker(aws: None) -> Worker:
    return Worker()


@pytest.fixture
def outbox(aws: None) -> Any:
    """What moto's SES and SNS received: `outbox.emails()` and `outbox.sms()`."""
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    class Outbox:
        def emails(self) -> list[Any]:
            """Every email; one sent as a MIME message (restock emails, with their List-Unsubscribe fields) is
            shown like the others: `subject`, `body` (the HTML part), `destinations`, plus its `headers`."""
            return [
                raw_email(m) if hasattr(m, "raw_data") else m
                for m in get_backend("ses")[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
            ]

        def sms(self) -> list[tuple[str, str]]:
            return list(get_backend("sns")[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values())

    return Outbox()


def raw_email(message: Any) -> Any:
    import email
    import email.policy
    from types import SimpleNamespace

    parsed = email.message_from_string(message.raw_data, policy=email.policy.default)
    html = parsed.get_body(preferencelist=("html",))
    return SimpleNamespace(
        id=message.id,
        source=message.source,
        destinations={"ToAddresses": list(message.destinations)},
        subject=str(parsed["Subject"]),
        body=html.get_content() if html is not None else "",
        headers={name: str(value) for name, value in parsed.items()},
        raw_data=message.raw_data,
    )


@pytest.fixture
def atomic_dynamodb(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each DynamoDB call atomic, as DynamoDB's are, for tests that race threads: moto's are not (a cancelled
    transaction restores a copy of the whole table, undoing a concurrent winner; a Query can iterate a dict that
    another thread's write resizes). Threads still interleave between calls, which is where our races are."""
    import threading

    client = deps.shops().client
    original = client._make_api_call
    one_call_at_a_time = threading.Lock()

    def atomic(*args: Any, **kwargs: Any) -> Any:
        with one_call_at_a_time:
            return original(*args, **kwargs)

    monkeypatch.setattr(client, "_make_api_call", atomic)


WEBHOOK_SECRET = "whsec-test-0123456789abcdef"
ACCESS_TOKEN = "shpat_test_0123456789abcdef"


class Shopify:
    """Plays Shopify for a connected shop: signed webhook deliveries through the real intake route, then the
    webhook worker (the local run's poller), the campaign workflow (moto runs it) and the send worker."""

    def __init__(self, shop: dict[str, Any], worker: Worker) -> None:
        import os
        import threading

        from backinstock_tools.local.pollers import QueuePoller

        self.shop = shop
        self.domain = shop["domain"]
        self.send_worker = worker
        self.events = 0
        self.url = os.environ["WEBHOOK_QUEUE_URL"]
        self.poller = QueuePoller(
            self.url,
            "workers.webhook_worker",
            threading.RLock(),
            wait_seconds=0,
            retry_base_seconds=0,
            retry_max_seconds=0,
        )

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

        from backinstock.services.webhooks import signature
        from tests.helpers import call

        self.events += 1
        body = json.dumps(payload)
        headers = {
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": domain or self.domain,
            "X-Shopify-Hmac-Sha256": signature(secret, body.encode()),
            "X-Shopify-Event-Id": event_id or f"evt-{self.events}",
            "X-Shopify-Triggered-At": "2026-11-27T10:00:00Z",
        }
        headers = {k: v for k, v in headers.items() if k not in drop}
        return call("POST", "/webhooks/shopify", raw_body=raw_body if raw_body is not None else body, headers=headers)

    def queued(self) -> list[dict[str, Any]]:
        from tests.helpers import receive_all

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


@pytest.fixture
def shopify(shop: dict[str, Any], worker: Worker, monkeypatch: pytest.MonkeyPatch) -> Shopify:
    monkeypatch.setenv("CAMPAIGN_SECONDS_PER_HOUR", "0")  # batches follow each other without waiting
    deps.reset()
    shops.connect_shopify(
        deps.shops(), deps.shop_secrets(), shop["shop_id"], WEBHOOK_SECRET, ACCESS_TOKEN, email="owner@example.com"
    )
    return Shopify(shop, worker)


@pytest.fixture
def stream(aws: None) -> Any:
    """Plays the table stream's event source with the local run's poller: `stream.drain()` runs the rollup
    aggregator on every record written so far."""
    import os
    import threading

    from backinstock import infra_spec
    from backinstock_tools.local.pollers import StreamPoller

    return StreamPoller(os.environ["TABLE_NAME"], infra_spec.ROLLUP_CONSUMER, threading.RLock())
