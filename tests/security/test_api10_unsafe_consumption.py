"""API10:2023 Unsafe Consumption of APIs. What Shopify sends is trusted only when signed: a webhook with a missing,
forged or other shop's signature is refused and queues nothing; a signed body means one thing (its topic's payload,
naming its own shop, acting once when it erases); the data the API hands on to spreadsheets (CSV exports) cannot run
as formulas."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import uuid
from typing import Any

import pytest

from tests.security.conftest import call, signed

pytestmark = pytest.mark.security
PATH = "/webhooks/shopify"


def webhook(server: dict[str, Any], body: bytes, **headers: str) -> tuple[int, Any]:
    sent = {"X-Shopify-Topic": "inventory_levels/update", "X-Shopify-Event-Id": str(uuid.uuid4()), **headers}
    status, answer, _ = call(server, "POST", PATH, raw=body, api_key=None, headers=sent)
    return status, answer


@pytest.mark.parametrize("case", ["missing", "forged", "other secret", "other domain", "unknown domain", "empty"])
def test_an_unsigned_or_forged_webhook_is_refused(case: str, server: dict[str, Any], attacker: dict[str, Any]) -> None:
    body = json.dumps({"inventory_item_id": 1, "location_id": 1, "available": 5}).encode()
    forged = base64.b64encode(hmac.new(b"guess", body, hashlib.sha256).digest()).decode()
    domain = "demo-shop.myshopify.com"
    headers = {
        "missing": {"X-Shopify-Shop-Domain": domain},
        "forged": {"X-Shopify-Shop-Domain": domain, "X-Shopify-Hmac-Sha256": "AAAA" + forged[4:]},
        "other secret": {"X-Shopify-Shop-Domain": domain, "X-Shopify-Hmac-Sha256": forged},
        "other domain": {"X-Shopify-Shop-Domain": attacker["domain"], "X-Shopify-Hmac-Sha256": forged},
        "unknown domain": {"X-Shopify-Shop-Domain": "nobody.myshopify.com", "X-Shopify-Hmac-Sha256": forged},
        "empty": {"X-Shopify-Shop-Domain": domain, "X-Shopify-Hmac-Sha256": ""},
    }[case]
    status, answer = webhook(server, body, **headers)
    assert status == 401, (case, answer)
    assert "queued" not in json.dumps(answer)


def test_a_signed_body_under_another_topic_changes_nothing(merchant: dict[str, Any]) -> None:
    # Given a captured, correctly signed inventory update and order
    level = json.dumps({"inventory_item_id": 1, "location_id": 1, "available": 5}).encode()
    order = json.dumps({"id": 9, "customer": {"id": 1, "email": "jane@example.com"}, "line_items": []}).encode()
    # When they are replayed as privacy topics, then they are refused and the shop still exists
    for body, topic in ((level, "shop/redact"), (order, "customers/redact"), (level, "customers/data_request")):
        status, answer = signed(merchant, topic, body)
        assert status == 422 and "payload" in answer["errors"][0], (topic, answer)
    assert call(merchant, "GET", "/back_in_stock/signups")[0] == 200


def test_a_privacy_payload_names_the_shop_that_signed_it(merchant: dict[str, Any], attacker: dict[str, Any]) -> None:
    body = json.dumps({"shop_id": 1, "shop_domain": attacker["domain"]}).encode()
    status, answer = signed(merchant, "shop/redact", body)
    assert status == 422 and "another shop" in answer["errors"][0], answer
    assert call(merchant, "GET", "/back_in_stock/signups")[0] == 200


def test_a_privacy_body_replayed_under_a_new_event_id_does_nothing(
    server: dict[str, Any], merchant: dict[str, Any]
) -> None:
    email = f"replay-{uuid.uuid4().hex[:8]}@example.com"
    body = json.dumps(
        {
            "shop_id": 1,
            "shop_domain": merchant["domain"],
            "customer": {"id": 5, "email": email},
            "orders_to_redact": [],
        }
    ).encode()
    assert signed(merchant, "customers/redact", body)[1]["status"] == "queued"
    # Given the customer signs up again after the erasure
    signup = {"channel": "email", "shopify_variant_id": merchant["variant_id"], "email": email}
    status, created, _ = call(merchant, "POST", "/back_in_stock/signups", signup)
    assert status == 201, created
    # When the old erasure is replayed under a new event id, then nothing is queued
    status, answer = signed(merchant, "customers/redact", body, event_id=str(uuid.uuid4()))
    assert (status, answer["status"]) == (200, "duplicate"), answer


@pytest.mark.parametrize("size", [1_100, 6_000])
def test_an_event_id_of_any_size_is_never_a_5xx(merchant: dict[str, Any], size: int) -> None:
    body = json.dumps({"inventory_item_id": 1, "location_id": 1, "available": 5}).encode()
    status, answer = signed(merchant, "inventory_levels/update", body, event_id="e" * size)
    assert status < 500 and answer["status"] == "queued", answer


def test_an_order_of_absurd_quantity_counts_nothing(merchant: dict[str, Any]) -> None:
    line = {"id": 1, "variant_id": merchant["variant_id"], "price": "1.00", "quantity": 10**18}
    status, answer = signed(merchant, "orders/create", json.dumps({"id": 5, "line_items": [line]}).encode())
    assert status == 422 and "at most 1000000" in answer["errors"][0], answer


def test_a_webhook_body_over_256_kb_is_refused(merchant: dict[str, Any]) -> None:
    body = json.dumps({"id": 1, "variants": [], "body_html": "x" * 300_000}).encode()
    status, answer = signed(merchant, "products/update", body)
    assert status == 413, answer


@pytest.mark.parametrize(
    "cell",
    ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rx",
     " =1+1", "\n=cmd", "\u00a0@SUM(A1)", "  \n +1", "\ufeff=1", "\uff1dSUM(A1)"],
)  # fmt: skip
def test_csv_cells_that_look_like_formulas_are_neutralised(cell: str) -> None:
    from backinstock import csvfile

    class Parts:
        body = b""

        def create_multipart_upload(self, **_: Any) -> dict[str, Any]:
            return {"UploadId": "u"}

        def upload_part(self, Body: bytes, **_: Any) -> dict[str, Any]:
            self.body += Body
            return {"ETag": "e"}

        def complete_multipart_upload(self, **_: Any) -> None:
            return None

    assert csvfile.neutralise(cell) == "'" + cell
    assert csvfile.neutralise("plain text") == "plain text" and csvfile.neutralise(-2) == -2
    assert csvfile.neutralise(" plain") == " plain" and csvfile.neutralise("a=b") == "a=b"
    s3 = Parts()  # the export's writer (its own, inlined check) neutralises alike
    writer = csvfile.MultipartCsv("b", "k", file_name="f.csv", client=s3)
    writer.write_row([cell, " plain"])
    writer.complete()
    assert next(csv.reader(io.StringIO(s3.body.decode(), newline=""))) == ["'" + cell, " plain"]
