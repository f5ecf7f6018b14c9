"""Issue 23, part 4: merchants see and steer their restocks (`/back_in_stock/restocks`): list, read, start by hand,
pause, resume, cancel. Through the real routes, the campaign workflow's steps, the send worker and the rollup
aggregator. Counts, never wall time."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from backinstock import deps, ids
from backinstock.services import campaigns, restocks
from backinstock.workers import send
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.builders import signup
from backinstock_tools.testkit.drivers import Shopify
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
RESTOCKS = "/back_in_stock/restocks"
SIGNUPS = "/back_in_stock/signups"


def signups(shop: Shop, count: int, variant: int = 101) -> list[str]:
    return [signup(shop, variant, f"w{i}@x.io")["id"] for i in range(count)]


def alerted(outbox: Any) -> list[str]:
    return sorted(m.destinations["ToAddresses"][0] for m in outbox.emails() if "back in stock" in m.subject)


class FakeWorkflow:
    """Step Functions for the tests that drive the steps themselves: records each execution's input."""

    def __init__(self) -> None:
        self.started: list[dict[str, Any]] = []

    def start(self, name: str, payload: dict[str, Any]) -> str:
        if any(s["name"] == name for s in self.started):
            raise RuntimeError("ExecutionAlreadyExists")
        self.started.append({"name": name, "input": json.loads(json.dumps(payload))})
        return f"arn:aws:states:us-east-1:123456789012:execution:campaign:{name}"


@pytest.fixture
def steered(tee: Shopify, monkeypatch: pytest.MonkeyPatch) -> tuple[restocks.RestockBook, FakeWorkflow]:
    workflow = FakeWorkflow()
    c = dataclasses.replace(deps.campaigns(), workflow=workflow)
    monkeypatch.setattr(send, "PAUSED_RECHECK_SECONDS", 0)  # a held message comes back at once (the test drains)
    return dataclasses.replace(deps.restock_book(), campaigns=lambda: c), workflow


def run(book: restocks.RestockBook, state: dict[str, Any], steps: int | None = None) -> dict[str, Any]:
    c = book.campaigns() if book.campaigns else deps.campaigns()
    while steps is None or steps > 0:
        state = campaigns.step(c, state)
        if state["done"]:
            return state
        steps = None if steps is None else steps - 1
    return state


def patch_batching(shop: Shop, size: int) -> None:
    body = {"batching": {"enabled": True, "mode": "fixed", "batch_size": size, "wait_hours": 1}}
    assert call("PATCH", "/back_in_stock/settings/delivery", shop.key, body)[0] == 200


def first_batch_queued(
    tee: Shopify, steered: tuple[restocks.RestockBook, FakeWorkflow], waiting: int
) -> tuple[list[str], restocks.m.Restock, dict[str, Any]]:
    """Given `waiting` signups and batches of 2: a campaign started by hand and its first step run (its first batch
    queued). The signups' ids, the campaign and the execution's state after that step."""
    book, workflow = steered
    signed_up = signups(tee.shop, waiting)
    patch_batching(tee.shop, 2)
    started = restocks.create_restock(book, tee.shop.id, restocks.m.RestockCreate(shopify_variant_id=101))
    return signed_up, started, run(book, workflow.started[0]["input"], steps=1)


