"""The findings of the security review (issue 18), each pinned by a test that failed before its fix. The suite that
keeps the rest of the API closed runs over HTTP in `tests/security/`."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from backinstock import deps, ids, registry
from backinstock.registry import Access
from backinstock.services import links
from backinstock_tools.local.server import handle
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
SIGNUPS = "/back_in_stock/signups"


def raw(method: str, path: str, api_key: str | None = None, body: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", **({"X-Auth-Token": api_key} if api_key else {})}
    return handle(method, registry.BASE_PATH + path, headers, body)


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    merged = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    merged.update({k.lower(): ",".join(v) for k, v in (response.get("multiValueHeaders") or {}).items()})
    return merged


# --- 1. no GET changes state ----------------------------------------------------------------------------------------
def test_no_get_action_may_write() -> None:
    writers = {Access.TABLE_WRITE, Access.SEND_QUEUE, Access.WEBHOOK_QUEUE, Access.IDEMPOTENCY, Access.EXPORT_RUN}
    for action in registry.actions():
        if action.method == "GET":
            assert not action.access & writers, f"GET {action.path} ({action.name}) may change state"


# --- 3. extremes answer 4xx, never 500 ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query",
    [
        "from=9998-12-31&to=9999-12-31",
        "to=9999-12-31",
        "to=0001-01-01",
        "from=0001-01-01&to=2026-01-01",
        "from=1969-12-31&to=1970-01-01",
    ],
)
def test_report_windows_at_the_ends_of_the_calendar_are_a_422(shop: Shop, query: str) -> None:
    for report in ("signups", "summary", "notifications", "products_in_demand"):
        status, body = call("GET", f"/back_in_stock/reports/{report}?{query}", shop.key)
        assert status == 422, (report, query, body)
        assert "between 1970-01-01 and 2999-12-31" in json.dumps(body)
    status, body = call("GET", f"/preorders/reports/summary?{query}", shop.key)
    assert status == 422, (query, body)


def test_ids_beyond_what_shopify_issues_are_a_422(shop: Shop) -> None:
    for path in ("/preorders/offers", SIGNUPS, "/back_in_stock/reports/summary", "/preorders/reports/by_product"):
        for value in (10**40, 2**63, 0, -1):
            status, body = call("GET", f"{path}?variant_id={value}", shop.key)
            assert status == 422, (path, value, body)


# --- 9. window edges ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query", ["from=1969-12-31", "as_of=1969-01-01T00:00:00Z", "to=1969-12-31", "from=0001-01-01T00:00:00%2B14:00"]
)
def test_a_list_bound_before_1970_is_a_422_that_says_what_is_allowed(
    shop: Shop, catalog: dict[str, int], query: str
) -> None:
    call("POST", SIGNUPS, shop.key, {"channel": "email", "shopify_variant_id": 101, "email": "w@example.com"})
    for path in (SIGNUPS, "/back_in_stock/notifications"):
        status, body = call("GET", f"{path}?{query}", shop.key)
        assert status == 422 and "between 1970-01-01 and 2999-12-31" in json.dumps(body), (path, body)


def test_list_bounds_select_by_time(shop: Shop, catalog: dict[str, int]) -> None:
    call("POST", SIGNUPS, shop.key, {"channel": "email", "shopify_variant_id": 101, "email": "w@example.com"})
    count = lambda q: call("GET", f"{SIGNUPS}?{q}", shop.key)[1]["meta"]["total_count"]  # noqa: E731
    assert count("from=1970-01-01") == 1
    assert count("as_of=1970-01-01T00:00:00Z") == 0
    assert count("as_of=2000-01-01T00:00:00Z") == 0
    assert count("as_of=2999-12-31T00:00:00Z") == 1


def test_an_id_bound_before_1970_is_before_every_id() -> None:
    low, high = ids.id_bounds(ids.parse("1969-01-01T00:00:00Z"), None)
    assert low <= ids.uuid7() <= high
    low, high = ids.id_bounds(None, ids.parse("1969-01-01T00:00:00Z"))
    assert not low <= ids.uuid7() <= high


# --- 7. security headers --------------------------------------------------------------------------------------------
def test_json_answers_and_errors_are_not_sniffed_nor_cached(shop: Shop) -> None:
    for method, path, key in (
        ("GET", "/back_in_stock/settings", shop.key),  # 200
        ("GET", f"{SIGNUPS}/{ids.uuid7()}", shop.key),  # 404 from the function
        ("GET", f"{SIGNUPS}?page=0", shop.key),  # 422
        ("GET", "/back_in_stock/settings", None),  # 401 from the gateway
        ("GET", "/no/such/route", shop.key),  # 404 from the gateway
    ):
        headers = headers_of(raw(method, path, key))
        assert headers["x-content-type-options"] == "nosniff", (method, path)
        assert headers["cache-control"] == "no-store", (method, path)


def test_link_pages_carry_a_strict_policy_whatever_their_token(shop: Shop, catalog: dict[str, int]) -> None:
    _, signup = call("POST", SIGNUPS, shop.key, {"channel": "email", "shopify_variant_id": 101, "email": "h@e.io"})
    good = links.make_token(deps.link_secret(), shop.id, signup["id"], "unsubscribe", ids.now())
    for method, path in (
        ("GET", f"/back_in_stock/unsubscribe?token={good}"),
        ("GET", "/back_in_stock/unsubscribe?token=bad"),  # too short to be a token: still the page, not JSON
        ("GET", "/back_in_stock/unsubscribe"),
        ("GET", "/back_in_stock/optin/confirm?token=" + "x" * 3000),
        ("POST", "/back_in_stock/optin/confirm?token=bad"),
    ):
        response = raw(method, path)
        headers = headers_of(response)
        assert headers["content-type"].startswith("text/html"), (method, path, response)
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"


def test_a_token_is_url_encoded_wherever_a_page_carries_it() -> None:
    from backinstock.services import customer_links

    assert links.link("https://api.example", "a+b/c=&d", "optin").endswith("?token=a%2Bb%2Fc%3D%26d")
    assert customer_links.form_action("a+b&c=\"'<") == "?token=a%2Bb%26c%3D%22%27%3C"


@pytest.mark.parametrize("spelling", ["{p}==.{s}", "{p}.{s}==", "{p}.{s}A", "{p}.{s}\n", " {p}.{s}", "{p}.{s}.x"])
def test_a_token_has_one_spelling(spelling: str) -> None:
    key, moment = b"k" * 32, ids.now()
    token = links.make_token(key, "shop", ids.uuid7(), "unsubscribe", moment)
    payload, signature = token.split(".")
    assert links.verify_token(key, token, "unsubscribe", moment) is not None
    assert links.verify_token(key, spelling.format(p=payload, s=signature), "unsubscribe", moment) is None


# --- 6. no contact data, token or key in any log line ---------------------------------------------------------------
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
PHONE = re.compile(r"\+?1?5555550\d{3}")


def test_no_log_line_of_a_run_through_every_action_carries_contacts_tokens_or_keys(
    shop: Shop,
    catalog: dict[str, int],
    worker: Any,
    shopify: Any,
    stream: Any,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from backinstock_tools.testkit.drivers import WEBHOOK_SECRET
    from backinstock_tools.testkit.samples import ready_for, sample_request, sample_values

    key = shop.key
    sms = {"channel": "sms", "shopify_variant_id": 102, "phone": "+15555550123", "name": "Pat"}
    _, signup = call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": "jo@example.com"})
    # refused: a duplicate (409), an invalid address and phone (422)
    assert (
        call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": "jo@example.com"})[0] == 409
    )
    assert (
        call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": "jo@@example.com"})[0]
        == 422
    )
    assert call("POST", SIGNUPS, key, {**sms, "phone": "+1555555012345678901"})[0] == 422
    assert call("POST", SIGNUPS, key, sms)[0] == 201
    assert call("GET", f"{SIGNUPS}?email=jo@example.com&phone=5555550123", key)[0] == 200
    assert call("GET", "/back_in_stock/settings", "not-the-key-" + key[-8:])[0] == 401
    call("POST", f"{SIGNUPS}/{signup['id']}/notify", key)
    worker.drain()
    notification_id = call("GET", "/back_in_stock/notifications", key)[1]["notifications"][0]["id"]
    _, pending = call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 201, "email": "d@example.org"})
    _, spare = call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 102, "email": "s@example.org"})
    values = sample_values(
        shop.id,
        key,
        shop.domain,
        signup_id=signup["id"],
        pending_signup_id=pending["id"],
        spare_signup_id=spare["id"],
        notification_id=notification_id,
    )
    tokens = {name: values[name] for name in ("optin_token", "unsubscribe_token", "download_token")}
    order = sorted(registry.actions(), key=lambda a: a.name in ("delete_signup", "unsubscribe"))
    for action in order:
        ready_for(action, shop.id)
        path, body, headers = sample_request(action, values, WEBHOOK_SECRET)
        call(action.method, path, key if action.auth is registry.Auth.API_KEY else None, body, headers=headers)
        if action.body_model is not None:  # and refused: an unknown field
            call(action.method, path, key, {**(body or {}), "email_of": "x@example.com"}, headers=headers)
    worker.drain()
    shopify.process()
    stream.drain()

    captured = capfd.readouterr()
    logged = captured.out + captured.err + "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "request rejected" in logged  # the refusals above were logged, by code
    assert not EMAIL.search(logged), EMAIL.search(logged)
    assert not PHONE.search(logged), PHONE.search(logged)
    for secret in (key, *tokens.values()):
        assert secret not in logged


# --- 5. resends coalesce --------------------------------------------------------------------------------------------
def test_eight_resends_in_a_second_send_one_email_and_say_they_coalesced(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any
) -> None:
    key = shop.key
    _, signup = call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": "r@example.com"})
    path = f"{SIGNUPS}/{signup['id']}/notify"
    answers = [call("POST", path, key, {"allow_resend": True}) for _ in range(8)]
    assert answers[0] == (202, {"signup_id": signup["id"], "queued": True})  # the reference's shape
    assert all(a[0] == 202 and a[1]["coalesced"] is True and a[1]["spacing"] == "joined" for a in answers[1:])
    assert worker.pending_count() == 1
    worker.drain()
    assert len(outbox.emails()) == 1
    # processed: a resend inside the spacing window (10 minutes by default) is held, not sent
    status, held = call("POST", path, key, {"allow_resend": True})
    assert (status, held["spacing"], held["queued"]) == (202, "held", True)
    worker.drain()
    assert len(outbox.emails()) == 1
    # with no spacing, the reference's allow_resend re-notifies once the previous send is done
    call("PATCH", "/back_in_stock/settings/delivery", key, {"resend_spacing_minutes": 0})
    _, other = call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": "o@example.com"})
    path = f"{SIGNUPS}/{other['id']}/notify"
    for sent in (2, 3):
        assert call("POST", path, key, {"allow_resend": True}) == (202, {"signup_id": other["id"], "queued": True})
        worker.drain()
        assert len(outbox.emails()) == sent
    assert call("GET", f"{SIGNUPS}/{other['id']}", key)[1]["notifications_sent"] == 2


def test_a_lost_send_stops_holding_the_signup_after_a_while(shop: Shop, catalog: dict[str, int]) -> None:
    from backinstock.models.signups import NotifyBody
    from backinstock.services import signups

    _, signup = call(
        "POST", SIGNUPS, shop.key, {"channel": "email", "shopify_variant_id": 101, "email": "l@example.com"}
    )
    body, moment = NotifyBody(allow_resend=True), ids.now()
    assert signups.notify(deps.waitlist(), shop.id, signup["id"], body, moment).coalesced is None
    assert signups.notify(deps.waitlist(), shop.id, signup["id"], body, moment).coalesced is True
    later = moment + signups.OUTSTANDING_FOR + timedelta(seconds=1)
    assert signups.notify(deps.waitlist(), shop.id, signup["id"], body, later).coalesced is None


# --- 2. one-click unsubscribe ---------------------------------------------------------------------------------------
def test_a_restock_email_carries_one_click_unsubscribe_and_its_post_unsubscribes(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any
) -> None:
    key = shop.key
    _, signup = call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": "u@example.com"})
    call("POST", f"{SIGNUPS}/{signup['id']}/notify", key)
    worker.drain()
    [email] = outbox.emails()
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    match = re.fullmatch(
        r"<https?://[^>]*/api/v2/external(/back_in_stock/unsubscribe\?token=[^>]+)>", email.headers["List-Unsubscribe"]
    )
    assert match, email.headers["List-Unsubscribe"]
    # what a mailbox provider sends (RFC 8058): a form POST to that URL
    response = handle(
        "POST",
        registry.BASE_PATH + match.group(1),
        {"Content-Type": "application/x-www-form-urlencoded"},
        "List-Unsubscribe=One-Click",
    )
    assert response["statusCode"] == 200, response
    assert call("GET", f"{SIGNUPS}/{signup['id']}", key)[1]["status"] == "unsubscribed"


def test_the_local_outbox_shows_each_emails_headers(shop: Shop, catalog: dict[str, int], worker: Any) -> None:
    from backinstock_tools.local import outbox

    key = shop.key
    _, signup = call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": "o@example.com"})
    call("POST", f"{SIGNUPS}/{signup['id']}/notify", key)
    worker.drain()
    [email] = outbox.read()["emails"]
    assert email["to"] == ["o@example.com"] and "back in stock" in email["subject"]
    assert email["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email["headers"]["List-Unsubscribe"].startswith("<") and "/back_in_stock/unsubscribe?token=" in email["text"]


# --- 8. the local outbox --------------------------------------------------------------------------------------------
def test_the_outbox_beyond_loopback_needs_a_key_and_shows_only_that_shops_messages(
    shop: Shop, other_shop: Shop, catalog: dict[str, int], worker: Any
) -> None:
    deps.catalog().put_variant(other_shop.id, 101, 10, "Small / Blue", "Classic Tee", "classic-tee")
    for owner, address in ((shop, "mine@example.com"), (other_shop, "theirs@example.com")):
        body = {"channel": "email", "shopify_variant_id": 101, "email": address}
        _, signup = call("POST", SIGNUPS, owner.key, body)
        call("POST", f"{SIGNUPS}/{signup['id']}/notify", owner.key)
    worker.drain()

    def outbox(key: str | None, open_to_all: bool) -> tuple[int, Any]:
        headers = {"X-Auth-Token": key} if key else {}
        response = handle("GET", "/local/outbox", headers, None, outbox_open=open_to_all)
        return response["statusCode"], json.loads(response["body"])

    status, everything = outbox(None, True)  # loopback: a developer's own machine
    assert status == 200 and {a for e in everything["emails"] for a in e["to"]} == {
        "mine@example.com",
        "theirs@example.com",
    }
    for key in (None, "bis_not_a_key", ""):
        assert outbox(key, False)[0] == 401
    status, mine = outbox(shop.key, False)
    assert status == 200 and [e["to"] for e in mine["emails"]] == [["mine@example.com"]]
    status, theirs = outbox(other_shop.key, False)
    assert status == 200 and [e["to"] for e in theirs["emails"]] == [["theirs@example.com"]]


def test_the_local_server_binds_to_loopback_unless_told_otherwise() -> None:
    import inspect

    from backinstock_tools import cli
    from backinstock_tools.local.server import LocalApi

    assert inspect.signature(LocalApi).parameters["host"].default == "127.0.0.1"
    assert cli.build_parser().parse_args(["serve"]).host == "127.0.0.1"


def test_an_outbox_served_beyond_loopback_refuses_a_request_without_a_key(aws: None) -> None:
    import urllib.error
    import urllib.request

    from backinstock_tools.local.server import LocalApi

    api = LocalApi("0.0.0.0", 0).start()  # noqa: S104 (the case under test: a server told to listen everywhere)
    try:
        port = api.httpd.server_address[1]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/local/outbox", timeout=10)
        assert refused.value.code == 401
    finally:
        api.stop()
