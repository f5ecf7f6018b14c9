"""API3:2023 Broken Object Property Level Authorization. Every body refuses a field it does not declare (mass
assignment), no answer carries the store's own properties (keys, index attributes, search copies, marks), and
what a privacy webhook erased is served by no file and no link afterwards."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from backinstock import registry
from backinstock_tools.testkit.samples import sample_request
from tests.e2e.conftest import eventually, fetch
from tests.security.conftest import call, signed

pytestmark = pytest.mark.security
# Names of the table's own attributes: never in a response.
STORE_PROPERTIES = (
    '"PK"', '"SK"', '"GSI1PK"', '"GSI1SK"', '"GSI2PK"', '"GSI2SK"', '"GSI3PK"', '"GSI3SK"', '"GSI4PK"', '"GSI4SK"',
    '"entity"', '"search_email"', '"search_phone"', '"last_send"',
    '"send_outstanding"', '"expires_at"', '"optin_requested_at"', '"shop_id"', '"api_key_hash"', '"webhook_secret"',
)  # fmt: skip
EXTRA_FIELDS = {"shop_id": "someone-else", "notifications_sent": 99, "is_admin": True, "__proto__": {"x": 1}}


def body_routes() -> list[registry.Action]:
    return [a for a in registry.actions() if a.body_model is not None and a.auth is registry.Auth.API_KEY]


@pytest.mark.parametrize("action", body_routes(), ids=lambda a: a.name)
def test_every_body_refuses_a_field_it_does_not_declare(action: registry.Action, attacker: dict[str, Any]) -> None:
    path, body, headers = sample_request(action, attacker["values"])
    for name, value in EXTRA_FIELDS.items():
        status, answer, _ = call(attacker, action.method, path, {**(body or {}), name: value}, headers=headers)
        assert status == 422, (action.name, name, status, answer)
        assert name in json.dumps(answer), (action.name, answer)


@pytest.mark.parametrize(
    "path",
    [
        "/back_in_stock/signups/{signup_id}",
        "/back_in_stock/signups",
        "/back_in_stock/notifications/{notification_id}",
        "/back_in_stock/notifications",
        "/preorders/offers/{offer_id}",
        "/back_in_stock/settings",
        "/back_in_stock/reports/exports/{job_id}",
    ],
)
def test_no_answer_carries_the_stores_own_properties(path: str, attacker: dict[str, Any]) -> None:
    status, answer, _ = call(attacker, "GET", path.format_map(attacker["values"]))
    assert status == 200, answer
    text = json.dumps(answer)
    for name in STORE_PROPERTIES:
        assert name not in text, (path, name)
    assert attacker["shop_id"] not in text


def test_an_erased_customer_is_served_by_no_earlier_export_link(merchant: dict[str, Any]) -> None:
    # Given a customer's signup and an export of the waitlist made before their erasure
    email = f"erase-{uuid.uuid4().hex[:8]}@example.com"
    body = {"channel": "email", "shopify_variant_id": merchant["variant_id"], "email": email}
    assert call(merchant, "POST", "/back_in_stock/signups", body)[0] == 201
    status, job, _ = call(merchant, "POST", "/back_in_stock/signups/export", {"variant_id": merchant["variant_id"]})
    assert status == 202, job

    def ready() -> Any:
        answer = call(merchant, "GET", f"/back_in_stock/reports/exports/{job['job_id']}")[1]
        return answer if answer["status"] == "ready" else None

    link = eventually(ready, "the export")["download_url"]
    assert fetch(link)[0] == 200  # the redirect, followed: the file with the customer's email
    # When Shopify asks for the customer's erasure
    redact = {"shop_id": 1, "shop_domain": merchant["domain"], "customer": {"id": 3, "email": email},
              "orders_to_redact": []}  # fmt: skip
    assert signed(merchant, "customers/redact", json.dumps(redact).encode())[1]["status"] == "queued"
    # Then the earlier link answers 410 and says why
    status, text, _ = eventually(lambda: (lambda got: got if got[0] != 200 else None)(fetch(link)), "the erasure")
    assert status == 410 and "erased" in text and email not in text, text
