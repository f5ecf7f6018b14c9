"""Integration tests run the real handlers and repositories against moto, in process (`mock_aws`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backinstock import deps
from backinstock.services import shops
from backinstock_tools.local import backend, stepfunctions
from backinstock_tools.testkit import Shop, new_shop, stock
from backinstock_tools.testkit.builders import TEE, make_offer, order_payload
from backinstock_tools.testkit.drivers import ACCESS_TOKEN, WEBHOOK_SECRET, Shopify, Worker, deliver

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
def shop(aws: None) -> Shop:
    return new_shop("first-shop.myshopify.com", plan="growth")


@pytest.fixture
def other_shop(aws: None) -> Shop:
    return new_shop("second-shop.myshopify.com")


@pytest.fixture
def catalog(shop: Shop) -> dict[str, int]:
    """Two products: a tee (variants 101, 102) and a mug (variant 201): the kit's `CATALOG`."""
    return stock(shop.id)


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


@pytest.fixture
def shopify(shop: Shop, worker: Worker, monkeypatch: pytest.MonkeyPatch) -> Shopify:
    monkeypatch.setenv("CAMPAIGN_SECONDS_PER_HOUR", "0")  # batches follow each other without waiting
    deps.reset()
    shops.connect_shopify(
        deps.shops(), deps.shop_secrets(), shop.id, WEBHOOK_SECRET, ACCESS_TOKEN, email="owner@example.com"
    )
    return Shopify(shop, worker)


@pytest.fixture
def tee(shopify: Shopify) -> Shopify:
    """The shop connected, with the tee of `TEE` (variants 101 and 102, inventory items 5101 and 5102) created by
    its products/create webhook."""
    assert shopify.post("products/create", TEE)[0] == 200
    assert not shopify.process()
    return shopify


@pytest.fixture
def stream(aws: None) -> Any:
    """Plays the table stream's event source with the local run's poller: `stream.drain()` runs the rollup
    aggregator on every record written so far."""
    import os
    import threading

    from backinstock import infra_spec
    from backinstock_tools.local.pollers import StreamPoller

    return StreamPoller(os.environ["TABLE_NAME"], infra_spec.ROLLUP_CONSUMER, threading.RLock())


@pytest.fixture
def history(shopify: Shopify, catalog: dict[str, int], stream: Any) -> dict[str, Any]:
    """A preorder history through the real webhook paths, for the preorder report tests.
    Offer A: plan 7001 on variants 101 (product 10) and 201 (product 20). Offer B: plan 7002 on 102.
    - 9001 (Jo, June 3): 2 x 101 at 40.00 on A, a mug; 44.00 of the balance outstanding; 11.00 collected July 4,
      a 40.00 attempt failed July 3.
    - 9002 (Al, June 10): 1 x 102 at 40.00 on B; cancelled June 12 (inventory), 20.00 refunded June 13.
    """
    shop_id = shopify.shop.id
    offer_a = make_offer(shop_id, [7001])
    offer_b = make_offer(shop_id, [7002], name="Autumn drop", variants=[{"shopify_variant_id": 102}])
    second = order_payload(9002, email="al@example.com", created_at="2026-06-10T08:00:00Z")
    second["line_items"] = [
        {"id": 5, "variant_id": 102, "product_id": 10, "quantity": 1, "price": "40.00", "selling_plan_id": 7002}
    ]
    second.update(total_price="40.00", total_outstanding="20.00", currency="USD", presentment_currency="USD")
    second.pop("total_price_set")

    def txn(txn_id: int, order_id: int, status: str, amount: str, at: str) -> tuple[str, dict[str, Any]]:
        return "order_transactions/create", {
            "id": txn_id,
            "order_id": order_id,
            "kind": "sale",
            "status": status,
            "amount": amount,
            "processed_at": at,
            "currency": "EUR",
        }

    deliver(
        shopify,
        stream,
        ("orders/create", order_payload()),
        ("orders/create", second),
        txn(2, 9001, "error", "40.00", "2026-07-03T09:00:00Z"),
        txn(3, 9001, "success", "10.00", "2026-07-04T09:00:00Z"),
        ("orders/cancelled", {"id": 9002, "cancelled_at": "2026-06-12T00:00:00Z", "cancel_reason": "inventory"}),
        (
            "refunds/create",
            {
                "id": 77,
                "order_id": 9002,
                "created_at": "2026-06-13T00:00:00Z",
                "transactions": [
                    {"id": 78, "kind": "refund", "status": "success", "amount": "20.00", "currency": "USD"}
                ],
            },
        ),
    )
    return {"shop_id": shop_id, "api_key": shopify.shop.key, "a": offer_a, "b": offer_b}
