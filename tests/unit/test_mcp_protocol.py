"""The MCP protocol through the endpoint's Lambda handler, in process. Tool calls that would reach the table run
against a fake `invoke`; `help` needs no AWS and runs for real."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from backinstock import dispatch, registry
from backinstock.api import mcp
from backinstock.api.http import logger, metrics
from backinstock.registry import Access, Action
from backinstock_tools.testkit.gateway import context, event_for

pytestmark = pytest.mark.unit

INIT_PARAMS = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}


def post(body: Any, headers: dict[str, str] | None = None, shop_id: str | None = "shop-1") -> tuple[int, Any, dict]:
    """POST a body (a JSON value, or a str sent as is) to the MCP handler. Returns (status, json or None, headers)."""
    all_headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    all_headers.update(headers or {})
    event = event_for("mcp", shop_id=shop_id, body=body, headers=all_headers)
    response = dispatch.handler_for("meta.mcp")(event, context("mcp"))
    response_headers = {k.lower(): ", ".join(v) for k, v in (response.get("multiValueHeaders") or {}).items()}
    response_headers.update({k.lower(): v for k, v in (response.get("headers") or {}).items()})
    text = response.get("body")
    return response["statusCode"], json.loads(text) if text else None, response_headers


def rpc(method: str, params: dict[str, Any] | None = None, message_id: int | str = 1, **kwargs: Any) -> Any:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": message_id, "method": method}
    if params is not None:
        message["params"] = params
    status, body, _ = post(message, **kwargs)
    assert status == 200, body
    return body


class FakeInvoke:
    """Stands in for running an action's handler: records the proxy event, answers a canned response."""

    def __init__(self, status: int = 200, body: Any = None) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.status = status
        self.body = {"ok": True} if body is None else body

    def __call__(self, action: Action, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append((action.name, event))
        text = self.body if isinstance(self.body, str) else json.dumps(self.body)
        return {"statusCode": self.status, "headers": {"Content-Type": "application/json"}, "body": text}


@pytest.fixture
def fake_invoke(monkeypatch: pytest.MonkeyPatch) -> FakeInvoke:
    fake = FakeInvoke()
    monkeypatch.setattr(mcp, "invoke_action", fake)
    return fake


# --- initialize, ping, notifications ------------------------------------------------------------------------------


def test_initialize_echoes_a_supported_version_and_describes_the_server() -> None:
    status, body, headers = post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT_PARAMS})
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    assert "mcp-session-id" not in headers  # stateless
    assert body["id"] == 1 and body["jsonrpc"] == "2.0"
    result = body["result"]
    assert result["protocolVersion"] == "2025-06-18"
    assert result["capabilities"] == {"tools": {"listChanged": False}}
    assert result["serverInfo"]["name"] == "backinstock" and result["serverInfo"]["version"]
    assert "isError" in result["instructions"]


@pytest.mark.parametrize("offered", ["2024-11-05", "2099-01-01", "latest"])
def test_initialize_offers_our_latest_version_for_one_we_do_not_speak(offered: str) -> None:
    result = rpc("initialize", {**INIT_PARAMS, "protocolVersion": offered})["result"]
    assert result["protocolVersion"] == mcp.LATEST_PROTOCOL_VERSION == "2025-11-25"


def test_initialize_without_a_protocol_version_is_invalid_params() -> None:
    body = rpc("initialize", {"capabilities": {}})
    assert body["error"]["code"] == -32602 and "protocolVersion" in body["error"]["message"]


def test_ping_answers_an_empty_result() -> None:
    assert rpc("ping", message_id="abc") == {"jsonrpc": "2.0", "id": "abc", "result": {}}


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}},
        {"jsonrpc": "2.0", "method": "notifications/whatever"},
        {"jsonrpc": "2.0", "id": 9, "result": {}},  # a response to a server request (we send none)
    ],
)
def test_notifications_and_responses_answer_202_with_no_body(message: dict[str, Any]) -> None:
    status, body, headers = post(message)
    assert (status, body) == (202, None)
    assert "content-type" not in headers


def test_unknown_method_is_method_not_found() -> None:
    for method in ("resources/list", "prompts/list", "server/discover"):
        body = rpc(method, {}, message_id=7)
        assert body["id"] == 7
        assert body["error"]["code"] == -32601 and method in body["error"]["message"]


