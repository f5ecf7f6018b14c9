"""Per-shop rate limits through the local gateway (routing, authorizer, handler) against moto: 360 points per rolling
60 s on the default plans (GET 1, write 2), the X-RateLimit-* headers on every answer, 429 with Retry-After and
nothing executed past the limit, MCP tool calls charged like their routes, fail-open when the store fails.

The limiter's clock is injected (`deps.rate_limiter().clock`): the tests move time, they never sleep."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from backinstock import deps, registry
from backinstock.services import ratelimits, shops
from backinstock_tools.local.server import handle
from backinstock_tools.testkit import Shop, new_shop

pytestmark = pytest.mark.integration
T0 = 1_800_000_000.0  # a fixed instant; every test starts its shop's bucket full
SIGNUPS = "/back_in_stock/signups"
TAGGING = "/back_in_stock/settings/tagging"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(aws: None) -> Iterator[Clock]:
    fake = Clock()
    deps.rate_limiter().clock = fake
    yield fake


def request(
    method: str, path: str, api_key: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    """One request through the local gateway. Returns (status, json body, headers)."""
    all_headers = {"Content-Type": "application/json", "X-Auth-Token": api_key, **(headers or {})}
    response = handle(method, registry.BASE_PATH + path, all_headers, json.dumps(body) if body is not None else None)
    out = dict(response.get("headers") or {})
    out.update({k: ",".join(v) for k, v in (response.get("multiValueHeaders") or {}).items()})
    text = response.get("body")
    return int(response["statusCode"]), json.loads(text) if text else None, out


def tag(api_key: str, value: str) -> tuple[int, Any, dict[str, str]]:
    """A write (2 points) that changes one settings leaf."""
    return request("PATCH", TAGGING, api_key, {"order_tags": {"enabled": True, "tag": value}})


def stored_tag(shop: Shop) -> Any:
    leaves = deps.shops().require(shop.id).settings_leaves
    return next((v for k, v in leaves.items() if k.endswith("order_tags.tag")), None)


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> int:
    """The `growth` plan (the `shop` fixture's) at 12 points a minute: a point every 5 s, six writes empty it."""
    monkeypatch.setitem(ratelimits.PLAN_LIMITS, "growth", 12)
    return 12


def exhaust(shop: Shop, writes: int) -> None:
    assert [tag(shop.key, f"t{i}")[0] for i in range(writes)] == [200] * writes
    assert tag(shop.key, "refused")[0] == 429


def test_exactly_the_181st_write_in_a_minute_is_refused_and_changes_nothing(shop: Shop, clock: Clock) -> None:
    statuses = [tag(shop.key, f"t{i}")[0] for i in range(180)]
    assert statuses == [200] * 180
    status, body, headers = tag(shop.key, "refused")
    assert status == 429
    assert headers["Retry-After"] == "1" and body["retry_after"] == 1
    assert headers["X-RateLimit-Limit"] == "360" and headers["X-RateLimit-Remaining"] == "0"
    assert body["error_details"][0]["code"] == "rate_limited"
    assert "360 points per 60 seconds" in body["errors"][0]
    assert stored_tag(shop) == "t179"  # the refused write ran nothing
    # a GET (1 point) is refused too: the bucket is empty, not merely short of a write
    assert request("GET", TAGGING, shop.key)[0] == 429


def test_the_headers_count_down_by_the_cost_of_each_request(shop: Shop, clock: Clock) -> None:
    seen = []
    for method, body in (("GET", None), ("GET", None), ("PATCH", {"order_tags": {"enabled": False}})):
        status, _, headers = request(method, TAGGING, shop.key, body)
        assert status == 200
        seen.append((headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"], headers["X-RateLimit-Reset"]))
        assert "Retry-After" not in headers
    # 360 - 1, - 1, - 2; the bucket is full again within 1 s, 1 s, 1 s (4 points refill in 2/3 s)
    assert seen == [("360", "359", "1"), ("360", "358", "1"), ("360", "356", "1")]


def test_validation_errors_carry_the_headers_and_take_their_points(shop: Shop, clock: Clock) -> None:
    status, body, headers = request("PATCH", TAGGING, shop.key, {"order_tags": {"tag": 5}})
    assert status == 422 and body["errors"]
    assert headers["X-RateLimit-Remaining"] == "358"
    status, _, headers = request("GET", SIGNUPS + "/sig_unknown", shop.key)
    assert status == 404 and headers["X-RateLimit-Remaining"] == "357"


def test_the_window_rolls(shop: Shop, clock: Clock, small: int) -> None:
    exhaust(shop, small // 2)
    # 20 s later, 4 points came back (12 per 60 s, continuously, not all at once at a window's end): two writes
    # pass, the third does not
    clock.now += 20
    assert [tag(shop.key, f"late{i}")[0] for i in range(3)] == [200, 200, 429]
    # Retry-After is exact: a write needs 2 points, 10 s of refill; waiting less is refused, that long passes
    status, body, headers = tag(shop.key, "wait")
    assert status == 429 and headers["Retry-After"] == "10" and body["retry_after"] == 10
    clock.now += 9.9
    assert tag(shop.key, "early")[0] == 429
    clock.now += 0.1
    assert tag(shop.key, "on time")[0] == 200
    # a full minute of silence fills the bucket again
    clock.now += 60
    status, _, headers = request("GET", TAGGING, shop.key)
    assert status == 200 and headers["X-RateLimit-Remaining"] == str(small - 1)


def test_a_refused_request_writes_no_idempotency_record(
    shop: Shop, catalog: dict[str, int], clock: Clock, small: int
) -> None:
    exhaust(shop, small // 2)
    signup = {"channel": "email", "shopify_variant_id": 101, "email": "limited@example.com"}
    key = {"Idempotency-Key": "limited-1"}
    status, _, _ = request("POST", SIGNUPS, shop.key, signup, key)
    assert status == 429
    clock.now += 60
    # the same key later is a first request: created, not the replay of a stored 429
    status, body, headers = request("POST", SIGNUPS, shop.key, signup, key)
    assert status == 201 and headers["Idempotent-Replayed"] == "false", body
    status, body, _ = request("GET", SIGNUPS, shop.key)
    assert body["meta"]["total_count"] == 1


def test_shops_have_their_own_buckets_and_the_high_limit_plan_its_own_limit(
    shop: Shop, clock: Clock, small: int
) -> None:
    big = new_shop("big-shop.myshopify.com", plan="enterprise")
    exhaust(shop, small // 2)
    status, _, headers = request("GET", TAGGING, big.key)
    assert status == 200
    assert headers["X-RateLimit-Limit"] == str(ratelimits.PLAN_LIMITS["enterprise"])
    assert int(headers["X-RateLimit-Remaining"]) == ratelimits.PLAN_LIMITS["enterprise"] - 1


def test_a_rotated_key_keeps_the_plan(clock: Clock) -> None:
    big = new_shop("rotating.myshopify.com", plan="enterprise")
    rotated = shops.rotate_key(deps.shops(), big.id)
    headers = request("GET", TAGGING, rotated["api_key"])[2]
    assert headers["X-RateLimit-Limit"] == str(ratelimits.PLAN_LIMITS["enterprise"])


def test_public_routes_are_not_limited_per_shop(shop: Shop, clock: Clock) -> None:
    response = handle("GET", registry.BASE_PATH + "/openapi.json", {}, None)
    assert response["statusCode"] == 200
    names = {*(response.get("headers") or {}), *(response.get("multiValueHeaders") or {})}
    assert not {n for n in names if n.lower().startswith("x-ratelimit")}
    assert {a.name for a in registry.actions() if not a.rate_limited} == {
        a.name for a in registry.actions() if a.auth is registry.Auth.PUBLIC
    }


def _mcp(api_key: str, method: str, params: dict[str, Any] | None = None) -> tuple[int, Any, dict[str, str]]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method, **({"params": params} if params else {})}
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
    response = handle(
        "POST", registry.BASE_PATH + "/mcp", {"Content-Type": "application/json", **headers}, json.dumps(message)
    )
    out = dict(response.get("headers") or {})
    out.update({k: ",".join(v) for k, v in (response.get("multiValueHeaders") or {}).items()})
    return int(response["statusCode"]), json.loads(response["body"]), out


def test_mcp_tool_calls_take_the_points_of_their_routes(shop: Shop, clock: Clock) -> None:
    status, _, headers = _mcp(shop.key, "tools/list")
    assert status == 200 and headers["X-RateLimit-Remaining"] == "359"  # a message that is not a tool call: 1
    _, body, headers = _mcp(shop.key, "tools/call", {"name": "get_tagging_settings", "arguments": {}})
    assert body["result"]["isError"] is False and headers["X-RateLimit-Remaining"] == "358"
    arguments = {"order_tags": {"enabled": True, "tag": "via-mcp"}}
    _, body, headers = _mcp(shop.key, "tools/call", {"name": "update_tagging_settings", "arguments": arguments})
    assert body["result"]["isError"] is False and headers["X-RateLimit-Remaining"] == "356"
    # the HTTP routes and the tools share one bucket
    assert request("GET", TAGGING, shop.key)[2]["X-RateLimit-Remaining"] == "355"


def _batch(api_key: str, messages: list[dict[str, Any]]) -> tuple[int, Any, dict[str, str]]:
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json", "Content-Type": "application/json"}
    response = handle("POST", registry.BASE_PATH + "/mcp", headers, json.dumps(messages))
    out = dict(response.get("headers") or {})
    out.update({k: ",".join(v) for k, v in (response.get("multiValueHeaders") or {}).items()})
    return int(response["statusCode"]), json.loads(response["body"]), out


def test_each_message_of_an_mcp_batch_takes_its_points(shop: Shop, clock: Clock) -> None:
    listing = [{"jsonrpc": "2.0", "id": n, "method": "tools/list"} for n in range(20)]
    status, body, headers = _batch(shop.key, listing)
    assert status == 200 and len(body) == 20 and headers["X-RateLimit-Remaining"] == "340"
    call = {"jsonrpc": "2.0", "id": 99, "method": "tools/call", "params": {"name": "get_tagging_settings"}}
    status, body, headers = _batch(shop.key, [listing[0], call])
    assert status == 200 and headers["X-RateLimit-Remaining"] == "338"  # 1 for the listing, 1 for the GET tool


def test_a_refused_shop_gets_429_for_a_batch_too(shop: Shop, clock: Clock, small: int) -> None:
    exhaust(shop, small // 2)
    listing = [{"jsonrpc": "2.0", "id": n, "method": "tools/list"} for n in range(3)]
    status, body, headers = _batch(shop.key, listing)
    assert status == 429 and headers["Retry-After"] and body["retry_after"] >= 1, body


def test_an_mcp_batch_over_the_documented_maximum_is_refused_before_it_costs(shop: Shop, clock: Clock) -> None:
    listing = [{"jsonrpc": "2.0", "id": n, "method": "ping"} for n in range(21)]
    status, body, headers = _batch(shop.key, listing)
    assert status == 400 and "at most 20" in body["error"]["message"]
    assert "X-RateLimit-Remaining" not in headers


def test_an_mcp_tool_call_past_the_limit_is_a_429_tool_error_that_runs_nothing(
    shop: Shop, clock: Clock, small: int
) -> None:
    exhaust(shop, small // 2)
    arguments = {"order_tags": {"enabled": True, "tag": "via-mcp"}}
    status, body, headers = _mcp(shop.key, "tools/call", {"name": "update_tagging_settings", "arguments": arguments})
    assert status == 200 and headers["X-RateLimit-Remaining"] == "0" and "Retry-After" not in headers
    result = body["result"]
    assert result["isError"] is True
    assert result["structuredContent"]["status"] == 429 and result["structuredContent"]["retry_after"] == 10
    assert stored_tag(shop) == f"t{small // 2 - 1}"


def test_one_conditional_update_per_request(shop: Shop, clock: Clock) -> None:
    calls: Counter[str] = Counter()

    def count(params: dict[str, Any], **_: Any) -> None:
        if params.get("TableName") == deps.rate_limiter().store.table_name:  # type: ignore[attr-defined]
            calls["limiter"] += 1

    client = deps.shops().client
    client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", count)
    try:
        for i in range(20):
            tag(shop.key, f"t{i}")
            request("GET", TAGGING, shop.key)
            clock.now += 2  # the bucket fills between some of them (the full form), not between others (busy)
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb.UpdateItem", count)
    assert calls["limiter"] == 40


def test_the_limiter_fails_open_when_its_table_fails(
    shop: Shop, clock: Clock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A real DynamoDB error from the store (the table is gone): the request runs, the headers still come, and the
    # failure is counted by the metric the stack alarms on.
    monkeypatch.setattr(deps.rate_limiter().store, "table_name", "backinstock-ratelimits-missing")
    capsys.readouterr()
    status, _, headers = tag(shop.key, "despite")
    assert status == 200 and stored_tag(shop) == "despite"
    assert headers["X-RateLimit-Limit"] == "360" and headers["X-RateLimit-Remaining"] == "358"
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "RateLimitStoreErrors" in line]
    assert [m["RateLimitStoreErrors"] for m in metrics] == [[1.0]]
    assert metrics[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
