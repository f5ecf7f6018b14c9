"""MCP through the local gateway (routing, Bearer authorizer, handler) against moto: the tools are the HTTP
actions, with the same schemas, the same answers, the same errors and the same shop isolation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backinstock import deps, registry
from backinstock.infra_spec import UNAUTHORIZED_MESSAGE
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
UNAUTHORIZED = (401, [UNAUTHORIZED_MESSAGE])
BAD_CHANNELS = {"sms": {"enabled": "yes"}, "email": {"enabled": False}, "fax": {"enabled": True}}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"}


def rpc(key: str, method: str, params: dict[str, Any] | None = None, message_id: int = 1) -> tuple[int, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": message_id, "method": method}
    if params is not None:
        message["params"] = params
    return call("POST", "/mcp", body=message, headers=bearer(key))


def tool(key: str, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    status, body = rpc(key, "tools/call", {"name": name, "arguments": arguments or {}})
    assert status == 200, body
    result: dict[str, Any] = body["result"]
    assert json.loads(result["content"][0]["text"]) == result.get("structuredContent")
    return result


def errors_of(response: tuple[int, Any]) -> tuple[int, list[str]]:
    """The gateway's 401: status and messages (its request id differs per request)."""
    status, body = response
    return status, body["errors"]


def stored_leaves(shop: Shop) -> dict[str, Any]:
    return deps.shops().require(shop.id).settings_leaves


def test_the_handshake_over_the_gateway(shop: Shop) -> None:
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    status, body = rpc(shop.key, "initialize", params)
    assert status == 200 and body["result"]["protocolVersion"] == "2025-11-25"
    notification = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert call("POST", "/mcp", body=notification, headers=bearer(shop.key)) == (202, None)


def test_tools_are_the_registry_and_their_schemas_are_what_help_shows(shop: Shop) -> None:
    status, body = rpc(shop.key, "tools/list")
    assert status == 200
    tools = {t["name"]: t for t in body["result"]["tools"]}
    assert list(tools) == [a.name for a in registry.actions() if a.mcp_tool]

    status, help_body = call("GET", "/help", shop.key)
    assert status == 200
    request_schemas = {a["name"]: a["request_schema"] for a in help_body["actions"]}
    assert set(tools) == set(request_schemas) - {a.name for a in registry.actions() if not a.mcp_tool}
    for name, entry in tools.items():
        assert entry["inputSchema"] == request_schemas[name], name


def test_get_settings_tool_returns_the_same_json_as_the_http_get(shop: Shop) -> None:
    call("PATCH", "/back_in_stock/settings/delivery", shop.key, {"stock_threshold": 4})
    status, expected = call("GET", "/back_in_stock/settings", shop.key)
    assert status == 200
    result = tool(shop.key, "get_settings")
    assert result["isError"] is False
    assert result["structuredContent"] == expected


def test_a_patch_tool_writes_what_the_http_patch_would(shop: Shop) -> None:
    result = tool(shop.key, "update_delivery_settings", {"batching": {"enabled": True, "batch_size": 50}})
    assert result["isError"] is False
    assert result["structuredContent"]["batching"]["batch_size"] == 50
    assert call("GET", "/back_in_stock/settings/delivery", shop.key) == (200, result["structuredContent"])


def test_a_bad_patch_tool_call_is_an_error_result_with_the_http_422_and_writes_nothing(shop: Shop) -> None:
    before = stored_leaves(shop)
    result = tool(shop.key, "update_channels_settings", BAD_CHANNELS)
    status, http_body = call("PATCH", "/back_in_stock/settings/channels", shop.key, BAD_CHANNELS)

    assert status == 422
    assert result["isError"] is True
    envelope = result["structuredContent"]
    assert envelope["status"] == 422
    assert envelope["errors"] == http_body["errors"]
    assert envelope["error_details"] == http_body["error_details"]
    assert {d["field"] for d in envelope["error_details"]} == {"sms.enabled", "fax"}
    assert envelope["request_id"]
    assert stored_leaves(shop) == before


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Basic abc"},
        {"X-Auth-Token": "placeholder"},  # the route's identity source is Authorization, as in API Gateway
    ],
)
def test_a_missing_or_wrong_bearer_is_401(shop: Shop, headers: dict[str, str]) -> None:
    headers = {k: (shop.key if v == "placeholder" else v) for k, v in headers.items()}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_settings"}}
    assert errors_of(call("POST", "/mcp", body=message, headers=headers)) == UNAUTHORIZED


def test_a_rotated_key_stops_working_for_mcp(shop: Shop) -> None:
    from backinstock.services import shops

    shops.rotate_key(deps.shops(), shop.id)
    assert errors_of(rpc(shop.key, "ping")) == UNAUTHORIZED


def test_each_key_reads_and_writes_its_own_shop(shop: Shop, other_shop: Shop) -> None:
    tool(shop.key, "update_compliance_settings", {"optin_required": True})
    tool(other_shop.key, "update_tagging_settings", {"order_tags": {"tag": "theirs"}})

    mine = tool(shop.key, "get_settings")["structuredContent"]
    theirs = tool(other_shop.key, "get_settings")["structuredContent"]
    assert mine["compliance"]["optin_required"] is True and mine["tagging"]["order_tags"]["tag"] != "theirs"
    assert theirs["compliance"]["optin_required"] is False and theirs["tagging"]["order_tags"]["tag"] == "theirs"
    assert call("GET", "/back_in_stock/settings", other_shop.key) == (200, theirs)


def test_get_and_delete_on_the_mcp_path_are_not_routes(shop: Shop) -> None:
    """Stateless: no SSE stream to GET and no session to DELETE. The gateway answers 405 (the path's one method is
    POST)."""
    for method in ("GET", "DELETE"):
        status, body = call(method, "/mcp", headers=bearer(shop.key))
        assert status == 405 and body["errors"] == [f"{method} is not allowed on this path; allowed: POST"]


def test_waitlist_tools_run_the_same_code_as_http(shop: Shop, catalog: dict[str, int]) -> None:
    key = shop.key
    created = tool(key, "create_signup", {"channel": "email", "shopify_variant_id": 101, "email": "mcp@example.com"})
    assert not created["isError"]
    signup = created["structuredContent"]
    assert call("GET", f"/back_in_stock/signups/{signup['id']}", key) == (200, signup)
    listed = tool(key, "list_signups", {"variant_id": 101, "per_page": 10, "from": "2000-01-01"})
    assert [s["id"] for s in listed["structuredContent"]["signups"]] == [signup["id"]]
    again = tool(key, "create_signup", {"channel": "email", "shopify_variant_id": 101, "email": "mcp@example.com"})
    assert again["isError"] and again["structuredContent"]["status"] == 409
    queued = tool(key, "notify_signup", {"id": signup["id"]})
    assert queued["structuredContent"] == {"signup_id": signup["id"], "queued": True}
    bad = tool(key, "list_signups", {"status": "blocked"})
    assert bad["isError"] and bad["structuredContent"]["status"] == 422
    tools = {t["name"] for t in rpc(key, "tools/list")[1]["result"]["tools"]}
    assert "unsubscribe" not in tools and "confirm_optin" not in tools  # customer links are not agent tools
