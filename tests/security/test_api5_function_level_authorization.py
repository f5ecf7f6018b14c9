"""API5:2023 Broken Function Level Authorization. The public functions are exactly the declared few; every other
one needs a key (tests/security/test_api2_authentication.py); a method a route does not declare does not exist; an
agent's MCP tools are the keyed actions only; the local run's outbox is closed beyond loopback."""

from __future__ import annotations

from typing import Any

import pytest

from backinstock import registry
from tests.e2e.conftest import fetch
from tests.security.conftest import call

pytestmark = pytest.mark.security

# Public by design: the OpenAPI document, the customer links of messages (signed tokens), Shopify's webhook
# deliveries (HMAC), the export download links (signed tokens). A new public route must be added here on purpose.
PUBLIC = {
    ("GET", "/openapi.json"),
    ("GET", "/back_in_stock/optin/confirm"),
    ("POST", "/back_in_stock/optin/confirm"),
    ("GET", "/back_in_stock/unsubscribe"),
    ("POST", "/back_in_stock/unsubscribe"),
    ("POST", "/webhooks/shopify"),
    ("GET", "/back_in_stock/reports/exports/:job_id/download"),
    ("GET", "/preorders/reports/exports/:job_id/download"),
}


def test_the_public_routes_are_exactly_the_declared_few() -> None:
    public = {(a.method, p) for a in registry.actions() if a.auth is registry.Auth.PUBLIC for p in a.all_paths}
    assert public == PUBLIC


def test_the_public_routes_hand_out_nothing_without_their_token(server: dict[str, Any]) -> None:
    for method, path in PUBLIC - {("GET", "/openapi.json")}:
        url = server["base_url"] + path.replace(":job_id", "exp_00000000000000aa")
        status, text, _ = fetch(url, method, b"{}" if method == "POST" else None)
        assert status in (400, 401, 404, 422), (method, path, status, text)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/back_in_stock/settings"),
        ("PUT", "/back_in_stock/signups"),
        ("PATCH", "/back_in_stock/signups/{signup_id}"),
        ("DELETE", "/back_in_stock/notifications/{notification_id}"),
        ("POST", "/preorders/offers"),
        ("DELETE", "/preorders/offers/{offer_id}"),
        ("GET", "/mcp"),
        ("POST", "/back_in_stock/reports/signups"),
        ("GET", "/admin"),
        ("GET", "/back_in_stock/signups/../../openapi.json"),
    ],
)
def test_a_method_a_route_does_not_declare_does_not_exist(method: str, path: str, attacker: dict[str, Any]) -> None:
    status, answer, _ = call(attacker, method, path.format_map(attacker["values"]), {} if method != "GET" else None)
    assert status in (401, 404, 405), (method, path, status, answer)


def test_mcp_tools_are_the_keyed_actions_only(attacker: dict[str, Any]) -> None:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Authorization": f"Bearer {attacker['api_key']}", "Accept": "application/json"}
    status, answer, _ = call(attacker, "POST", "/mcp", message, api_key=None, headers=headers)
    assert status == 200
    tools = {tool["name"] for tool in answer["result"]["tools"]}
    # the OpenAPI document is public and a tool too (it hands out what /help does); no other public action is
    public = {a.name for a in registry.actions() if a.auth is registry.Auth.PUBLIC} - {"get_openapi"}
    assert tools and not tools & public
    assert tools <= {a.name for a in registry.actions() if a.auth is registry.Auth.API_KEY} | {"get_openapi"}
