"""API9:2023 Improper Inventory Management. What is served is what is declared: the served OpenAPI document is the
registry's, every declared route answers from its own function (never the gateway's "no such action"), and nothing
undeclared answers (no v1 surface, no stray stage or debug path)."""

from __future__ import annotations

from typing import Any

import pytest

from backinstock import registry
from backinstock.api.http import not_found_message
from backinstock.services import openapi
from backinstock_tools.testkit.samples import sample_request
from tests.e2e.conftest import fetch
from tests.security.conftest import call

pytestmark = pytest.mark.security


def test_the_served_openapi_document_is_the_registrys(attacker: dict[str, Any]) -> None:
    status, served, _ = call(attacker, "GET", "/openapi.json", api_key=None)
    assert status == 200 and served == openapi.document()


@pytest.mark.parametrize("action", registry.actions(), ids=lambda a: a.name)
def test_every_declared_route_is_served(action: registry.Action, attacker: dict[str, Any]) -> None:
    path, _, _ = sample_request(action, attacker["values"])
    # An empty, keyless request: whatever the function answers, it is not the gateway's unknown-route 404.
    route = path.split("?")[0]
    _, text, _ = fetch(attacker["base_url"] + route, action.method, None if action.method == "GET" else b"")
    assert "No v2 action registered" not in text, (action.name, text)
    assert not_found_message(action.method, registry.BASE_PATH + route) not in text


@pytest.mark.parametrize(
    "path",
    ["/api/v1/external/back_in_stock/signups", "/api/v2/internal/back_in_stock/signups", "/prod/api/v2/external/help",
     "/api/v2/external/debug", "/api/v2/external/.env", "/api/v2/external/back_in_stock/signups.json"],
)  # fmt: skip
def test_nothing_undeclared_answers(path: str, attacker: dict[str, Any]) -> None:
    base = attacker["base_url"].removesuffix(registry.BASE_PATH)
    status, answer, _ = call({**attacker, "base_url": base}, "GET", path)
    assert status == 404, (path, answer)
