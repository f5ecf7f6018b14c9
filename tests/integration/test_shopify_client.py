"""The Shopify Admin client against `FakeShopify` over real HTTP (urllib3 -> socket -> http.server).

Nothing of the client is mocked: the fake answers as Shopify does (status codes, `Retry-After`, THROTTLED with its
cost block), and an injected `sleep` records the waits the client computed instead of sleeping, so the retry policy
is asserted by counts and durations, never by wall time. No moto needed; sockets are allowed in this layer.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator

import pytest

from backinstock.providers.shopify import (
    ShopifyAdmin,
    ShopifyAuthError,
    ShopifyError,
    ShopifyThrottled,
    ShopifyUserError,
)
from backinstock_tools.local.shopify_fake import FakeShopify

pytestmark = pytest.mark.integration

SHOP = "first-shop.myshopify.com"
TOKEN = "shpat_0123456789abcdef0123456789abcdef"
OTHER_SHOP = "second-shop.myshopify.com"
OTHER_TOKEN = "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"


class Sleeps(list[float]):
    """An injected `sleep`: records each requested wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify({TOKEN: SHOP, OTHER_TOKEN: OTHER_SHOP}) as server:
        yield server


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def client(fake: FakeShopify, sleeps: Sleeps, *, token: str = TOKEN, max_attempts: int = 5) -> ShopifyAdmin:
    return ShopifyAdmin(SHOP, token, base_url=fake.base_url, max_attempts=max_attempts, sleep=sleeps)


def test_tags_are_added_to_the_order_and_visible_in_the_fake(fake: FakeShopify, sleeps: Sleeps) -> None:
    fake.add_order(1001, shop=SHOP, tags={"vip"})

    added = client(fake, sleeps).add_order_tags(1001, ["back-in-stock", " restock-alert ", "back-in-stock"])

    assert added == ["back-in-stock", "restock-alert"]
    assert fake.tags(1001) == {"vip", "back-in-stock", "restock-alert"}
    assert sleeps == []


def test_the_request_carries_the_token_header_the_order_gid_and_the_api_version(
    fake: FakeShopify, sleeps: Sleeps
) -> None:
    shopify = ShopifyAdmin(SHOP, TOKEN, base_url=fake.base_url, api_version="2025-10", sleep=sleeps)

    shopify.add_order_tags("4567", ["restock"])
    shopify.add_order_tags("gid://shopify/Order/4568", ["restock"])

    first, second = fake.requests
    assert first["path"] == "/admin/api/2025-10/graphql.json"
    assert first["headers"]["x-shopify-access-token"] == TOKEN
    assert first["headers"]["content-type"] == "application/json"
    assert first["shop"] == SHOP
    assert "tagsAdd(id: $id, tags: $tags)" in first["body"]["query"]
    assert first["body"]["variables"] == {"id": "gid://shopify/Order/4567", "tags": ["restock"]}
    assert second["body"]["variables"]["id"] == "gid://shopify/Order/4568"
    assert fake.tags(4567) == fake.tags(4568) == {"restock"}


def test_the_endpoint_defaults_to_the_shop_domain_over_https() -> None:
    assert ShopifyAdmin(SHOP, TOKEN).url == f"https://{SHOP}/admin/api/2025-07/graphql.json"


def test_an_order_id_that_is_not_one_is_refused_before_any_request(fake: FakeShopify, sleeps: Sleeps) -> None:
    shopify = client(fake, sleeps)

    for bad in ("gid://shopify/Product/1", "12a", ""):
        with pytest.raises(ValueError, match="not a Shopify order id"):
            shopify.add_order_tags(bad, ["x"])

    assert fake.requests == []


def test_no_tags_means_no_request(fake: FakeShopify, sleeps: Sleeps) -> None:
    assert client(fake, sleeps).add_order_tags(1, [" ", ""]) == []
    assert fake.requests == []


