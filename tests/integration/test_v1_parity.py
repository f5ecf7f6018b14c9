"""v1 parity (reference 002): each v1 route runs its v2 action through the local gateway against moto, with the same
auth, validation, limits and answers, plus `Deprecation` (RFC 9745), `Sunset` and the successor's `Link`."""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from backinstock import registry
from backinstock.infra_spec import UNAUTHORIZED_MESSAGE
from backinstock_tools.local.server import handle
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.builders import signup

pytestmark = pytest.mark.integration
V1 = registry.V1_BASE_PATH
V2 = registry.BASE_PATH
SIGNUPS = "/back_in_stock/signups"
WINDOW = "from=2026-01-01&to=2026-03-31"


def send(method: str, url: str, api_key: str | None, body: Any = None) -> tuple[int, Any, dict[str, str]]:
    headers = {"Content-Type": "application/json", **({"X-Auth-Token": api_key} if api_key else {})}
    response = handle(method, url, headers, json.dumps(body) if body is not None else None)
    out = dict(response.get("headers") or {})
    out.update({k: ",".join(v) for k, v in (response.get("multiValueHeaders") or {}).items()})
    text = response.get("body")
    return int(response["statusCode"]), json.loads(text) if text else None, out


def same(answer: Any) -> Any:
    """An answer without what differs between two requests (the request id, a list's `as_of` instant)."""
    if isinstance(answer, dict):
        out = {k: v for k, v in answer.items() if k != "request_id"}
        if isinstance(out.get("meta"), dict):
            out["meta"] = {k: v for k, v in out["meta"].items() if k != "as_of"}
        return out
    return answer


def assert_deprecated(headers: dict[str, str], successor: str) -> None:
    assert headers["Deprecation"] == f"@{registry.V1_DEPRECATED_AT}"
    assert parsedate_to_datetime(headers["Sunset"]).timestamp() == registry.V1_SUNSET_AT
    assert headers["Link"] == f'<{V2}{successor}>; rel="successor-version"'
    assert "X-RateLimit-Remaining" in headers  # the same limits: the shop's points


def test_the_reads_answer_what_their_v2_actions_answer(shop: Shop, catalog: dict[str, int]) -> None:
    key = shop.key
    one = signup(key, 101, "a@example.com")["id"]
    signup(key, 201, "b@example.com")
    reads = [
        ("/intents?status=pending", f"{SIGNUPS}?status=pending", SIGNUPS),
        (f"/intents/{one}", f"{SIGNUPS}/{one}", f"{SIGNUPS}/{one}"),
        (f"/products_in_demand?{WINDOW}", f"/back_in_stock/reports/products_in_demand?{WINDOW}", None),
    ]
    for v1_path, v2_path, successor in reads:
        old = send("GET", V1 + v1_path, key)
        new = send("GET", V2 + v2_path, key)
        assert old[0] == new[0] == 200 and same(old[1]) == same(new[1]), v1_path
        assert_deprecated(old[2], successor or v2_path.split("?")[0])
        assert "Deprecation" not in new[2]


