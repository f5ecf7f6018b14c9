"""Security: keys, revocation, the one 401, and shops that never see each other's settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backinstock import deps
from backinstock.infra_spec import UNAUTHORIZED_MESSAGE
from backinstock.services import shops
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
UNAUTHORIZED = (401, [UNAUTHORIZED_MESSAGE])


def errors_of(response: tuple[int, Any]) -> tuple[int, list[str]]:
    status, body = response
    return status, body["errors"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Auth-Token": ""},
        {"X-Auth-Token": "not-a-key"},
        {"X-Auth-Token": "bis_" + "x" * 43},
        {"X-Auth-Token": "y" * 5000},
        {"Authorization": "Basic abc"},
    ],
)
def test_missing_malformed_and_unknown_keys_get_the_same_401(shop: Shop, headers: dict) -> None:
    assert errors_of(call("GET", "/back_in_stock/settings", headers=headers)) == UNAUTHORIZED
    assert errors_of(call("PATCH", "/back_in_stock/settings", headers=headers, body={"compliance": {}})) == UNAUTHORIZED


def test_keys_are_stored_only_as_hashes(shop: Shop) -> None:
    stored = deps.shops().require(shop.id)
    assert stored.api_key_hash == shops.hash_key(shop.key)
    assert shop.key not in repr(stored)


def test_a_rotated_key_stops_working_and_the_new_one_works(shop: Shop) -> None:
    rotated = shops.rotate_key(deps.shops(), shop.id)
    assert rotated["api_key"] != shop.key
    assert errors_of(call("GET", "/back_in_stock/settings", shop.key)) == UNAUTHORIZED
    assert call("GET", "/back_in_stock/settings", rotated["api_key"])[0] == 200


def test_a_shop_never_reads_or_writes_another_shops_settings(shop: Shop, other_shop: Shop) -> None:
    call("PATCH", "/back_in_stock/settings/compliance", shop.key, {"optin_required": True})
    call("PATCH", "/back_in_stock/settings/tagging", other_shop.key, {"order_tags": {"tag": "theirs"}})
    _, mine = call("GET", "/back_in_stock/settings", shop.key)
    _, theirs = call("GET", "/back_in_stock/settings", other_shop.key)
    assert mine["compliance"]["optin_required"] is True and mine["tagging"]["order_tags"]["tag"] == "STOQ-back-in-stock"
    assert theirs["compliance"]["optin_required"] is False and theirs["tagging"]["order_tags"]["tag"] == "theirs"


def test_duplicate_domain_creates_nothing(shop: Shop) -> None:
    from backinstock.errors import Conflict

    with pytest.raises(Conflict):
        shops.create_shop(deps.shops(), "FIRST-shop.myshopify.com")


def test_shop_creation_validates_its_input(aws: None) -> None:
    from backinstock.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as caught:
        shops.create_shop(deps.shops(), "not a domain", plan="gold", currency="usd", timezone="Mars/Base")
    assert len(caught.value.problems) == 4


def test_unknown_route_is_a_404_with_the_envelope(shop: Shop) -> None:
    assert errors_of(call("GET", "/back_in_stock/nothing_here", shop.key)) == (
        404,
        [
            "No v2 action registered for GET /api/v2/external/back_in_stock/nothing_here; every route: "
            "GET /api/v2/external/help"
        ],
    )
    # A known path with a method no action declares there is a 405 (tests/integration/test_error_envelope.py)
    assert errors_of(call("DELETE", "/back_in_stock/settings", shop.key)) == (
        405,
        ["DELETE is not allowed on this path; allowed: GET, PATCH"],
    )


def test_help_is_served_at_the_prefix_and_under_resource_paths(shop: Shop) -> None:
    status, by_query = call("GET", "/help?prefix=/back_in_stock/settings", shop.key)
    assert status == 200 and by_query["base_path"] == "/api/v2/external"
    assert call("GET", "/back_in_stock/settings/help", shop.key) == (200, by_query)
    assert len(by_query["actions"]) == 12
    entry = next(a for a in by_query["actions"] if a["name"] == "update_delivery_settings")
    assert entry["request_schema"]["additionalProperties"] is False
    assert "batching" in entry["request_schema"]["properties"]


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("/back_in_stock/signups/0190a000-0000-7000-8000-000000000000/help", {"get_signup", "notify_signup"}),
        ("/back_in_stock/reports/exports/exp_0123456789abcdef/help", {"get_report_export", "download_report_export"}),
        ("/mcp/help", {"mcp"}),
    ],
)
def test_help_answers_at_any_resource_path_a_parameter_included(shop: Shop, path: str, names: set[str]) -> None:
    """Issue 24: /help appended to a path with a path parameter (or to /mcp) answered 404."""
    status, body = call("GET", path, shop.key)
    assert status == 200, body
    assert names <= {a["name"] for a in body["actions"]}
    from backinstock.services.help import under

    assert all(under(a["path"], path.removesuffix("/help")) for a in body["actions"])


def test_v1_help_answers_at_the_v1_resource_paths(shop: Shop) -> None:
    """Issue 24: `/api/v1/external/intents/help` answered 404; it lists the v1 routes under /intents."""
    from backinstock import registry
    from backinstock_tools.local.server import handle

    response = handle("GET", registry.V1_BASE_PATH + "/intents/help", {"X-Auth-Token": shop.key}, None)
    assert response["statusCode"] == 200, response
    body = json.loads(response["body"])
    assert body["base_path"] == registry.V1_BASE_PATH and body["actions"]
    assert all(a["path"].startswith("/intents") and a["deprecated"] for a in body["actions"])


def test_openapi_is_public(aws: None) -> None:
    status, document = call("GET", "/openapi.json")
    assert status == 200 and document["openapi"] == "3.1.0"
