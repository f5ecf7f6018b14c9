"""Over HTTP against `backinstock serve`: a shop on the default plan has the real limit (the suites' own shops have
the high-limit plan), and the v1 routes answer with their deprecation headers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backinstock import registry
from backinstock.services import ratelimits
from tests.e2e.conftest import cli, http
from tests.helpers import v1_base

pytestmark = pytest.mark.e2e


def test_a_default_plan_shop_is_refused_past_its_limit_over_http(server: dict[str, Any]) -> None:
    created = cli(server, "shops", "create", "--domain", "e2e-limited.myshopify.com")  # the default plan
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["api_key"]
    limit = ratelimits.PLAN_LIMITS["free"]
    # Empty the bucket faster than it refills (6 points a second, whatever this machine's speed): MCP batches of 20
    # write tool calls, 40 points per HTTP request, each call charged like its route. Invalid ones (a 422 costs its
    # points too, and runs nothing else): the quickest to answer.
    write = {"name": "update_tagging_settings", "arguments": {"order_tags": {"tag": 5}}}
    batch = [{"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": write} for i in range(20)]
    mcp_headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
    passed = 0
    refused_tool: dict[str, Any] | None = None
    for _ in range(limit // 10):
        status, answers, headers = http(server, "POST", "/mcp", batch, api_key=False, headers=mcp_headers)
        assert status == 200 and headers["X-RateLimit-Limit"] == str(limit)
        results = [a["result"] for a in sorted(answers, key=lambda a: a["id"])]
        statuses = [r["structuredContent"]["status"] for r in results]
        assert set(statuses) <= {422, 429}, statuses
        passed += statuses.count(422)
        refused_tool = next((r for r in results if r["structuredContent"]["status"] == 429), None)
        if refused_tool is not None:
            break
    assert refused_tool is not None and refused_tool["structuredContent"]["status"] == 429
    assert passed >= limit // 2  # at least 180 writes were answered (422) first
    # The plain HTTP route shares the bucket: writes are refused (a few may pass on what refilled meanwhile)
    for _ in range(20):
        status, body, headers = http(
            server, "PATCH", "/back_in_stock/settings/tagging", {"order_tags": {"enabled": False}}, api_key=key
        )
        if status == 429:
            break
    assert status == 429, body
    assert int(headers["Retry-After"]) >= 1 and body["retry_after"] == int(headers["Retry-After"])
    assert headers["X-RateLimit-Limit"] == str(limit) and int(headers["X-RateLimit-Remaining"]) <= 1
    assert body["error_details"][0]["code"] == "rate_limited"


def test_a_v1_route_over_http_answers_like_v2_with_the_deprecation_headers(server: dict[str, Any]) -> None:
    status, old, headers = http(v1_base(server), "GET", "/intents?status=pending")
    new = http(server, "GET", "/back_in_stock/signups?status=pending")[1]
    assert status == 200
    assert {k: v for k, v in old["meta"].items() if k != "as_of"} == {
        k: v for k, v in new["meta"].items() if k != "as_of"
    }
    assert headers["Deprecation"] == f"@{registry.V1_DEPRECATED_AT}"
    assert headers["Sunset"].endswith(" GMT")
    assert headers["Link"] == f'<{registry.BASE_PATH}/back_in_stock/signups>; rel="successor-version"'
    assert "X-RateLimit-Limit" in headers
