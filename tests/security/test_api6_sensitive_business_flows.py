"""API6:2023 Unrestricted Access to Sensitive Business Flows. Resends cannot flood a customer; a look-alike spelling
of an address is no second signup (so no second alert); a mail scanner that opens every link confirms and
unsubscribes nothing; a mailbox's one-click unsubscribe works."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import eventually, fetch
from tests.security.conftest import call, outbox

pytestmark = pytest.mark.security


def new_signup(shop: dict[str, Any]) -> tuple[str, str]:
    email = f"flow-{uuid.uuid4().hex[:8]}@example.com"
    body = {"channel": "email", "shopify_variant_id": shop["variant_id"], "email": email}
    status, created, _ = call(shop, "POST", "/back_in_stock/signups", body)
    assert status == 201, created
    return created["id"], email


def emails_to(server: dict[str, Any], address: str) -> list[dict[str, Any]]:
    return [m for m in outbox(server)["emails"] if address in m["to"]]


def test_resends_in_a_burst_send_one_email(server: dict[str, Any], attacker: dict[str, Any]) -> None:
    signup_id, email = new_signup(attacker)
    answers = [
        call(attacker, "POST", f"/back_in_stock/signups/{signup_id}/notify", {"allow_resend": True})[:2]
        for _ in range(8)
    ]
    assert all(status == 202 for status, _ in answers)
    assert answers[0][1] == {"signup_id": signup_id, "queued": True}
    # A resend while the previous send is queued or in flight joins it; only the others queued an email (how many
    # joined depends on how fast the worker is: never two sends at once, never an email for a joined one).
    queued = sum(1 for _, body in answers if not body.get("coalesced"))
    assert all(body.get("coalesced") in (None, True) and body["queued"] is True for _, body in answers)
    eventually(
        lambda: call(attacker, "GET", f"/back_in_stock/signups/{signup_id}")[1]["notifications_sent"] == queued,
        "the sends of the queued notifies",
    )
    assert len(emails_to(server, email)) == queued


def test_a_scanner_opening_every_link_changes_nothing(server: dict[str, Any], attacker: dict[str, Any]) -> None:
    signup_id, email = new_signup(attacker)
    assert call(attacker, "POST", f"/back_in_stock/signups/{signup_id}/notify")[0] == 202
    message = eventually(lambda: next(iter(emails_to(server, email)), None), "the restock email")
    for link in message["links"]:
        if "/api/v2/external/" in link:
            fetch(link)  # GET, as a scanner does
    assert call(attacker, "GET", f"/back_in_stock/signups/{signup_id}")[1]["status"] == "notified"


def test_one_click_unsubscribe_from_the_emails_header(server: dict[str, Any], attacker: dict[str, Any]) -> None:
    signup_id, email = new_signup(attacker)
    assert call(attacker, "POST", f"/back_in_stock/signups/{signup_id}/notify")[0] == 202
    message = eventually(lambda: next(iter(emails_to(server, email)), None), "the restock email")
    assert message["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message["headers"]["List-Unsubscribe"].strip("<>")
    status, _, _ = fetch(url, "POST", b"List-Unsubscribe=One-Click")
    assert status == 200
    assert call(attacker, "GET", f"/back_in_stock/signups/{signup_id}")[1]["status"] == "unsubscribed"


def test_a_look_alike_address_is_no_second_signup(attacker: dict[str, Any]) -> None:
    _, email = new_signup(attacker)
    local, domain = email.split("@")
    variants = {
        "nul": email + "\u0000",
        "zero-width": f"{local}\u200b@{domain}",
        "full-width": "\uff46" + email[1:],
        "markup": "<script>@x.io",
        "case and space": f" {local.upper()}@{domain.upper()} ",
    }
    for case, spelling in variants.items():
        body = {"channel": "email", "shopify_variant_id": attacker["variant_id"], "email": spelling}
        status, answer, _ = call(attacker, "POST", "/back_in_stock/signups", body)
        assert status == (409 if case == "case and space" else 422), (case, status, answer)