def test_http_429_is_retried_after_retry_after_seconds(fake: FakeShopify, sleeps: Sleeps) -> None:
    fake.fail_next("http_429", times=2)  # Retry-After: 0
    fake.fail_next("http_429", retry_after="3")
    fake.fail_next("http_429", retry_after=None)  # no header: 1 s

    assert client(fake, sleeps).add_order_tags(7, ["restock"]) == ["restock"]

    assert len(fake.requests) == 5
    assert sleeps == [0.0, 0.0, 3.0, 1.0]
    assert fake.tags(7) == {"restock"}


def test_http_5xx_is_retried_with_exponential_backoff_capped_at_8_seconds(fake: FakeShopify, sleeps: Sleeps) -> None:
    fake.fail_next("http_500", times=6)

    client(fake, sleeps, max_attempts=7).add_order_tags(8, ["restock"])

    assert len(fake.requests) == 7
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert fake.tags(8) == {"restock"}


def test_graphql_throttling_waits_for_the_bucket_to_refill(fake: FakeShopify, sleeps: Sleeps) -> None:
    fake.fail_next("throttled")  # the fake's tiny deficit (0.001 s): the 0.5 s floor applies
    fake.fail_next("throttled", requested_cost=500, currently_available=100, restore_rate=100)  # 400 / 100 = 4 s
    fake.fail_next("throttled", requested_cost=1000, currently_available=250, restore_rate=50)  # 750 / 50 = 15 s

    client(fake, sleeps).add_order_tags(9, ["restock"])

    assert len(fake.requests) == 4
    assert sleeps == [0.5, 4.0, 15.0]
    assert fake.tags(9) == {"restock"}


def test_mixed_failures_are_each_retried_by_their_own_rule(fake: FakeShopify, sleeps: Sleeps) -> None:
    fake.fail_next("http_500")
    fake.fail_next("throttled", requested_cost=300, currently_available=100, restore_rate=100)
    fake.fail_next("http_429", retry_after="2")

    client(fake, sleeps).add_order_tags(10, ["restock"])

    assert len(fake.requests) == 4
    assert sleeps == [0.5, 2.0, 2.0]


def test_connection_errors_are_retried_then_reported(sleeps: Sleeps) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    shopify = ShopifyAdmin(SHOP, TOKEN, base_url=f"http://127.0.0.1:{port}", max_attempts=4, sleep=sleeps)

    with pytest.raises(ShopifyError, match="failed after 4 attempts") as caught:
        shopify.add_order_tags(11, ["restock"])

    assert not isinstance(caught.value, ShopifyThrottled)
    assert "connection error" in str(caught.value)
    assert caught.value.status is None
    assert sleeps == [0.5, 1.0, 2.0]


def test_gives_up_after_max_attempts_without_a_last_sleep(fake: FakeShopify, sleeps: Sleeps) -> None:
    fake.fail_next("http_500", times=10)

    with pytest.raises(ShopifyError, match="failed after 3 attempts") as caught:
        client(fake, sleeps, max_attempts=3).add_order_tags(12, ["restock"])

    assert type(caught.value) is ShopifyError
    assert caught.value.status == 500
    assert caught.value.attempts == 3
    assert "HTTP 500" in str(caught.value)
    assert len(fake.requests) == 3
    assert sleeps == [0.5, 1.0]
    assert fake.tags(12) == set()


def test_still_throttled_after_max_attempts_raises_shopify_throttled(fake: FakeShopify, sleeps: Sleeps) -> None:
    fake.fail_next("throttled", times=2)
    fake.fail_next("http_429", times=1)

    with pytest.raises(ShopifyThrottled, match="failed after 3 attempts"):
        client(fake, sleeps, max_attempts=3).add_order_tags(13, ["restock"])

    assert len(fake.requests) == 3
    assert sleeps == [0.5, 0.5]


