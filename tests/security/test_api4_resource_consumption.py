"""API4:2023 Unrestricted Resource Consumption. Oversized and deeply nested bodies, pages and bulk lists beyond
their caps, and every date and number of every query at its extremes: a clear 4xx, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backinstock import registry
from backinstock.api.validation import MAX_BODY_BYTES
from backinstock_tools.testkit.samples import sample_request
from tests.security.conftest import INTERNALS, call

pytestmark = pytest.mark.security

DATES = (
    "0001-01-01", "1969-12-31", "9998-12-31", "9999-12-31", "2026-02-30", "99999-01-01",
    "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "1969-01-01T00:00:00Z", "2026-01-01T25:00:00Z",
)  # fmt: skip
NUMBERS = ("0", "-1", str(2**53 + 1), str(2**63), str(10**40), "1e400", "NaN", "-0", "1.5")


def body_routes() -> list[registry.Action]:
    return [a for a in registry.actions() if a.body_model is not None and a.auth is registry.Auth.API_KEY]


def query_fields() -> list[tuple[registry.Action, str, tuple[str, ...]]]:
    """Every date and number field of every keyed GET's query, with the extremes to try."""
    found = []
    for action in registry.actions():
        if action.method != "GET" or action.query_model is None or action.auth is registry.Auth.PUBLIC:
            continue
        for name, field in action.query_model.model_fields.items():
            kind = str(field.annotation)
            values = DATES if ("date" in kind or "datetime" in kind) else NUMBERS if "int" in kind else ()
            if values:
                found.append((action, field.alias or name, values))
    return found


def problem(status: int, answer: Any) -> None:
    assert 400 <= status < 500, (status, answer)
    assert not INTERNALS.search(json.dumps(answer)), answer


@pytest.mark.parametrize("action", body_routes(), ids=lambda a: a.name)
def test_oversized_and_deeply_nested_bodies_are_refused(action: registry.Action, attacker: dict[str, Any]) -> None:
    path, body, headers = sample_request(action, attacker["values"])
    filler = json.dumps({**(body or {}), "x": "a" * MAX_BODY_BYTES})
    status, answer, _ = call(attacker, action.method, path, raw=filler.encode(), headers=headers)
    problem(status, answer)
    assert "exceeds" in json.dumps(answer)
    for nested in ("[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000):
        status, answer, _ = call(attacker, action.method, path, raw=nested.encode(), headers=headers)
        problem(status, answer)


def test_a_body_over_the_gateways_limit_is_a_413(attacker: dict[str, Any]) -> None:
    """Refused on its announced length, before it is read (the server does not take in 10 MB to say no)."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(attacker["base_url"])
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        connection.putrequest("POST", url.path + "/back_in_stock/signups")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("X-Auth-Token", attacker["api_key"])
        connection.putheader("Content-Length", str(10 * 1024 * 1024 + 1))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert "exceeds" in json.loads(response.read())["errors"][0]
    finally:
        connection.close()


def test_mcp_json_nested_too_deep_is_a_parse_error(attacker: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {attacker['api_key']}", "Accept": "application/json"}
    for nested in ("[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000):
        status, answer, _ = call(attacker, "POST", "/mcp", raw=nested.encode(), api_key=None, headers=headers)
        assert status == 400 and answer["error"]["code"] == -32700, answer


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/back_in_stock/signups?per_page=501", None),
        ("GET", "/back_in_stock/signups?page=100001", None),
        ("GET", "/back_in_stock/notifications?per_page=100000", None),
        ("GET", "/back_in_stock/reports/products_in_demand?per_page=501", None),
        ("GET", "/back_in_stock/reports/signups?from=2024-01-01&to=2026-01-01", None),  # a window over 366 days
        ("POST", "/back_in_stock/signups/bulk_notify", {"signup_ids": [f"id-{i}" for i in range(1001)]}),
        ("POST", "/back_in_stock/signups/bulk_delete", {"signup_ids": [f"id-{i}" for i in range(1001)]}),
    ],
)
def test_pages_windows_and_bulk_lists_have_caps(method: str, path: str, body: Any, attacker: dict[str, Any]) -> None:
    problem(*call(attacker, method, path, body)[:2])


@pytest.mark.parametrize(("action", "field", "values"), query_fields(), ids=lambda v: getattr(v, "name", None))
def test_every_date_and_number_at_its_extremes_is_a_clear_answer(
    action: registry.Action, field: str, values: tuple[str, ...], attacker: dict[str, Any]
) -> None:
    path, _, headers = sample_request(action, attacker["values"])
    base = path.split("?")[0]
    for value in values:
        for query in (
            f"{field}={value}",
            f"from={value}&to={value}" if field in ("from", "to") else f"{field}={value}",
        ):
            status, answer, _ = call(attacker, "GET", f"{base}?{query}", headers=headers)
            assert status < 500, (action.name, query, answer)
            if status >= 400:
                problem(status, answer)


def test_an_mcp_batch_pays_per_message_up_to_its_documented_maximum(server: dict[str, Any]) -> None:
    from tests.security.conftest import new_shop

    shop = new_shop(server, "batch")
    headers = {"Authorization": f"Bearer {shop['api_key']}", "Accept": "application/json"}
    listing = [{"jsonrpc": "2.0", "id": n, "method": "tools/list"} for n in range(20)]
    status, answer, got = call(shop, "POST", "/mcp", listing, api_key=None, headers=headers)
    assert status == 200 and len(answer) == 20
    limit = int(got["X-RateLimit-Limit"])
    assert int(got["X-RateLimit-Remaining"]) <= limit - 20  # every message took its point
    status, answer, _ = call(shop, "POST", "/mcp", listing + listing[:1], api_key=None, headers=headers)
    assert status == 400 and "at most 20" in answer["error"]["message"]  # the documented maximum


def test_the_public_openapi_document_is_cacheable_and_revalidates_to_a_304(server: dict[str, Any]) -> None:
    status, _, got = call(server, "GET", "/openapi.json", api_key=None)
    assert status == 200 and got["ETag"] and "max-age" in got["Cache-Control"]
    status, answer, again = call(server, "GET", "/openapi.json", api_key=None, headers={"If-None-Match": got["ETag"]})
    assert status == 304 and answer is None and again["ETag"] == got["ETag"]
