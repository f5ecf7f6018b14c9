"""API10:2023 Unsafe Consumption of APIs. What Shopify sends is trusted only when signed: a webhook with a missing,
forged or other shop's signature is refused and queues nothing; the data the API hands on to spreadsheets (CSV
exports) cannot run as formulas."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import pytest

from tests.security.conftest import call

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


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rx"])
def test_csv_cells_that_look_like_formulas_are_neutralised(cell: str) -> None:
    from backinstock import csvfile

    assert csvfile.neutralise(cell) == "'" + cell
    assert csvfile.neutralise("plain text") == "plain text" and csvfile.neutralise(-2) == -2