# --- HTTP and envelope rules --------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["{not json", "", "   ", "[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000])
def test_a_body_that_is_not_json_is_a_parse_error_with_400(raw: str) -> None:
    status, body, _ = post(raw)
    assert status == 400
    assert body["id"] is None and body["error"]["code"] == -32700


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ({"jsonrpc": "1.0", "id": 1, "method": "ping"}, "jsonrpc"),
        ({"id": 1, "method": "ping"}, "jsonrpc"),
        ({"jsonrpc": "2.0", "id": None, "method": "ping"}, "null"),
        ({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1, 2]}, "params"),
        ({"jsonrpc": "2.0", "id": 1}, "method"),
        ({"jsonrpc": "2.0", "id": 1, "method": "ping", "extra": True}, "extra"),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, "id"),
        ("42", "Invalid Request"),
    ],
)
def test_a_malformed_envelope_is_an_invalid_request_with_400(message: Any, words: str) -> None:
    status, body, _ = post(message)
    assert status == 400
    assert body["error"]["code"] == -32600
    assert words in body["error"]["message"]


def test_the_id_of_a_malformed_request_is_kept_when_it_is_usable() -> None:
    _, body, _ = post({"jsonrpc": "2.0", "id": 5, "method": 12})
    assert body["id"] == 5 and body["error"]["code"] == -32600


@pytest.mark.parametrize("accept", [None, "", "application/json", "*/*", "application/json, text/event-stream"])
def test_accept_must_allow_json_when_present(accept: str | None) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    event_headers = {"Content-Type": "application/json", **headers}
    event = event_for("mcp", body={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=event_headers)
    response = dispatch.handler_for("meta.mcp")(event, context("mcp"))
    assert response["statusCode"] == 200


def test_accept_without_json_is_406() -> None:
    status, body, _ = post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={"Accept": "text/event-stream"})
    assert status == 406 and body["error"]["code"] == -32600


def test_an_unsupported_protocol_version_header_is_refused_with_400() -> None:
    status, body, _ = post(
        {"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={"MCP-Protocol-Version": "2026-07-28"}
    )
    assert status == 400
    assert body["error"]["code"] == -32600
    assert body["error"]["data"]["supported"] == list(mcp.PROTOCOL_VERSIONS)
    for version in mcp.PROTOCOL_VERSIONS:
        assert rpc("ping", headers={"MCP-Protocol-Version": version})["result"] == {}


def test_a_body_over_the_limit_is_413() -> None:
    huge = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * 300_000}})
    status, body, _ = post(huge)
    assert status == 413 and body["error"]["code"] == -32600


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_not_sent_as_json_is_415(content_type: str) -> None:
    status, body, _ = post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={"Content-Type": content_type})
    assert status == 415 and body["error"]["code"] == -32600
    assert "application/json" in body["error"]["message"] and content_type in body["error"]["message"]


def test_an_invalid_message_is_described_in_the_apis_words() -> None:
    status, body, _ = post({"jsonrpc": "2.0", "id": 1, "method": 5})
    assert status == 400
    message = body["error"]["message"]
    assert message.startswith("Invalid Request: method: must be a string") and "should" not in message


# --- batches ------------------------------------------------------------------------------------------------------


def test_a_batch_answers_its_requests_in_order_and_skips_its_notifications() -> None:
    status, body, _ = post(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "ping"},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "1.0", "id": 2, "method": "ping"},
            {"jsonrpc": "2.0", "id": 3, "method": "nope"},
            {"jsonrpc": "2.0", "id": 4, "method": "initialize", "params": INIT_PARAMS},
        ]
    )
    assert status == 200
    assert [(r["id"], r.get("result"), r.get("error", {}).get("code")) for r in body] == [
        (1, {}, None),
        (2, None, -32600),
        (3, None, -32601),
        (4, None, -32600),
    ]


def test_a_batch_of_notifications_answers_202() -> None:
    assert post([{"jsonrpc": "2.0", "method": "notifications/initialized"}])[:2] == (202, None)


@pytest.mark.parametrize("size", [0, mcp.MAX_BATCH + 1])
def test_an_empty_or_oversized_batch_is_refused(size: int) -> None:
    status, body, _ = post([{"jsonrpc": "2.0", "id": i, "method": "ping"} for i in range(size)])
    assert status == 400 and body["error"]["code"] == -32600


# --- tools/list ---------------------------------------------------------------------------------------------------


