"""API1:2023 Broken Object Level Authorization. Another shop's ids behave exactly like unknown ids: on every route
that takes an id (from the registry), in bulk bodies, over MCP, and with a shared Idempotency-Key."""

from __future__ import annotations

import json
import re
import string
from typing import Any

import pytest

from backinstock import registry
from backinstock_tools.testkit.samples import sample_request, v1_sample_request
from tests.helpers import v1_base
from tests.security.conftest import call

pytestmark = pytest.mark.security
# The placeholders that name an object of the shop (the rest are the shop's own key, domain, dates).
OBJECT_IDS = ("signup_id", "pending_signup_id", "notification_id", "job_id", "offer_id", "restock_id")


def id_routes() -> list[registry.Action]:
    return [a for a in registry.actions() if a.auth is not registry.Auth.PUBLIC and ":" in a.path]


def unknown(value: str) -> str:
    """An id of the same shape that names nothing."""
    tail = "".join("0" if c != "0" else "1" for c in value[-6:] if c in string.hexdigits) or "0"
    return value[: len(value) - len(tail)] + tail


def normalized(body: Any, ids: dict[str, str]) -> str:
    text = json.dumps(body, sort_keys=True)
    for name, value in ids.items():
        text = text.replace(value, f"<{name}>")
    return re.sub(r'request_id(\\?"): ?(\\?")[0-9a-f-]+', r"request_id\1: \2<id>", text)


def theirs_and_unknown(attacker: dict[str, Any], victim: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    theirs = {**attacker["values"], **{k: victim["values"][k] for k in OBJECT_IDS}}
    nobody = {**attacker["values"], **{k: unknown(victim["values"][k]) for k in OBJECT_IDS}}
    return theirs, nobody


def test_every_route_that_takes_an_id_is_probed() -> None:
    # Every such route names its object through a sample placeholder this suite fills with the victim's id.
    for action in id_routes():
        assert action.sample is not None and any(f"{{{k}}}" in action.sample.path for k in OBJECT_IDS), action.name
    assert len(id_routes()) >= 9


@pytest.mark.parametrize("action", id_routes(), ids=lambda a: a.name)
def test_another_shops_id_answers_exactly_like_an_unknown_id(
    action: registry.Action, attacker: dict[str, Any], victim: dict[str, Any]
) -> None:
    theirs, nobody = theirs_and_unknown(attacker, victim)
    path, body, headers = sample_request(action, theirs)
    status, answer, _ = call(attacker, action.method, path, body, headers=headers)
    unknown_path, unknown_body, unknown_headers = sample_request(action, nobody)
    unknown_status, unknown_answer, _ = call(
        attacker, action.method, unknown_path, unknown_body, headers=unknown_headers
    )
    assert status == unknown_status == 404, (action.name, answer)
    ids = {k: theirs[k] for k in OBJECT_IDS}
    assert normalized(answer, ids) == normalized(unknown_answer, {k: nobody[k] for k in OBJECT_IDS})


@pytest.mark.parametrize("action", [a for a in id_routes() if a.v1 is not None], ids=lambda a: f"v1_{a.name}")
def test_on_the_v1_routes_another_shops_id_answers_exactly_like_an_unknown_id(
    action: registry.Action, attacker: dict[str, Any], victim: dict[str, Any]
) -> None:
    theirs, nobody = theirs_and_unknown(attacker, victim)
    assert action.v1 is not None
    path, body, headers = v1_sample_request(action, theirs)
    status, answer, _ = call(v1_base(attacker), action.v1.method, path, body, headers=headers)
    unknown_path, unknown_body, unknown_headers = v1_sample_request(action, nobody)
    unknown_status, unknown_answer, _ = call(
        v1_base(attacker), action.v1.method, unknown_path, unknown_body, headers=unknown_headers
    )
    assert status == unknown_status == 404, (action.name, answer)
    ids = {k: theirs[k] for k in OBJECT_IDS}
    assert normalized(answer, ids) == normalized(unknown_answer, {k: nobody[k] for k in OBJECT_IDS})


def test_bulk_bodies_treat_another_shops_ids_as_unknown(attacker: dict[str, Any], victim: dict[str, Any]) -> None:
    theirs = [victim["values"]["signup_id"], victim["values"]["pending_signup_id"]]
    status, answer, _ = call(attacker, "POST", "/back_in_stock/signups/bulk_notify", {"signup_ids": theirs})
    assert status == 207 and answer["success"] == [] and {f["signup_id"] for f in answer["failed"]} == set(theirs)
    nobody = [unknown(i) for i in theirs]
    _, unknown_answer, _ = call(attacker, "POST", "/back_in_stock/signups/bulk_notify", {"signup_ids": nobody})
    assert [f["error"] for f in answer["failed"]] == [f["error"] for f in unknown_answer["failed"]]
    # bulk delete is all-or-nothing: theirs are refused as not found, in the words an unknown id gets, and kept
    status, answer, _ = call(attacker, "POST", "/back_in_stock/signups/bulk_delete", {"signup_ids": theirs})
    _, unknown_answer, _ = call(attacker, "POST", "/back_in_stock/signups/bulk_delete", {"signup_ids": nobody})
    assert status == 422 and [d["code"] for d in answer["error_details"]] == ["not_found", "not_found"]
    swapped = {mine: other for mine, other in zip(theirs, nobody, strict=True)}
    messages = [d["message"] for d in answer["error_details"]]
    for signup_id, unknown_id in swapped.items():
        messages = [m.replace(signup_id, unknown_id) for m in messages]
    assert messages == [d["message"] for d in unknown_answer["error_details"]]
    assert call(victim, "GET", f"/back_in_stock/signups/{theirs[1]}")[0] == 200


@pytest.mark.parametrize(
    ("tool", "argument", "placeholder"),
    [
        ("get_signup", "id", "signup_id"),
        ("delete_signup", "id", "pending_signup_id"),
        ("notify_signup", "id", "signup_id"),
        ("get_notification", "id", "notification_id"),
        ("get_offer", "id", "offer_id"),
        ("get_restock", "id", "restock_id"),
        ("cancel_restock", "id", "restock_id"),
        ("get_report_export", "job_id", "job_id"),
        ("cancel_report_export", "job_id", "job_id"),
    ],
)
def test_mcp_tools_treat_another_shops_ids_as_unknown(
    tool: str, argument: str, placeholder: str, attacker: dict[str, Any], victim: dict[str, Any]
) -> None:
    def tool_call(value: str) -> dict[str, Any]:
        message = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": tool, "arguments": {argument: value}},
        }
        headers = {"Authorization": f"Bearer {attacker['api_key']}", "Accept": "application/json"}
        status, answer, _ = call(attacker, "POST", "/mcp", message, api_key=None, headers=headers)
        assert status == 200, answer
        return dict(answer["result"])

    theirs = victim["values"][placeholder]
    result, unknown_result = tool_call(theirs), tool_call(unknown(theirs))
    assert result["isError"] is True and result["structuredContent"]["status"] == 404
    assert normalized(result, {"id": theirs}) == normalized(unknown_result, {"id": unknown(theirs)})


