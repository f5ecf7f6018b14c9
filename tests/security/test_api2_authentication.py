"""API2:2023 Broken Authentication. Every route that needs a key refuses a missing, malformed, revoked or rotated one
with the one 401; the signed links of messages refuse forged, swapped, expired, wrong-purpose and re-spelled tokens,
and a replayed link changes nothing more."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from backinstock import ids, registry
from backinstock.infra_spec import UNAUTHORIZED_MESSAGE
from backinstock.services import links
from backinstock_tools.testkit.samples import sample_request, v1_sample_request
from tests.e2e.conftest import cli, fetch
from tests.helpers import v1_base
from tests.security.conftest import call, link_secret, new_shop

pytestmark = pytest.mark.security


def keyed_routes() -> list[registry.Action]:
    return [a for a in registry.actions() if a.auth is not registry.Auth.PUBLIC]


def refused(status: int, answer: Any) -> bool:
    return status == 401 and answer["errors"] == [UNAUTHORIZED_MESSAGE]


@pytest.fixture(scope="module")
def rotated(server: dict[str, Any]) -> dict[str, Any]:
    """A shop whose key was rotated: `old_key` is revoked, `api_key` is the new one."""
    shop = new_shop(server, "rotated")
    result = cli(server, "shops", "rotate-key", "--shop-id", shop["shop_id"])
    assert result.returncode == 0, result.stderr
    return {**shop, "old_key": shop["api_key"], "api_key": json.loads(result.stdout)["api_key"]}


@pytest.mark.parametrize("action", keyed_routes(), ids=lambda a: a.name)
def test_every_keyed_route_refuses_a_missing_malformed_or_revoked_key(
    action: registry.Action, attacker: dict[str, Any], rotated: dict[str, Any]
) -> None:
    path, body, headers = sample_request(action, attacker["values"])
    header = "Authorization" if action.auth is registry.Auth.BEARER else "X-Auth-Token"
    prefix = "Bearer " if action.auth is registry.Auth.BEARER else ""
    headers = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "x-auth-token")}
    for key in (
        None,  # missing
        "",
        "not-a-key",
        "bis_" + "A" * 43,  # the right shape, no such key
        attacker["api_key"] + "x",
        attacker["api_key"][:-1],
        attacker["api_key"].upper(),
        " " * 8,
        "%00" + attacker["api_key"],
        "' OR '1'='1",
        rotated["old_key"],  # revoked by the rotation
    ):
        sent = {**headers, header: prefix + key} if key is not None else headers
        status, answer, _ = call(attacker, action.method, path, body, api_key=None, headers=sent)
        assert refused(status, answer), (action.name, key, status, answer)


@pytest.mark.parametrize("action", [a for a in keyed_routes() if a.v1 is not None], ids=lambda a: f"v1_{a.name}")
def test_every_v1_route_refuses_a_missing_malformed_or_revoked_key(
    action: registry.Action, attacker: dict[str, Any], rotated: dict[str, Any]
) -> None:
    assert action.v1 is not None
    path, body, headers = v1_sample_request(action, attacker["values"])
    for key in (None, "", "not-a-key", "bis_" + "A" * 43, attacker["api_key"] + "x", rotated["old_key"]):
        sent = {**headers, "X-Auth-Token": key} if key is not None else headers
        status, answer, _ = call(v1_base(attacker), action.v1.method, path, body, api_key=None, headers=sent)
        assert refused(status, answer), (action.name, key, status, answer)


def test_a_rotated_key_works_and_the_old_one_does_not(rotated: dict[str, Any]) -> None:
    assert call(rotated, "GET", "/back_in_stock/settings")[0] == 200
    assert refused(*call(rotated, "GET", "/back_in_stock/settings", api_key=rotated["old_key"])[:2])
    bearer = {"Authorization": f"Bearer {rotated['old_key']}"}
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert refused(*call(rotated, "POST", "/mcp", ping, api_key=None, headers=bearer)[:2])


def test_a_key_in_the_wrong_header_or_the_query_is_refused(attacker: dict[str, Any]) -> None:
    key = attacker["api_key"]
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-Api-Key": key}, {"Cookie": f"token={key}"}):
        assert refused(*call(attacker, "GET", "/back_in_stock/settings", api_key=None, headers=headers)[:2])
    assert refused(*call(attacker, "GET", f"/back_in_stock/settings?api_key={key}", api_key=None)[:2])
    basic = {"Authorization": f"Basic {key}"}
    assert refused(*call(attacker, "POST", "/mcp", {}, api_key=None, headers=basic)[:2])


# --- the signed links of messages -----------------------------------------------------------------------------------
def page(server: dict[str, Any], method: str, path: str) -> tuple[int, str]:
    status, text, headers = fetch(server["base_url"] + path, method, b"" if method == "POST" else None)
    assert headers["Content-Type"].startswith("text/html"), (path, text)
    return status, text


def forgeries(server: dict[str, Any], victim: dict[str, Any], attacker: dict[str, Any]) -> dict[str, str]:
    good = victim["values"]["unsubscribe_token"]
    payload, signature = good.split(".")
    other_payload, other_signature = attacker["values"]["unsubscribe_token"].split(".")
    key = link_secret(server)
    signup_id = victim["values"]["signup_id"]
    return {
        "tampered signature": f"{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
        "swapped signature": f"{payload}.{other_signature}",
        "swapped payload": f"{other_payload}.{signature}",
        "forged key": links.make_token(b"k" * 64, victim["shop_id"], signup_id, "unsubscribe", ids.now()),
        "expired": links.make_token(key, victim["shop_id"], signup_id, "unsubscribe", ids.now() - timedelta(days=91)),
        "wrong purpose": victim["values"]["optin_token"],
        "padded": f"{payload}==.{signature}",
        "trailing junk": f"{good}xyz",
        "extra part": f"{good}.{signature}",
        "another shop in a real signature": links.make_token(
            b"k" * 64, attacker["shop_id"], signup_id, "unsubscribe", ids.now()
        ),
    }


def test_forged_swapped_expired_or_respelled_links_change_nothing(
    server: dict[str, Any], victim: dict[str, Any], attacker: dict[str, Any]
) -> None:
    for what, token in forgeries(server, victim, attacker).items():
        for method, path in (
            ("GET", "/back_in_stock/unsubscribe"),
            ("POST", "/back_in_stock/unsubscribe"),
            ("GET", "/back_in_stock/optin/confirm"),
            ("POST", "/back_in_stock/optin/confirm"),
        ):
            if what == "wrong purpose" and "optin" in path:
                continue  # an opt-in token is the right purpose there (every other forgery is refused as well)
            status, text = page(server, method, f"{path}?token={token}")
            assert status == 400 and "invalid or has expired" in text, (what, method, path)
    signup = call(victim, "GET", f"/back_in_stock/signups/{victim['values']['signup_id']}")[1]
    assert signup["status"] == "notified"


def test_a_download_link_of_another_job_or_shop_is_refused(victim: dict[str, Any], attacker: dict[str, Any]) -> None:
    theirs = victim["values"]
    for job_id, token in (
        (attacker["values"]["job_id"], theirs["download_token"]),  # the victim's token on another job
        (theirs["job_id"], attacker["values"]["download_token"]),  # another shop's token on the victim's job
        (theirs["job_id"], theirs["download_token"][:-3] + "AAA"),
    ):
        status, answer, headers = call(
            attacker, "GET", f"/back_in_stock/reports/exports/{job_id}/download?token={token}", api_key=None
        )
        assert status == 404 and "Location" not in headers, (job_id, answer)


def test_a_replayed_unsubscribe_link_changes_nothing_more(server: dict[str, Any], attacker: dict[str, Any]) -> None:
    path = f"/back_in_stock/unsubscribe?token={attacker['values']['unsubscribe_token']}"
    first = page(server, "POST", path)
    assert first[0] == 200
    signup = call(attacker, "GET", f"/back_in_stock/signups/{attacker['values']['signup_id']}")[1]
    assert signup["status"] == "unsubscribed"
    assert page(server, "POST", path) == first  # the same answer, the same state
    assert call(attacker, "GET", f"/back_in_stock/signups/{attacker['values']['signup_id']}")[1] == signup


def test_one_identity_per_request_two_keys_in_two_headers_are_refused(
    victim: dict[str, Any], attacker: dict[str, Any]
) -> None:
    """The gateway caches an identity under the route's own header (X-Auth-Token, or Authorization on /mcp): a
    request naming one key there and another in the other header is refused, so no cached identity can be shared."""
    mcp = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    both = {"Authorization": f"Bearer {victim['api_key']}", "X-Auth-Token": attacker["api_key"]}
    status, answer, _ = call(victim, "POST", "/mcp", mcp, api_key=None, headers=both)
    assert refused(status, answer), (status, answer)
    swapped = {"Authorization": f"Bearer {attacker['api_key']}", "X-Auth-Token": victim["api_key"]}
    status, answer, _ = call(victim, "GET", "/back_in_stock/settings", api_key=None, headers=swapped)
    assert refused(status, answer), (status, answer)
    # The same key in both is one identity
    same = {"Authorization": f"Bearer {victim['api_key']}", "X-Auth-Token": victim["api_key"]}
    assert call(victim, "GET", "/back_in_stock/settings", api_key=None, headers=same)[0] == 200
    assert call(victim, "POST", "/mcp", mcp, api_key=None, headers=same)[0] == 200