def test_tools_are_the_registry_actions_with_their_input_schemas() -> None:
    tools = rpc("tools/list")["result"]["tools"]
    expected = [a for a in registry.actions() if a.mcp_tool]
    assert [t["name"] for t in tools] == [a.name for a in expected]
    assert "mcp" not in {t["name"] for t in tools}
    for tool, action in zip(tools, expected, strict=True):
        assert tool["inputSchema"] == action.input_schema()
        assert tool["inputSchema"]["type"] == "object"
        assert tool["annotations"]["readOnlyHint"] is (action.method == "GET" and action.read_only)
        assert tool["description"].startswith(action.description)
        for text in (*action.aliases, *action.notes):
            assert text in tool["description"]
    assert "nextCursor" not in rpc("tools/list")["result"]


# --- tools/call ---------------------------------------------------------------------------------------------------


def test_unknown_tool_is_invalid_params() -> None:
    for name in ("no_such_tool", "mcp"):
        body = rpc("tools/call", {"name": name, "arguments": {}})
        assert body["error"]["code"] == -32602 and name in body["error"]["message"]


@pytest.mark.parametrize("params", [{"arguments": {}}, {"name": "help", "arguments": [1]}, {"name": 3}])
def test_malformed_tool_call_params_are_invalid_params(params: dict[str, Any]) -> None:
    assert rpc("tools/call", params)["error"]["code"] == -32602


def test_the_help_tool_returns_what_the_help_route_returns() -> None:
    result = rpc("tools/call", {"name": "help", "arguments": {"prefix": "/back_in_stock/settings/tagging"}})["result"]
    help_event = event_for("help", query={"prefix": "/back_in_stock/settings/tagging"})
    direct = json.loads(dispatch.handler_for("meta.help")(help_event, context("help"))["body"])
    assert result["isError"] is False
    assert result["structuredContent"] == direct
    assert json.loads(result["content"][0]["text"]) == direct
    assert result["content"][0]["type"] == "text"


def test_a_get_tool_sends_its_arguments_as_the_query_for_the_authenticated_shop(fake_invoke: FakeInvoke) -> None:
    rpc("tools/call", {"name": "help", "arguments": {"prefix": "/back_in_stock"}}, shop_id="shop-42")
    (name, event), *_ = fake_invoke.events
    assert name == "help"
    assert event["httpMethod"] == "GET" and event["path"] == "/api/v2/external/help"
    assert event["queryStringParameters"] == {"prefix": "/back_in_stock"}
    assert event["body"] is None
    assert event["requestContext"]["authorizer"]["shop_id"] == "shop-42"


def test_a_patch_tool_sends_its_arguments_as_the_json_body(fake_invoke: FakeInvoke) -> None:
    arguments = {"sms": {"enabled": True}, "email": {"enabled": False}}
    rpc("tools/call", {"name": "update_channels_settings", "arguments": arguments})
    (name, event), *_ = fake_invoke.events
    assert name == "update_channels_settings"
    assert event["httpMethod"] == "PATCH" and event["path"] == "/api/v2/external/back_in_stock/settings/channels"
    assert event["resource"] == "/api/v2/external/back_in_stock/settings/channels"
    assert json.loads(event["body"]) == arguments
    assert event["queryStringParameters"] is None
    assert event["headers"]["Content-Type"] == "application/json"


def test_a_patch_tool_without_arguments_sends_an_empty_object(fake_invoke: FakeInvoke) -> None:
    rpc("tools/call", {"name": "update_settings"})
    assert json.loads(fake_invoke.events[0][1]["body"]) == {}


def test_arguments_that_no_model_checks_are_refused_before_the_handler_runs(fake_invoke: FakeInvoke) -> None:
    result = rpc("tools/call", {"name": "get_settings", "arguments": {"verbose": True}})["result"]
    assert fake_invoke.events == []
    assert result["isError"] is True
    envelope = result["structuredContent"]
    assert envelope["status"] == 422
    assert envelope["error_details"] == [
        {"code": "extra_forbidden", "field": "verbose", "message": "is not a known field; this tool takes no arguments"}
    ]
    assert json.loads(result["content"][0]["text"]) == envelope


def test_an_http_error_is_an_error_result_with_the_envelope_and_status(monkeypatch: pytest.MonkeyPatch) -> None:
    envelope = {"errors": ["Shop not found"], "error_details": [{"code": "not_found", "field": None, "message": "x"}]}
    monkeypatch.setattr(mcp, "invoke_action", FakeInvoke(404, envelope))
    result = rpc("tools/call", {"name": "get_settings", "arguments": {}})["result"]
    assert result["isError"] is True
    assert result["structuredContent"] == {"status": 404, **envelope}