def test_a_shared_idempotency_key_replays_nothing_across_shops(
    attacker: dict[str, Any], victim: dict[str, Any]
) -> None:
    key = "shared-key-0001"
    for shop, address in ((victim, "idem-victim@example.com"), (attacker, "idem-attacker@example.com")):
        body = {"channel": "email", "shopify_variant_id": shop["variant_id"], "email": address}
        status, created, headers = call(shop, "POST", "/back_in_stock/signups", body, headers={"Idempotency-Key": key})
        assert status == 201 and created["contact"] == address
        assert headers.get("Idempotent-Replayed") == "false"


def test_the_victims_objects_are_untouched(attacker: dict[str, Any], victim: dict[str, Any]) -> None:
    """After every probe above (deletes, notifies, cancels with the victim's ids): all still there, as they were."""
    values = victim["values"]
    for path in (
        f"/back_in_stock/signups/{values['signup_id']}",
        f"/back_in_stock/signups/{values['pending_signup_id']}",
        f"/back_in_stock/notifications/{values['notification_id']}",
        f"/preorders/offers/{values['offer_id']}",
        f"/back_in_stock/reports/exports/{values['job_id']}",
    ):
        status, answer, _ = call(victim, "GET", path)
        assert status == 200, (path, answer)
    assert call(victim, "GET", f"/back_in_stock/signups/{values['signup_id']}")[1]["notifications_sent"] == 1
    assert call(victim, "GET", f"/back_in_stock/reports/exports/{values['job_id']}")[1]["status"] != "cancelled"
