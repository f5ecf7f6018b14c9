"""The findings of the second security review (issue 25), each pinned by a test that failed before its fix. The
webhook findings live with the intake's tests (test_webhook_intake.py); the suite that keeps the API closed runs
over HTTP in `tests/security/`."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from backinstock import deps
from backinstock_tools.local.server import handle
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import call, wait_for_export

pytestmark = pytest.mark.integration
SIGNUPS = "/back_in_stock/signups"
JANE = "jane@example.com"


def open_link(url: str) -> tuple[int, Any]:
    link = urlsplit(url)
    response = handle("GET", f"{link.path}?{link.query}", {}, None)  # no API key: the token is the credential
    body = response.get("body")
    return response["statusCode"], json.loads(body) if body else None


def exported(key: str) -> dict[str, Any]:
    status, accepted = call("POST", f"{SIGNUPS}/export", key, {"variant_id": 101})
    assert status == 202, accepted
    job = wait_for_export(key, accepted["job_id"])
    assert job["status"] == "ready", job
    return job


def redact_payload(shop: Shop, email: str) -> dict[str, Any]:
    return {"shop_id": 1, "shop_domain": shop.domain, "customer": {"id": 7, "email": email}, "orders_to_redact": []}


# ------------------------------------------------------------------------------- 2. erased data stays erased
def test_customers_redact_retires_every_earlier_download_link(shop: Shop, catalog: dict[str, int]) -> None:
    key = shop.key
    assert call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": JANE})[0] == 201
    before = exported(key)
    assert open_link(before["download_url"])[0] == 302
    # When the customer's data is erased
    from backinstock.services import privacy

    privacy.redact_customer(deps.privacy(), deps.shops().require(shop.id), redact_payload(shop, JANE))
    # Then the earlier link (and the status's link, signed again) answers 410 saying why; a new export is served
    status, body = open_link(before["download_url"])
    assert status == 410 and "erased" in body["errors"][0], body
    assert open_link(wait_for_export(key, before["job_id"])["download_url"])[0] == 410
    assert open_link(exported(key)["download_url"])[0] == 302


def test_shop_redact_retires_every_download_link_of_the_shop(shop: Shop, catalog: dict[str, int]) -> None:
    key = shop.key
    assert call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": JANE})[0] == 201
    job = exported(key)
    from backinstock.services import privacy

    privacy.redact_shop(deps.privacy(), shop.id, {"shop_id": 1, "shop_domain": shop.domain})
    status, body = open_link(job["download_url"])
    assert status == 410 and "erased" in body["errors"][0], body


def test_an_erased_value_is_null_never_an_empty_string(history: dict[str, Any]) -> None:
    from backinstock.services import privacy

    shop = deps.shops().require(history["shop_id"])
    payload = {
        "shop_id": 1,
        "shop_domain": shop.domain,
        "customer": {"id": 90010, "email": "jo@example.com"},
        "orders_to_redact": [],
    }
    privacy.redact_customer(deps.privacy(), shop, payload)
    status, report = call("GET", "/preorders/reports/customers?from=2026-06-01&to=2026-08-31", history["api_key"])
    assert status == 200, report
    erased = [c for c in report["customers"] if c.get("email") is None]
    assert len(erased) == 1 and erased[0].get("last_order_at") is None, report
    assert "" not in [v for c in report["customers"] for v in c.values()]


# ------------------------------------------------------------------------ 6. input that is not what it claims
@pytest.mark.parametrize(
    "variant",
    ["jane@example.com\u0000", "ja\u200bne@example.com", "\uff4aane@example.com", "<script>@x.io", "jane..d@x.io",
     "jane@example.com\u200b", "jane@exam_ple.com", "j\u00e1ne@example.com"],
    ids=["nul", "zero-width", "full-width", "script", "double-dot", "end-zero-width", "underscore-domain", "accent"],
)  # fmt: skip
def test_an_email_that_is_not_one_spelling_of_an_address_is_refused(
    shop: Shop, catalog: dict[str, int], variant: str
) -> None:
    status, body = call("POST", SIGNUPS, shop.key, {"channel": "email", "shopify_variant_id": 101, "email": variant})
    assert status == 422 and body["error_details"][0]["field"] == "email", body


def test_one_person_is_one_signup_per_variant_and_channel(shop: Shop, catalog: dict[str, int]) -> None:
    key = shop.key
    assert call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": JANE})[0] == 201
    for spelling in (" JANE@Example.COM\t", "\u00a0jane@EXAMPLE.com"):
        status, body = call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": spelling})
        assert status == 409, (spelling, body)
    kelvin = call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": "\u212aate@x.io"})
    assert kelvin[0] == 201 and kelvin[1]["contact"] == "kate@x.io", kelvin  # NFC: KELVIN SIGN is K


@pytest.mark.parametrize(
    "phone", ["+15551234567\u0000", "+1555\u200b1234567", "\uff0b15551234567", "+1555123456\uff17"]
)
def test_a_phone_that_is_not_e164_is_refused(shop: Shop, catalog: dict[str, int], phone: str) -> None:
    status, body = call("POST", SIGNUPS, shop.key, {"channel": "sms", "shopify_variant_id": 101, "phone": phone})
    assert status == 422 and body["error_details"][0]["field"] == "phone", body


def test_json_with_a_repeated_key_is_refused(shop: Shop, catalog: dict[str, int]) -> None:
    raw = '{"channel": "email", "shopify_variant_id": 101, "email": "a@x.io", "email": "b@x.io"}'
    status, body = call("POST", SIGNUPS, shop.key, raw_body=raw)
    assert status == 422 and "'email' more than once" in body["errors"][0], body
    nested = '{"compliance": {"optin_required": true, "optin_required": false}}'
    status, body = call("PATCH", "/back_in_stock/settings", shop.key, raw_body=nested)
    assert status == 422 and "more than once" in body["errors"][0], body


def test_a_whole_number_with_a_fraction_is_not_an_integer(shop: Shop, catalog: dict[str, int]) -> None:
    body = {"channel": "email", "shopify_variant_id": 101.0, "email": JANE}
    status, answer = call("POST", SIGNUPS, shop.key, body)
    assert status == 422 and answer["error_details"][0]["field"] == "shopify_variant_id", answer


def test_an_order_line_of_10_18_units_is_refused_by_the_documented_bound(shopify: Any) -> None:
    from backinstock.models.webhooks import MAX_LINE_QUANTITY

    line = {"id": 1, "variant_id": 101, "product_id": 10, "price": "1.00", "quantity": 10**18}
    status, answer = shopify.post("orders/create", {"id": 77, "line_items": [line]})
    assert status == 422 and f"at most {MAX_LINE_QUANTITY}" in answer["errors"][0], answer
    assert shopify.queued() == []
    line["quantity"] = MAX_LINE_QUANTITY
    assert shopify.post("orders/create", {"id": 78, "line_items": [line]})[1]["status"] == "queued"