def test_the_writes_run_their_v2_actions(shop: Shop, catalog: dict[str, int]) -> None:
    key = shop.key
    status, created, headers = send(
        "POST", V1 + "/intents", key, {"channel": "email", "shopify_variant_id": 101, "email": "v1@example.com"}
    )
    assert status == 201 and created["contact"] == "v1@example.com" and created["status"] == "pending"
    assert_deprecated(headers, SIGNUPS)
    assert send("GET", V2 + f"{SIGNUPS}/{created['id']}", key)[1] == created  # the v2 representation, stored once

    status, body, headers = send("POST", V1 + f"/intents/{created['id']}/notify_intent", key, {})
    twin = signup(key, 102, "twin@example.com")["id"]
    v2_status, v2_body, _ = send("POST", V2 + f"{SIGNUPS}/{twin}/notify", key, {})
    assert status == v2_status and status < 300 and body == {**v2_body, "signup_id": created["id"]}
    assert_deprecated(headers, f"{SIGNUPS}/{created['id']}/notify")

    other = signup(key, 102, "bulk@example.com")["id"]
    status, body, headers = send("POST", V1 + "/intents/bulk_notify_intent", key, {"signup_ids": [other]})
    v2_status, v2_body, _ = send("POST", V2 + f"{SIGNUPS}/bulk_notify", key, {"signup_ids": [other]})
    assert status == v2_status and status < 300 and body == {"success": [other], "failed": []}
    # the v1 call's send is still queued: the v2 call joins it (one alert per spacing window, whatever the route)
    assert v2_body == {"success": [other], "failed": [], "spaced": [{**v2_body["spaced"][0], "spacing": "joined"}]}
    assert_deprecated(headers, f"{SIGNUPS}/bulk_notify")

    doomed = signup(key, 201, "doomed@example.com")["id"]
    status, body, headers = send("DELETE", V1 + "/intents/bulk_destroy", key, {"signup_ids": [doomed]})
    assert status == 200 and body["deleted_count"] == 1, body
    assert send("GET", V2 + f"{SIGNUPS}/{doomed}", key)[0] == 404
    assert_deprecated(headers, f"{SIGNUPS}/bulk_delete")

    signup(key, 201, "moving@example.com")
    move = {"from_shopify_variant_id": 201, "to_shopify_variant_id": 102, "to_shopify_product_id": 10}
    status, body, headers = send("POST", V1 + "/intents/transfer_signups", key, move)
    assert status < 300, body
    assert_deprecated(headers, f"{SIGNUPS}/transfer")


def test_the_same_validation_errors_and_not_found(shop: Shop, catalog: dict[str, int]) -> None:
    key = shop.key
    bad = {"channel": "fax", "shopify_variant_id": "x", "extra": 1}
    old = send("POST", V1 + "/intents", key, bad)
    new = send("POST", V2 + SIGNUPS, key, bad)
    assert old[0] == new[0] == 422 and same(old[1]) == same(new[1])
    assert_deprecated(old[2], SIGNUPS)
    old = send("GET", V1 + "/intents/sig_nope", key)
    new = send("GET", V2 + f"{SIGNUPS}/sig_nope", key)
    assert old[0] == new[0] == 404 and same(old[1]) == same(new[1])


def test_the_same_auth_and_the_other_shops_ids_are_not_found(
    shop: Shop, other_shop: Shop, catalog: dict[str, int]
) -> None:
    theirs = signup(shop.key, 101, "mine@example.com")["id"]
    status, body, _ = send("GET", V1 + "/intents", None)
    assert (status, body["errors"]) == (401, [UNAUTHORIZED_MESSAGE])
    assert send("GET", V1 + f"/intents/{theirs}", other_shop.key)[0] == 404
    status, body, _ = send("DELETE", V1 + "/intents/bulk_destroy", other_shop.key, {"signup_ids": [theirs]})
    assert status == 422 or status == 404, body
    assert send("GET", V2 + f"{SIGNUPS}/{theirs}", shop.key)[0] == 200  # still there


def test_v1_help_names_each_successor_and_v2_help_lists_no_v1_route(shop: Shop) -> None:
    status, body, headers = send("GET", V1 + "/help", shop.key)
    assert status == 200 and body["base_path"] == V1
    routes = {(a["method"], a["path"]): a for a in body["actions"]}
    assert ("DELETE", "/intents/bulk_destroy") in routes
    assert routes[("DELETE", "/intents/bulk_destroy")]["successor"] == f"POST {V2}{SIGNUPS}/bulk_delete"
    assert routes[("POST", "/intents/:id/notify_intent")]["successor"] == f"POST {V2}{SIGNUPS}/:id/notify"
    assert all(a["deprecated"] is True for a in body["actions"])
    assert len(routes) == len(registry.v1_actions())
    assert_deprecated(headers, "/help")
    v2_help = send("GET", V2 + "/help", shop.key)[1]
    assert not [a for a in v2_help["actions"] if "intents" in a["path"] or "deprecated" in a]


def test_an_unknown_v1_route_is_the_gateways_404(shop: Shop) -> None:
    status, body, _ = send("GET", V1 + "/intents/a/b/c", shop.key)
    assert status == 404 and body["error_details"][0]["code"] == "not_found"
    # a v2 path under the v1 base is not a route either
    assert send("GET", V1 + SIGNUPS, shop.key)[0] == 404
