"""API7:2023 Server Side Request Forgery. No request names a place the server would reach: no query or body field
takes a URL or host, and the links the API writes (in messages, in answers) name the API's own configured base,
never a Host header a client sent."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from backinstock import registry
from tests.e2e.conftest import eventually
from tests.security.conftest import call, outbox

pytestmark = pytest.mark.security
URL_LIKE = re.compile(r"url|uri|host|callback|endpoint|webhook|redirect|link|domain", re.IGNORECASE)


def test_no_request_field_takes_a_url_or_a_host() -> None:
    found = set()
    for action in registry.actions():
        for model in (action.query_model, action.body_model):
            fields = model.model_fields if model is not None else {}
            found |= {(action.name, name) for name, field in fields.items() if URL_LIKE.search(field.alias or name)}
    assert found == set(), found


def test_message_links_ignore_the_host_a_client_sends(server: dict[str, Any], attacker: dict[str, Any]) -> None:
    email = f"ssrf-{uuid.uuid4().hex[:8]}@example.com"
    evil = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "gopher"}
    body = {"channel": "email", "shopify_variant_id": attacker["variant_id"], "email": email}
    status, created, _ = call(attacker, "POST", "/back_in_stock/signups", body, headers=evil)
    assert status == 201
    assert call(attacker, "POST", f"/back_in_stock/signups/{created['id']}/notify", headers=evil)[0] == 202
    message = eventually(
        lambda: next((m for m in outbox(server)["emails"] if email in m["to"]), None), "the restock email"
    )
    api_links = [link for link in message["links"] if "/api/v2/external/" in link]
    assert api_links and all(link.startswith(server["base_url"]) for link in api_links)
    assert "evil.example" not in str(message)