def test_a_success_that_is_not_an_object_has_text_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mcp, "invoke_action", FakeInvoke(200, [1, 2]))
    result = rpc("tools/call", {"name": "get_settings"})["result"]
    assert result == {"content": [{"type": "text", "text": "[1, 2]"}], "isError": False}


def test_a_failure_inside_the_protocol_layer_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(action: Action, event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(mcp, "invoke_action", boom)
    body = rpc("tools/call", {"name": "get_settings"}, message_id=11)
    assert body["id"] == 11 and body["error"]["code"] == -32603
    assert "boom" not in body["error"]["message"]


# --- argument splitting for actions with path parameters (none is declared yet: a synthetic one) ------------------


SIGNUP = Action(
    name="delete_signup",
    method="DELETE",
    path="/back_in_stock/signups/:id",
    resource="signups",
    description="Delete a signup",
    handler="signups.delete_signup",
    access=frozenset({Access.TABLE_WRITE}),
)


class DeleteQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False
    n: int = 1
    skip: str | None = None


class SignupPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = None


DELETE_WITH_QUERY = dataclasses.replace(SIGNUP, query_model=DeleteQuery)
PATCH_SIGNUP = Action(
    name="update_signup",
    method="PATCH",
    path="/back_in_stock/signups/:id",
    resource="signups",
    description="Update a signup",
    handler="signups.update_signup",
    body_model=SignupPatch,
)


def test_path_parameters_fill_the_path_and_the_rest_is_the_query_for_delete() -> None:
    arguments = {"id": "a/b c", "dry_run": True, "n": 3, "skip": None}
    event = mcp.build_event(DELETE_WITH_QUERY, arguments, mcp.Caller("s1", "r1"))
    assert isinstance(event, dict)
    assert event["httpMethod"] == "DELETE"
    assert event["path"] == "/api/v2/external/back_in_stock/signups/a%2Fb%20c"
    assert event["resource"] == "/api/v2/external/back_in_stock/signups/{id}"
    assert event["pathParameters"] == {"id": "a/b c"}
    assert event["queryStringParameters"] == {"dry_run": "true", "n": "3"}
    assert event["body"] is None


def test_unknown_arguments_of_an_action_without_models_are_problems() -> None:
    problems = mcp.build_event(SIGNUP, {"id": "x", "dry_run": True}, mcp.Caller("s1"))
    assert isinstance(problems, list)
    assert [(p.field, p.code) for p in problems] == [("dry_run", "extra_forbidden")]
    assert "allowed: id" in problems[0].message


def test_a_missing_path_parameter_is_a_problem() -> None:
    problems = mcp.build_event(SIGNUP, {}, mcp.Caller("s1"))
    assert isinstance(problems, list)
    assert [(p.field, p.code) for p in problems] == [("id", "missing")]


def test_a_body_action_with_a_path_parameter_sends_the_rest_as_the_body() -> None:
    event = mcp.build_event(PATCH_SIGNUP, {"id": 17, "note": "hi"}, mcp.Caller("s1", "req-9"))
    assert isinstance(event, dict)
    assert event["path"].endswith("/signups/17") and event["pathParameters"] == {"id": "17"}
    assert json.loads(event["body"]) == {"note": "hi"}
    assert event["requestContext"]["requestId"] == "req-9"


def test_query_values_are_strings_and_nulls_are_omitted() -> None:
    event = mcp.build_event(registry.by_name("help"), {"prefix": None}, mcp.Caller("s1"))
    assert isinstance(event, dict) and event["queryStringParameters"] is None
    event = mcp.build_event(registry.by_name("help"), {"prefix": 5}, mcp.Caller("s1"))
    assert isinstance(event, dict) and event["queryStringParameters"] == {"prefix": "5"}


# --- the nested invocation leaves the MCP invocation's logging and metrics as they were ---------------------------


def test_running_a_tool_in_process_keeps_the_mcp_logger_keys_and_metric_dimensions() -> None:
    logger.append_keys(action="mcp", shop_id="shop-1")
    metrics.add_dimension(name="action", value="mcp")
    try:
        event = mcp.build_event(registry.by_name("help"), {}, mcp.Caller("shop-1"))
        assert isinstance(event, dict)
        response = mcp.invoke_action(registry.by_name("help"), event)
        assert response["statusCode"] == 200
        assert logger.get_current_keys()["action"] == "mcp"
        assert metrics.dimension_set["action"] == "mcp"
    finally:
        metrics.clear_metrics()
        logger.clear_state()