# ------------------------------------------------------------------------------------------------- end to end
def test_a_restock_started_by_hand_runs_to_completion_and_shows_its_counts(
    tee: Shopify, outbox: Any, stream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given four waiting signups of variant 101 (whose stock Shopify never reported) and one of 102
    shop, key = tee.shop, tee.shop.key
    signups(shop, 4)
    signups(shop, 1, variant=102)
    # When the merchant starts a restock of 101 by hand
    status, started = call("POST", RESTOCKS, key, {"shopify_variant_id": 101, "quantity": 3})
    assert status == 202, started
    assert started["trigger"] == {"type": "manual", "quantity": 3}
    assert started["variant"] == {
        "shopify_variant_id": 101,
        "shopify_product_id": 10,
        "title": "Small / Blue",
        "product_title": "Classic Tee",
    }
    assert started["state"] in ("scheduled", "sending") and started["finished_at"] is None
    tee.finish_campaigns()
    tee.send_worker.drain()
    stream.drain()
    # Then every waiting signup of 101 got one alert, and the campaign says so
    assert len(alerted(outbox)) == 4
    status, campaign = call("GET", f"{RESTOCKS}/{started['id']}", key)
    assert status == 200, campaign
    assert campaign["state"] == "completed" and campaign["finished_at"] is not None
    assert campaign["counts"] == {
        "eligible": 4,
        "queued": 4,
        "sent": 4,
        "blocked": 0,
        "blocked_by_reason": {},
        "failed": 0,
    }
    # Listed, filtered by variant and state
    assert [r["id"] for r in call("GET", f"{RESTOCKS}?variant_id=101", key)[1]["restocks"]] == [started["id"]]
    assert call("GET", f"{RESTOCKS}?variant_id=102", key)[1]["restocks"] == []
    listed = call("GET", f"{RESTOCKS}?state=completed", key)[1]
    assert listed["meta"]["total_count"] == 1 and listed["restocks"][0] == campaign
    assert call("GET", f"{RESTOCKS}?state=sending", key)[1]["meta"]["total_count"] == 0
    # A second start of the variant within the cooldown waits for it (an hour of an hour: this test's campaigns
    # otherwise run on a clock where an hour lasts 0 s, the cooldown included)
    monkeypatch.setenv("CAMPAIGN_SECONDS_PER_HOUR", "3600")
    deps.reset()
    status, again = call("POST", RESTOCKS, key, {"shopify_variant_id": 101})
    assert status == 202, again
    assert again["state"] == "waiting" and again["waiting_for"] == "cooldown" and again["next_batch_at"]


def test_blocked_sends_are_counted_by_reason(tee: Shopify, stream: Any) -> None:
    shop, key = tee.shop, tee.shop.key
    signups(shop, 2)
    status, body = call("POST", SIGNUPS, key, {"channel": "sms", "shopify_variant_id": 101, "phone": "+15555550100"})
    assert status == 201, body
    call("PATCH", "/back_in_stock/settings/channels", key, {"sms": {"enabled": True}})  # verification pending
    started = call("POST", RESTOCKS, key, {"shopify_variant_id": 101})[1]
    tee.finish_campaigns()
    tee.send_worker.drain()
    stream.drain()
    counts = call("GET", f"{RESTOCKS}/{started['id']}", key)[1]["counts"]
    assert (counts["sent"], counts["blocked"], counts["queued"]) == (2, 1, 3)
    [(reason, blocked)] = counts["blocked_by_reason"].items()
    assert blocked == 1 and reason.startswith("SMS sending is held until")


def test_the_rules_of_a_restock_started_by_hand(tee: Shopify, other_shop: Shop) -> None:
    key = tee.shop.key
    status, body = call("POST", RESTOCKS, key, {"shopify_variant_id": 999})
    assert status == 422 and "shopify_product_id" in str(body["errors"]), body
    status, body = call("POST", RESTOCKS, key, {"shopify_variant_id": 101, "shopify_product_id": 11})
    assert status == 422 and "belongs to product 10" in str(body["errors"]), body
    assert call("POST", RESTOCKS, key, {"shopify_variant_id": 101, "extra": 1})[0] == 422
    assert call("POST", RESTOCKS, key, {"shopify_variant_id": "101"})[0] == 422
    # another shop's campaign is an unknown id; so is a malformed one
    started = call("POST", RESTOCKS, key, {"shopify_variant_id": 101})[1]
    for path in ("", "/pause", "/resume", "/cancel"):
        method = "GET" if not path else "POST"
        assert call(method, f"{RESTOCKS}/{started['id']}{path}", other_shop.key)[0] == 404
        assert call(method, f"{RESTOCKS}/not-a-uuid{path}", key)[0] == 404
    assert call("GET", RESTOCKS, other_shop.key)[1]["restocks"] == []


def test_idempotency_key_replays_a_start(tee: Shopify) -> None:
    key = tee.shop.key
    headers = {"Idempotency-Key": "start-101-once"}
    first = call("POST", RESTOCKS, key, {"shopify_variant_id": 101}, headers=headers)
    second = call("POST", RESTOCKS, key, {"shopify_variant_id": 101}, headers=headers)
    assert first[0] == second[0] == 202 and first[1]["id"] == second[1]["id"]
    assert call("GET", RESTOCKS, key)[1]["meta"]["total_count"] == 1


# ---------------------------------------------------------------------------------------------------- steering
def test_pause_holds_sends_and_resume_continues_where_it_stopped(
    tee: Shopify, outbox: Any, steered: tuple[restocks.RestockBook, FakeWorkflow]
) -> None:
    book, workflow = steered
    shop_id = tee.shop.id
    # Given a campaign whose first batch (2) is queued
    _, started, state = first_batch_queued(tee, steered, 5)
    # When the merchant pauses it, twice (idempotent)
    paused = restocks.pause_restock(book, shop_id, started.id)
    assert paused.state == "paused" and paused.paused_at is not None
    assert restocks.pause_restock(book, shop_id, started.id) == paused
    # Then the queued batch is held, and the next step ends the execution, keeping its place
    tee.send_worker.drain()
    assert alerted(outbox) == []
    assert run(book, state)["status"] == "paused"
    assert restocks.get_restock(book, shop_id, started.id).counts.queued == 2
    # When it is resumed: a new execution from where it stopped, and everyone is alerted exactly once
    resumed = restocks.resume_restock(book, shop_id, started.id)
    assert resumed.state != "paused"
    assert restocks.resume_restock(book, shop_id, started.id).state == resumed.state  # idempotent
    assert [s["name"] for s in workflow.started] == [f"restock-{started.id}", f"restock-{started.id}-r1"]
    assert run(book, workflow.started[1]["input"])["status"] == "finished"
    tee.send_worker.drain()
    assert alerted(outbox) == [f"w{i}@x.io" for i in range(5)]
    assert restocks.get_restock(book, shop_id, started.id).counts.queued == 5


def test_a_resume_before_the_step_saw_the_pause_lets_the_execution_go_on(
    tee: Shopify, outbox: Any, steered: tuple[restocks.RestockBook, FakeWorkflow]
) -> None:
    book, workflow = steered
    shop_id = tee.shop.id
    _, started, state = first_batch_queued(tee, steered, 3)
    restocks.pause_restock(book, shop_id, started.id)
    restocks.resume_restock(book, shop_id, started.id)
    assert run(book, state)["status"] == "finished"
    assert len(workflow.started) == 1  # nothing parked: no second execution
    tee.send_worker.drain()
    assert len(alerted(outbox)) == 3


def test_cancel_ends_it_and_its_unsent_signups_stay_pending(
    tee: Shopify, outbox: Any, steered: tuple[restocks.RestockBook, FakeWorkflow]
) -> None:
    book, _ = steered
    key = tee.shop.key
    waiting, started, state = first_batch_queued(tee, steered, 4)
    status, cancelled = call("POST", f"{RESTOCKS}/{started.id}/cancel", key)
    assert status == 200 and cancelled["state"] == "cancelled" and cancelled["finished_at"], cancelled
    assert call("POST", f"{RESTOCKS}/{started.id}/cancel", key) == (200, cancelled)  # idempotent
    assert call("POST", f"{RESTOCKS}/{started.id}/pause", key)[0] == 409
    assert call("POST", f"{RESTOCKS}/{started.id}/resume", key)[0] == 409
    assert run(book, state)["status"] == "cancelled"  # the running execution ends at its next step
    tee.send_worker.drain()
    assert alerted(outbox) == []
    assert {call("GET", f"{SIGNUPS}/{i}", key)[1]["status"] for i in waiting} == {"pending"}
    # the variant is free again: a new campaign may start (after the cooldown)
    assert call("POST", RESTOCKS, key, {"shopify_variant_id": 101})[0] == 202


def test_a_running_campaign_blocks_a_second_start_with_a_409(
    tee: Shopify, steered: tuple[restocks.RestockBook, FakeWorkflow]
) -> None:
    book, _ = steered
    shop_id = tee.shop.id
    signups(tee.shop, 1)
    first = restocks.create_restock(book, shop_id, restocks.m.RestockCreate(shopify_variant_id=101))
    with pytest.raises(restocks.Conflict, match=first.id):
        restocks.create_restock(book, shop_id, restocks.m.RestockCreate(shopify_variant_id=101))
    assert ids.is_uuid(first.id)


def test_restocks_watch_draws_the_progress_until_the_campaign_ends(
    tee: Shopify, stream: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from backinstock_tools import cli

    shop, key = tee.shop, tee.shop.key
    signups(shop, 3)
    started = call("POST", RESTOCKS, key, {"shopify_variant_id": 101})[1]
    tee.finish_campaigns()
    tee.send_worker.drain()
    stream.drain()
    capsys.readouterr()
    assert cli.main(["restocks", "watch", started["id"], "--shop-id", shop.id, "--interval", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith("[" + "#" * cli.BAR_WIDTH + "] 3/3  sent 3, blocked 0, failed 0, queued 3  completed")
    assert out[-1] == "completed: every waiting signup was queued"
    # an unknown id of the right shape: one line, exit 2
    assert cli.main(["restocks", "watch", "01900000-0000-7000-8000-000000000000", "--shop-id", shop.id]) == 2
    assert "Restock campaign not found" in capsys.readouterr().err


def test_a_cancel_during_a_running_step_wins(
    tee: Shopify,
    outbox: Any,
    steered: tuple[restocks.RestockBook, FakeWorkflow],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a step that read the campaign's record (running) just before the merchant cancelled it
    book, workflow = steered
    shop, shop_id = tee.shop, tee.shop.id
    signups(shop, 3)
    started = restocks.create_restock(book, shop_id, restocks.m.RestockCreate(shopify_variant_id=101))
    restocks.cancel_restock(book, shop_id, started.id)
    monkeypatch.setattr(campaigns, "steered_state", lambda c, state: None)  # the read happened before the cancel
    # When that step goes on: it queues its batch, counts it, and tries to close the campaign as finished
    state = run(book, workflow.started[0]["input"])
    # Then the close finds it cancelled (conditional writes): the campaign and the variant's lock stay cancelled,
    # and the send worker drops what the step queued
    assert state["status"] == "finished"  # what the step tried; the record says otherwise
    after = restocks.get_restock(book, shop_id, started.id)
    assert after.state == "cancelled" and after.counts.queued == 3
    assert deps.restocks().restocks.campaign(shop_id, 101)["status"] == "cancelled"
    tee.send_worker.drain()
    assert alerted(outbox) == []


# ---------------------------------------------------------------------------------------------- resend spacing
@pytest.mark.parametrize(("allow_resend", "stale_read"), [(False, False), (True, False), (True, True)])
def test_a_notify_after_the_campaign_picked_the_signup_sends_one_alert(
    tee: Shopify, outbox: Any, allow_resend: bool, stale_read: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 23, part 5: a campaign queued a signup's send, then a notify (or a resend) of it came before that send
    went out. The campaign's send finds the notify's send holding the signup's slot (its claim's condition) and
    leaves it the alert; the notify's send finds nothing sent since it was asked for. One alert, not two.
    `stale_read`: the worker's read of the signup missed the notify (it is up to a second old), so the claim's
    condition alone decides."""
    from backinstock.services import sending

    if stale_read:
        monkeypatch.setattr(sending, "send_spacing_holds", lambda *args: True)
    shop, key = tee.shop, tee.shop.key
    first, second = signups(shop, 2)
    status, started = call("POST", RESTOCKS, key, {"shopify_variant_id": 101})
    assert status == 202, started
    tee.finish_campaigns()  # the campaign's sends are queued, not yet processed
    assert tee.send_worker.pending_count() == 1  # one message of two sends
    status, body = call("POST", f"{SIGNUPS}/{first}/notify", key, {"allow_resend": allow_resend})
    assert status == 202 and not body.get("coalesced"), body
    tee.send_worker.drain()
    assert alerted(outbox) == ["w0@x.io", "w1@x.io"]  # one each
    status, log = call("GET", "/back_in_stock/notifications?variant_id=101", key)
    assert status == 200
    assert [n["status"] for n in log["notifications"] if n["signup_id"] == first] == ["sent"]
    assert call("GET", f"{SIGNUPS}/{second}", key)[1]["status"] == "notified"