@pytest.mark.parametrize(
    ("setup", "status"),
    [
        (lambda fake: None, 401),  # the client's token is not one the fake knows
        (lambda fake: fake.fail_next("http_403"), 403),
    ],
)
def test_a_rejected_token_is_not_retried_and_never_quoted(
    fake: FakeShopify, sleeps: Sleeps, setup: Callable[[FakeShopify], None], status: int
) -> None:
    token = "shpat_revoked_0000000000000000" if status == 401 else TOKEN
    setup(fake)

    with pytest.raises(ShopifyAuthError) as caught:
        client(fake, sleeps, token=token).add_order_tags(14, ["restock"])

    message = str(caught.value)
    assert f"HTTP {status}" in message
    assert "access token" in message
    assert "backinstock shops connect-shopify" in message
    assert token not in message
    assert token not in repr(caught.value.args)
    assert caught.value.status == status
    assert len(fake.requests) == 1
    assert sleeps == []
    assert fake.tags(14) == set()


def test_user_errors_raise_shopify_user_error_with_shopifys_messages(fake: FakeShopify, sleeps: Sleeps) -> None:
    fake.fail_next("user_error")

    with pytest.raises(ShopifyUserError) as caught:
        client(fake, sleeps).add_order_tags(15, ["restock"])

    assert caught.value.messages == ["Scripted user error (FakeShopify)"]
    assert caught.value.user_errors == [{"field": ["tags"], "message": "Scripted user error (FakeShopify)"}]
    assert "Scripted user error" in str(caught.value)
    assert len(fake.requests) == 1  # not retried
    assert sleeps == []
    assert fake.tags(15) == set()


def test_an_unknown_order_is_a_user_error(sleeps: Sleeps) -> None:
    with FakeShopify({TOKEN: SHOP}, auto_create_orders=False) as fake:
        fake.add_order(16)

        client(fake, sleeps).add_order_tags(16, ["restock"])
        with pytest.raises(ShopifyUserError, match="Order does not exist"):
            client(fake, sleeps).add_order_tags(17, ["restock"])

        assert fake.orders == {16: {"restock"}}


def test_an_order_of_another_shop_does_not_exist_for_this_token(fake: FakeShopify, sleeps: Sleeps) -> None:
    fake.add_order(18, shop=OTHER_SHOP)

    with pytest.raises(ShopifyUserError, match="Order does not exist"):
        client(fake, sleeps).add_order_tags(18, ["restock"])

    assert fake.tags(18) == set()


def test_other_graphql_errors_raise_shopify_error_with_shopifys_messages(fake: FakeShopify, sleeps: Sleeps) -> None:
    with pytest.raises(ShopifyError, match="Field 'shop' doesn't exist on type 'QueryRoot'") as caught:
        client(fake, sleeps).graphql("{ shop { name } }")

    assert type(caught.value) is ShopifyError
    assert len(fake.requests) == 1
    assert sleeps == []


def test_retries_log_one_warning_each_and_never_the_token(
    fake: FakeShopify, sleeps: Sleeps, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.fail_next("http_429")
    fake.fail_next("http_500")
    fake.fail_next("throttled")
    shopify = client(fake, sleeps)

    with caplog.at_level(logging.DEBUG):
        shopify.add_order_tags(19, ["restock"])
        with pytest.raises(ShopifyAuthError):
            client(fake, sleeps, token="shpat_wrong_token_1111111111").add_order_tags(19, ["restock"])

    warnings = [record for record in caplog.records if record.name.endswith("backinstock.providers.shopify")]
    assert [(r.levelname, r.attempt, r.reason, r.wait_seconds) for r in warnings] == [  # type: ignore[attr-defined]
        ("WARNING", 1, "HTTP 429 Too Many Requests", 0.0),
        ("WARNING", 2, "HTTP 500", 1.0),
        ("WARNING", 3, "GraphQL THROTTLED", 0.5),
    ]
    captured = capsys.readouterr()
    everything = caplog.text + captured.out + captured.err + "".join(repr(vars(r)) for r in caplog.records)
    assert TOKEN not in everything
    assert "shpat_wrong_token_1111111111" not in everything
    assert TOKEN not in repr(shopify)
