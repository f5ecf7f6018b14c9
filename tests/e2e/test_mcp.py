"""The MCP endpoint as an agent meets it: the official `mcp` client SDK over HTTP against `backinstock serve`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import httpx2
import pytest
from mcp import ClientSession, MCPError
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from backinstock import registry
from tests.e2e.conftest import http

pytestmark = pytest.mark.e2e
T = TypeVar("T")


def run_session(
    server: dict[str, Any],
    body: Callable[[ClientSession], Awaitable[T]],
    key: str | None = None,
    sent: list[str] | None = None,
) -> T:
    """Connect with the SDK's Streamable HTTP transport and the initialize handshake, run `body`, disconnect.
    `sent` collects the HTTP method of every request the SDK made."""

    async def record(request: httpx2.Request) -> None:
        if sent is not None:
            sent.append(request.method)

    async def main() -> T:
        headers = {"Authorization": f"Bearer {key or server['api_key']}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30, event_hooks={"request": [record]}) as http_client,
            streamable_http_client(server["base_url"] + "/mcp", http_client=http_client) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await body(session)

    return anyio.run(main)


def test_initialize_negotiates_the_latest_version_and_lists_the_tools(server: dict[str, Any]) -> None:
    async def body(session: ClientSession) -> tuple[Any, Any]:
        return session.initialize_result, await session.list_tools()

    sent: list[str] = []
    init, listed = run_session(server, body, sent=sent)
    # Stateless: no session id, so the SDK opens no GET stream and sends no DELETE (the gateway would answer 404).
    assert set(sent) == {"POST"}
    assert init is not None
    assert init.protocol_version == "2025-11-25"
    assert init.server_info.name == "backinstock"
    assert init.capabilities.tools is not None and init.instructions
    names = [tool.name for tool in listed.tools]
    assert names == [a.name for a in registry.actions() if a.mcp_tool]
    by_name = {tool.name: tool for tool in listed.tools}
    assert by_name["get_settings"].annotations.read_only_hint is True
    assert by_name["update_channels_settings"].annotations.read_only_hint is False
    assert (
        by_name["update_channels_settings"].input_schema == registry.by_name("update_channels_settings").input_schema()
    )


def test_get_settings_tool_returns_what_the_http_route_returns(server: dict[str, Any]) -> None:
    async def body(session: ClientSession) -> Any:
        return await session.call_tool("get_settings", {})

    result = run_session(server, body)
    status, expected, _ = http(server, "GET", "/back_in_stock/settings")
    assert status == 200
    assert result.is_error is False
    assert result.structured_content == expected
    assert result.content[0].type == "text"


def test_update_tool_writes_and_a_bad_update_is_an_error_result(server: dict[str, Any]) -> None:
    async def body(session: ClientSession) -> tuple[Any, Any]:
        good = await session.call_tool("update_channels_settings", {"push": {"enabled": True}})
        bad = await session.call_tool("update_channels_settings", {"push": {"enabled": "yes"}, "fax": {}})
        return good, bad

    good, bad = run_session(server, body)
    assert good.is_error is False
    assert good.structured_content["push"]["enabled"] is True
    _, channels, _ = http(server, "GET", "/back_in_stock/settings/channels")
    assert channels == good.structured_content

    assert bad.is_error is True
    envelope = bad.structured_content
    assert envelope["status"] == 422
    assert {d["field"] for d in envelope["error_details"]} == {"push.enabled", "fax"}
    status, http_errors, _ = http(
        server, "PATCH", "/back_in_stock/settings/channels", {"push": {"enabled": "yes"}, "fax": {}}
    )
    assert status == 422 and http_errors["errors"] == envelope["errors"]
    assert http(server, "GET", "/back_in_stock/settings/channels")[1] == channels  # nothing written


def test_unknown_tool_is_a_protocol_error(server: dict[str, Any]) -> None:
    async def body(session: ClientSession) -> MCPError:
        with pytest.raises(MCPError) as caught:
            await session.call_tool("no_such_tool", {})
        return caught.value

    error = run_session(server, body)
    assert error.error.code == -32602 and "no_such_tool" in error.error.message


def test_a_wrong_key_fails_the_handshake_with_401(server: dict[str, Any]) -> None:
    with pytest.raises(ExceptionGroup) as caught:
        run_session(server, lambda session: session.send_ping(), key="bis_not-a-key")
    assert caught.group_contains(MCPError, depth=None)
    status, body, _ = http(
        server,
        "POST",
        "/mcp",
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        api_key=None,
        headers={"Authorization": "Bearer bis_not-a-key"},
    )
    assert status == 401 and body["errors"]


def test_the_high_level_client_falls_back_from_discover_to_initialize(server: dict[str, Any]) -> None:
    """`Client` (mode "auto") first probes the 2026 `server/discover`; we refuse it and it falls back."""

    async def main() -> tuple[str | None, list[str]]:
        headers = {"Authorization": f"Bearer {server['api_key']}"}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http_client:
            transport = streamable_http_client(server["base_url"] + "/mcp", http_client=http_client)
            async with Client(transport) as client:
                tools = await client.list_tools()
                return client.protocol_version, [t.name for t in tools.tools]

    version, names = anyio.run(main)
    assert version == "2025-11-25"
    assert "get_settings" in names
