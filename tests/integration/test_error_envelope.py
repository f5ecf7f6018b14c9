"""One error shape everywhere: the gateway's own answers (401, unknown route, 413) and the functions' answers carry
`errors`, `error_details` and `request_id`; a body that is not JSON is a 415; path parameters are decoded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backinstock import registry
from backinstock.api.validation import MAX_BODY_BYTES
from backinstock_tools.local.server import handle
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
SIGNUPS = "/back_in_stock/signups"
ENVELOPE = {"errors", "error_details", "request_id"}
BODY = {"channel": "email", "shopify_variant_id": 101, "email": "jane@example.com"}


def assert_envelope(body: Any, code: str) -> None:
    assert set(body) == ENVELOPE, body
    assert [d["code"] for d in body["error_details"]] == [code]
    assert body["errors"] == [
        d["message"] if not d["field"] else f"{d['field']}: {d['message']}" for d in body["error_details"]
    ]
    assert isinstance(body["request_id"], str) and body["request_id"]


def total(key: str) -> int:
    return int(call("GET", SIGNUPS, key)[1]["meta"]["total_count"])


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "code"),
    [
        ("GET", "/back_in_stock/settings", {}, 401, "unauthorized"),
        ("GET", "/back_in_stock/settings", {"X-Auth-Token": "not-a-key"}, 401, "unauthorized"),
        ("GET", "/back_in_stock/nothing_here", None, 404, "not_found"),
        ("DELETE", "/back_in_stock/settings", None, 405, "method_not_allowed"),
        ("TRACE", "/back_in_stock/nothing_here", None, 404, "not_found"),
        ("GET", f"{SIGNUPS}/01000000-0000-7000-8000-000000000000", None, 404, "not_found"),
        ("GET", f"{SIGNUPS}?per_page=0", None, 422, "greater_than_equal"),
    ],
)
def test_every_error_has_the_same_envelope(
    shop: Shop, method: str, path: str, headers: dict[str, str] | None, status: int, code: str
) -> None:
    got, body = call(method, path, shop.key if headers is None else None, headers=headers)
    assert got == status
    assert_envelope(body, code)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/back_in_stock/settings", "GET, PATCH"),
        ("TRACE", SIGNUPS, "GET, POST"),
        ("OPTIONS", SIGNUPS, "GET, POST"),
        ("PUT", f"{SIGNUPS}/01000000-0000-7000-8000-000000000000", "DELETE, GET"),
        ("POST", f"{SIGNUPS}/help", "GET"),  # the static help route, not signups/:id (as API Gateway picks it)
        ("GET", "/mcp", "POST"),
    ],
)
def test_a_method_no_action_declares_on_a_known_path_is_a_405_naming_the_allowed_ones(
    shop: Shop, method: str, path: str, allowed: str
) -> None:
    # When a method the path does not declare is sent (with a key or without: nothing runs)
    for key in (shop.key, None):
        response = handle(method, registry.BASE_PATH + path, {"X-Auth-Token": key} if key else {}, None)
        # Then 405, Allow lists the declared methods, and the body is the envelope saying so
        assert response["statusCode"] == 405
        assert response["headers"]["Allow"] == allowed
        body = json.loads(response["body"])
        assert_envelope(body, "method_not_allowed")
        assert body["errors"] == [f"{method} is not allowed on this path; allowed: {allowed}"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/json"]
)
def test_a_body_not_sent_as_json_is_a_415_and_creates_nothing(
    shop: Shop, catalog: dict[str, int], content_type: str
) -> None:
    status, body = call("POST", SIGNUPS, shop.key, BODY, headers={"Content-Type": content_type})
    assert status == 415
    assert_envelope(body, "unsupported_media_type")
    assert "application/json" in body["errors"][0] and content_type.split(";")[0] in body["errors"][0]
    assert total(shop.key) == 0


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/merge-patch+json", None])
def test_json_bodies_are_accepted_with_any_json_type_or_none(
    shop: Shop, catalog: dict[str, int], content_type: str | None
) -> None:
    from backinstock import registry
    from backinstock_tools.local.server import handle

    headers = {"X-Auth-Token": shop.key, **({"Content-Type": content_type} if content_type else {})}
    response = handle("POST", registry.BASE_PATH + SIGNUPS, headers, json.dumps(BODY))
    assert response["statusCode"] == 201, response["body"]


def test_a_body_over_the_limit_is_a_413_and_creates_nothing(shop: Shop, catalog: dict[str, int]) -> None:
    status, body = call("POST", SIGNUPS, shop.key, {**BODY, "name": "x" * MAX_BODY_BYTES})
    assert status == 413
    assert_envelope(body, "payload_too_large")
    assert total(shop.key) == 0


def test_path_parameters_are_url_decoded(shop: Shop) -> None:
    status, body = call("GET", f"{SIGNUPS}/%C3%A9t%C3%A9", shop.key)
    assert status == 404 and "été" in body["errors"][0] and "%C3" not in body["errors"][0]


def test_internal_names_neither_leak_nor_work(shop: Shop) -> None:
    status, body = call("GET", f"{SIGNUPS}?foo=bar", shop.key)
    assert status == 422
    [message] = body["errors"]
    assert message.startswith("foo: is not a known field; allowed: from, to,") and "from_" not in message
    status, body = call("GET", f"{SIGNUPS}?from_=2026-01-01", shop.key)
    assert status == 422 and body["errors"][0].startswith("from_: is not a known field")
    assert call("GET", f"{SIGNUPS}?from=2026-01-01", shop.key)[0] == 200


@pytest.mark.parametrize(
    ("query", "body", "field"),
    [
        ("?from=yesterday", None, "from"),
        ("?as_of=2026-06-01T12:00:00 00:00", None, "as_of"),
        ("", {**BODY, "email": "jane"}, "email"),
        ("", {"channel": "sms", "shopify_variant_id": 101, "phone": "555"}, "phone"),
        ("", {**BODY, "name": "x" * 201}, "name"),
    ],
)
def test_a_message_names_the_field_and_says_got_once(
    shop: Shop, catalog: dict[str, int], query: str, body: dict[str, Any] | None, field: str
) -> None:
    status, answer = call("POST" if body else "GET", SIGNUPS + query, shop.key, body)
    assert status == 422
    [message] = answer["errors"]
    assert message.startswith(f"{field}: ") and message.count("(got ") <= 1, message
    assert "should" not in message, message
