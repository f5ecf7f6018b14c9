"""Issue 23, part 5: at most one alert per signup per spacing window (settings delivery.resend_spacing_minutes),
whatever asks for it: notify, bulk notify, the v1 routes, a restock campaign; sequential and parallel requests."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from backinstock import deps, ids, registry
from backinstock.models.signups import BulkNotifyBody, NotifyBody
from backinstock.services import signups
from backinstock_tools.local.server import handle
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
SIGNUPS = "/back_in_stock/signups"


def new_signup(key: str, email: str) -> str:
    status, body = call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": email})
    assert status == 201, body
    return str(body["id"])


def to_of(email: Any) -> str:
    return str(email.destinations["ToAddresses"][0])


def v1_notify(key: str, signup_id: str) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", "X-Auth-Token": key}
    path = f"{registry.V1_BASE_PATH}/intents/{signup_id}/notify_intent"
    response = handle("POST", path, headers, json.dumps({"allow_resend": True}))
    return int(response["statusCode"]), json.loads(response["body"])


def test_the_spacing_window_is_a_delivery_setting_with_a_default_of_ten_minutes(shop: Shop) -> None:
    key = shop.key
    assert call("GET", "/back_in_stock/settings/delivery", key)[1]["resend_spacing_minutes"] == 10
    status, body = call("PATCH", "/back_in_stock/settings/delivery", key, {"resend_spacing_minutes": 1441})
    assert status == 422, body
    assert "resend_spacing_minutes" in str(body["errors"])
    assert call("PATCH", "/back_in_stock/settings/delivery", key, {"resend_spacing_minutes": 30})[0] == 200
    assert call("GET", "/back_in_stock/settings/delivery", key)[1]["resend_spacing_minutes"] == 30


def test_sequential_notifies_send_one_email_per_window(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any
) -> None:
    # Given a signup alerted once
    key, shop_id = shop.key, shop.id
    signup_id = new_signup(key, "s@example.com")
    body, start = NotifyBody(allow_resend=True), ids.now()
    assert signups.notify(deps.waitlist(), shop_id, signup_id, body, start).spacing is None
    worker.drain()
    # When it is asked for again, 10 times within the window, through v2, v1 and the service
    answers = [call("POST", f"{SIGNUPS}/{signup_id}/notify", key, {"allow_resend": True}) for _ in range(4)]
    answers += [v1_notify(key, signup_id) for _ in range(2)]
    later = start + timedelta(minutes=9)
    held = [signups.notify(deps.waitlist(), shop_id, signup_id, body, later) for _ in range(4)]
    worker.drain()
    # Then each answers 202, says it was held until the window ends, and one email went out
    assert all(status == 202 and a["spacing"] == "held" and a["coalesced"] is True for status, a in answers)
    assert {h.spacing for h in held} == {"held"}
    assert len(outbox.emails()) == 1
    # After the window, the next one queues
    last = call("GET", f"{SIGNUPS}/{signup_id}", key)[1]["last_notified_at"]
    after = ids.parse(last) + timedelta(minutes=10, seconds=1)
    assert signups.notify(deps.waitlist(), shop_id, signup_id, body, after).spacing is None
    worker.drain()
    assert len(outbox.emails()) == 2


def test_parallel_bulk_notifies_queue_one_send_per_signup(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any
) -> None:
    # Given three signups and 8 bulk notifies of all three at the same moment
    key, shop_id = shop.key, shop.id
    wanted = [new_signup(key, f"p{i}@example.com") for i in range(3)]
    body = BulkNotifyBody(signup_ids=wanted, allow_resend=True)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: signups.bulk_notify(deps.waitlist(), shop_id, body), range(8)))
    # Then every request answers 200 with every id in success, and each signup's alert was queued by one of them
    assert all(ok and result.success == wanted and not result.failed for result, ok in results)
    joined = [s.signup_id for result, _ in results for s in result.spaced or []]
    assert sorted(joined) == sorted(wanted * 7)
    assert worker.pending_count() == sum(1 for result, _ in results if len(result.spaced or []) < 3)
    worker.drain()
    assert sorted(to_of(e) for e in outbox.emails()) == [f"p{i}@example.com" for i in range(3)]


def test_bulk_notify_says_which_ids_were_held_over_http(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any
) -> None:
    key = shop.key
    first, second = new_signup(key, "h1@example.com"), new_signup(key, "h2@example.com")
    assert call("POST", f"{SIGNUPS}/{first}/notify", key)[0] == 202
    worker.drain()
    status, body = call("POST", f"{SIGNUPS}/bulk_notify", key, {"signup_ids": [first, second], "allow_resend": True})
    assert status == 200, body
    assert body["success"] == [first, second] and body["failed"] == []
    [held] = body["spaced"]
    assert (held["signup_id"], held["spacing"]) == (first, "held")
    assert ids.parse(held["held_until"]) > ids.now() + timedelta(minutes=9)
    worker.drain()
    assert sorted(to_of(e) for e in outbox.emails()) == ["h1@example.com", "h2@example.com"]
    # the reference's shape when nothing was spaced
    third = new_signup(key, "h3@example.com")
    assert call("POST", f"{SIGNUPS}/bulk_notify", key, {"signup_ids": [third]}) == (
        200,
        {"success": [third], "failed": []},
    )


def test_an_mcp_notify_inside_the_window_is_held(shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any) -> None:
    key = shop.key
    signup_id = new_signup(key, "m@example.com")
    assert call("POST", f"{SIGNUPS}/{signup_id}/notify", key)[0] == 202
    worker.drain()
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "notify_signup", "arguments": {"id": signup_id, "allow_resend": True}},
    }
    status, body = call("POST", "/mcp", body=message, headers={"Authorization": f"Bearer {key}"})
    assert status == 200, body
    answer = body["result"]["structuredContent"]
    assert (answer["spacing"], answer["coalesced"]) == ("held", True), answer
    worker.drain()
    assert len(outbox.emails()) == 1


def test_a_campaign_leaves_out_a_signup_whose_notify_is_in_flight(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any
) -> None:
    # Given a notify queued (not yet processed) for one of two waiting signups of variant 101
    key, shop_id = shop.key, shop.id
    first, second = new_signup(key, "c1@example.com"), new_signup(key, "c2@example.com")
    assert call("POST", f"{SIGNUPS}/{first}/notify", key)[0] == 202
    # When a campaign of the variant picks its waiting signups
    picked, _ = deps.restocks().restocks.waiting_signups(
        shop_id, 101, 10, False, None, 10, ["email"], int(ids.now().timestamp())
    )
    # Then it leaves out the one whose alert is on its way (it joins that send): one alert each
    assert [s["signup_id"] for s in picked] == [second]
