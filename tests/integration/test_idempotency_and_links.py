"""Idempotency-Key on create, notify, bulk notify and transfer; the signed customer links (opt-in, unsubscribe)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from backinstock import deps, ids, registry
from backinstock.services import links
from backinstock_tools.local.server import handle
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
SIGNUPS = "/back_in_stock/signups"
BODY = {"channel": "email", "shopify_variant_id": 101, "email": "idem@example.com"}


def header(response: dict[str, Any], name: str) -> str:
    """A header of a proxy response, wherever Powertools put it (single or multi-value)."""
    single = response.get("headers") or {}
    multi = response.get("multiValueHeaders") or {}
    return str(single.get(name) or ",".join(multi.get(name, [])))


def with_key(key: str, method: str, path: str, api_key: str, body: Any) -> tuple[int, Any]:
    return call(method, path, api_key, body, headers={"Idempotency-Key": key})


def test_same_key_same_body_replays_the_first_response(shop: Shop, catalog: dict[str, int]) -> None:
    first = with_key("k-1", "POST", SIGNUPS, shop.key, BODY)
    # other spacing and key order: the same request
    again = call(
        "POST",
        SIGNUPS,
        shop.key,
        raw_body='{"email": "idem@example.com",  "shopify_variant_id": 101, "channel": "email"}',
        headers={"Idempotency-Key": "k-1"},
    )
    assert first[0] == 201 and again == first
    assert call("GET", SIGNUPS, shop.key)[1]["meta"]["total_count"] == 1
    # without the key, the duplicate is what it is: a 409
    assert call("POST", SIGNUPS, shop.key, BODY)[0] == 409


def test_replay_is_marked(shop: Shop, catalog: dict[str, int]) -> None:
    headers = {"Idempotency-Key": "k-mark", "X-Auth-Token": shop.key, "Content-Type": "application/json"}
    import json

    first = handle("POST", registry.BASE_PATH + SIGNUPS, headers, json.dumps(BODY))
    second = handle("POST", registry.BASE_PATH + SIGNUPS, headers, json.dumps(BODY))
    assert header(first, "Idempotent-Replayed") == "false"
    assert header(second, "Idempotent-Replayed") == "true"
    assert second["statusCode"] == 201 and second["body"] == first["body"]


def test_same_key_other_body_is_422_and_changes_nothing(shop: Shop, catalog: dict[str, int]) -> None:
    assert with_key("k-2", "POST", SIGNUPS, shop.key, BODY)[0] == 201
    status, body = with_key("k-2", "POST", SIGNUPS, shop.key, {**BODY, "email": "other@example.com"})
    assert status == 422 and body["error_details"][0]["field"] == "Idempotency-Key"
    assert call("GET", f"{SIGNUPS}?email=other", shop.key)[1]["meta"]["total_count"] == 0


def test_keys_are_scoped_to_the_shop(shop: Shop, other_shop: Shop, catalog: dict[str, int]) -> None:
    deps.catalog().put_variant(other_shop.id, 101, 10, "Small / Blue", "Classic Tee")
    mine = with_key("shared", "POST", SIGNUPS, shop.key, BODY)
    theirs = with_key("shared", "POST", SIGNUPS, other_shop.key, BODY)
    assert mine[0] == theirs[0] == 201 and mine[1]["id"] != theirs[1]["id"]


def test_a_failed_request_is_not_stored(shop: Shop, catalog: dict[str, int]) -> None:
    bad = {**BODY, "shopify_variant_id": 999}
    assert with_key("k-3", "POST", SIGNUPS, shop.key, bad)[0] == 422
    deps.catalog().put_variant(shop.id, 999, 99, None, "New thing")
    assert with_key("k-3", "POST", SIGNUPS, shop.key, bad)[0] == 201


def test_notify_with_a_key_queues_once(shop: Shop, catalog: dict[str, int], worker: Any) -> None:
    _, signup = call("POST", SIGNUPS, shop.key, BODY)
    path = f"{SIGNUPS}/{signup['id']}/notify"
    assert with_key("n-1", "POST", path, shop.key, None) == (202, {"signup_id": signup["id"], "queued": True})
    assert with_key("n-1", "POST", path, shop.key, None)[0] == 202
    assert len(worker.pending()) == 1


def test_bulk_notify_and_transfer_with_a_key_queue_once(shop: Shop, catalog: dict[str, int], worker: Any) -> None:
    _, signup = call("POST", SIGNUPS, shop.key, BODY)
    bulk = {"signup_ids": [signup["id"]]}
    assert with_key("b-1", "POST", f"{SIGNUPS}/bulk_notify", shop.key, bulk)[0] == 200
    assert with_key("b-1", "POST", f"{SIGNUPS}/bulk_notify", shop.key, bulk)[0] == 200
    move = {"from_shopify_variant_id": 101, "to_shopify_variant_id": 102, "to_shopify_product_id": 10}
    first = with_key("t-1", "POST", f"{SIGNUPS}/transfer", shop.key, move)
    assert first[0] == 202 and with_key("t-1", "POST", f"{SIGNUPS}/transfer", shop.key, move) == first
    kinds = [json.loads(m["Body"])["kind"] for m in worker.pending()]
    assert sorted(kinds) == ["send", "transfer"]


def test_an_overlong_key_is_422(shop: Shop, catalog: dict[str, int]) -> None:
    status, body = with_key("x" * 256, "POST", SIGNUPS, shop.key, BODY)
    assert status == 422 and body["error_details"][0]["field"] == "Idempotency-Key"


# ----------------------------------------------------------------------------------------------------------- links
def page(method: str, path: str) -> tuple[int, str, str]:
    response = handle(method, registry.BASE_PATH + path, {}, None)
    return int(response["statusCode"]), header(response, "Content-Type"), response.get("body") or ""


def token_for(shop_id: str, signup_id: str, purpose: Any, moment: Any = None) -> str:
    return links.make_token(deps.link_secret(), shop_id, signup_id, purpose, moment or ids.now())


def test_confirm_optin_link(shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any, stream: Any) -> None:
    key = shop.key
    call("PATCH", "/back_in_stock/settings/compliance", key, {"optin_required": True})
    _, signup = call("POST", SIGNUPS, key, BODY)
    stream.drain()  # the committed signup queues its confirmation
    worker.drain()
    [email] = outbox.emails()
    match = re.search(r"/api/v2/external(/back_in_stock/optin/confirm\?token=[A-Za-z0-9_.-]+)", email.body)
    assert match
    # a mail scanner opens every link: the GET shows a page whose button POSTs, and confirms nothing
    status, content_type, html = page("GET", match.group(1))
    assert status == 200 and content_type.startswith("text/html") and '<form method="post"' in html
    assert call("GET", f"{SIGNUPS}/{signup['id']}", key)[1]["optin"] == {"required": True, "confirmed": False}
    status, content_type, html = page("POST", match.group(1))
    assert status == 200 and content_type.startswith("text/html") and "Classic Tee" in html
    assert call("GET", f"{SIGNUPS}/{signup['id']}", key)[1]["optin"] == {"required": True, "confirmed": True}


def test_unsubscribe_link_get_shows_a_form_post_unsubscribes(shop: Shop, catalog: dict[str, int]) -> None:
    key = shop.key
    _, signup = call("POST", SIGNUPS, key, BODY)
    path = f"/back_in_stock/unsubscribe?token={token_for(shop.id, signup['id'], 'unsubscribe')}"
    status, _, html = page("GET", path)
    assert status == 200 and '<form method="post"' in html
    assert call("GET", f"{SIGNUPS}/{signup['id']}", key)[1]["status"] == "pending"
    status, _, html = page("POST", path)
    assert status == 200 and "unsubscribed" in html
    assert call("GET", f"{SIGNUPS}/{signup['id']}", key)[1]["status"] == "unsubscribed"
    # the contact may sign up again: the pending guard was released
    assert call("POST", SIGNUPS, key, BODY)[0] == 201


def test_tampered_expired_or_misused_tokens_change_nothing(shop: Shop, catalog: dict[str, int]) -> None:
    key = shop.key
    _, signup = call("POST", SIGNUPS, key, BODY)
    good = token_for(shop.id, signup["id"], "unsubscribe")
    payload, signature = good.split(".")
    forged_payload = links._b64(links._unb64(payload).replace(b'"unsubscribe"', b'"optin"'))
    expired = token_for(shop.id, signup["id"], "unsubscribe", ids.now().replace(year=2000))
    for token in (
        f"{payload}.{signature[:-2]}AA",  # tampered signature
        f"{forged_payload}.{signature}",  # tampered payload
        expired,
        token_for(shop.id, signup["id"], "optin"),  # an opt-in token is not an unsubscribe token
        "not-a-token-at-all",
    ):
        status, content_type, html = page("POST", f"/back_in_stock/unsubscribe?token={token}")
        assert status == 400 and content_type.startswith("text/html") and "invalid or has expired" in html
    assert page("GET", f"/back_in_stock/optin/confirm?token={good}")[0] == 400
    assert page("POST", f"/back_in_stock/optin/confirm?token={good}")[0] == 400
    assert call("GET", f"{SIGNUPS}/{signup['id']}", key)[1]["status"] == "pending"
    # no token, or one too short or too long to be one: the same HTML page, never a JSON envelope
    for path in (
        "/back_in_stock/unsubscribe",
        "/back_in_stock/unsubscribe?token=short",
        f"/back_in_stock/unsubscribe?token={'a' * 2001}",
    ):
        for method in ("GET", "POST"):
            status, content_type, html = page(method, path)
            assert status == 400 and content_type.startswith("text/html") and "invalid or has expired" in html
    status, content_type, html = page("GET", "/back_in_stock/optin/confirm?token=x")
    assert status == 400 and content_type.startswith("text/html") and "invalid or has expired" in html
