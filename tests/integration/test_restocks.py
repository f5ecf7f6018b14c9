"""Restock to sends: inventory webhooks -> restock detection -> the campaign workflow (moto runs the real state
machine) -> the send queue -> the send worker. Counts, never wall time."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backinstock import deps
from backinstock.services import campaigns
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.builders import TEE, level, signup
from backinstock_tools.testkit.drivers import Shopify
from backinstock_tools.testkit.gateway import call

SIGNUPS = "/back_in_stock/signups"


def patch_delivery(shop: Shop, body: dict[str, Any]) -> None:
    status, answer = call("PATCH", "/back_in_stock/settings/delivery", shop.key, body)
    assert status == 200, answer


def waiting_in_fixed_batches(shop: Shop, waiting: int, batch_size: int, wait_hours: int) -> None:
    """Given `waiting` signups for variant 101, sent in batches of `batch_size` `wait_hours` apart."""
    for i in range(waiting):
        signup(shop, 101, f"c{i}@example.com")
    batching = {"enabled": True, "mode": "fixed", "batch_size": batch_size, "wait_hours": wait_hours}
    patch_delivery(shop, {"batching": batching})


def alerted(outbox: Any) -> list[str]:
    return sorted(m.destinations["ToAddresses"][0] for m in outbox.emails() if "back in stock" in m.subject)


def restock(shopify: Shopify, available: int, **kwargs: Any) -> None:
    assert shopify.post("inventory_levels/update", level(available, **kwargs))[1]["status"] == "queued"
    shopify.run_all()


def test_product_webhooks_keep_the_catalog(tee: Shopify) -> None:
    shop_id = tee.shop.id
    variant = deps.catalog().variant(shop_id, 101)
    assert variant and variant["product_title"] == "Classic Tee" and variant["title"] == "Small / Blue"
    assert deps.catalog().variant_of_inventory_item(shop_id, 5102)["variant_id"] == 102
    older = {**TEE, "title": "Old title", "updated_at": "2026-11-01T00:00:00Z", "variants": TEE["variants"][:1]}
    tee.post("products/update", older)
    tee.process()
    assert deps.catalog().variant(shop_id, 101)["product_title"] == "Classic Tee"  # older update skipped
    assert deps.catalog().variant(shop_id, 102) is not None  # and it removed nothing
    newer = {**TEE, "title": "Tee", "updated_at": "2026-11-25T00:00:00Z", "variants": TEE["variants"][:1]}
    tee.post("products/update", newer)
    tee.process()
    assert deps.catalog().variant(shop_id, 101)["product_title"] == "Tee"
    assert deps.catalog().variant(shop_id, 102) is None
    tee.post("products/delete", {"id": 10})
    tee.process()
    assert deps.catalog().variant(shop_id, 101) is None
    assert deps.catalog().variant_of_inventory_item(shop_id, 5101) is None


def test_restock_alerts_every_waiting_signup_once(tee: Shopify, outbox: Any) -> None:
    shop = tee.shop
    for name in ("ann", "bob", "cy"):
        signup(shop, 101, f"{name}@example.com")
    signup(shop, 102, "other-variant@example.com")
    restock(tee, 0)
    assert alerted(outbox) == []
    restock(tee, 4, at="2026-11-27T10:01:00Z")
    assert alerted(outbox) == ["ann@example.com", "bob@example.com", "cy@example.com"]
    [execution] = tee.finish_campaigns()
    assert execution["status"] == "SUCCEEDED"
    campaign = deps.restocks().restocks.campaign(shop.id, 101)
    assert campaign["status"] == "finished" and campaign["queued"] == 3
    _status, body = call("GET", "/back_in_stock/notifications?variant_id=101", shop.key)
    assert body["meta"]["total_count"] == 3 and {n["status"] for n in body["notifications"]} == {"sent"}


def test_below_threshold_and_filtered_out_locations_do_not_restock(tee: Shopify, outbox: Any) -> None:
    shop = tee.shop
    signup(shop, 101, "ann@example.com")
    patch_delivery(shop, {"stock_threshold": 5, "locations": {"filter_enabled": True, "location_ids": [1]}})
    restock(tee, 4, location=1)
    restock(tee, 50, location=2)  # total 54, but location 2 does not count
    assert alerted(outbox) == [] and deps.restocks().restocks.campaign(shop.id, 101) is None
    restock(tee, 5, location=1, at="2026-11-27T10:02:00Z")  # exactly the threshold
    assert alerted(outbox) == ["ann@example.com"]


def test_repeated_and_out_of_order_updates_restock_once(tee: Shopify, outbox: Any) -> None:
    shop = tee.shop
    signup(shop, 101, "ann@example.com")
    for event in ("e1", "e2", "e3"):  # three deliveries with distinct event ids: the same level each time
        tee.post("inventory_levels/update", level(3), event_id=event)
    tee.post("inventory_levels/update", level(0, at="2026-11-27T09:00:00Z"), event_id="late")  # older: ignored
    tee.run_all()
    assert len(tee.finish_campaigns()) == 1
    state = deps.restocks().restocks.state(shop.id, 101)
    assert state["in_stock"] is True and state["episode"] == 1
    assert alerted(outbox) == ["ann@example.com"]


def test_a_restock_whose_worker_died_after_storing_the_level_still_starts_its_campaign(
    tee: Shopify, outbox: Any
) -> None:
    """The worker stored the location's level, then died before the in-stock flip (found by `make chaos`, seed 3):
    the redelivered message carries the same level, which must not be taken for a stale one."""
    shop = tee.shop
    signup(shop, 101, "ann@example.com")
    client = deps.restocks().restocks.client
    died: list[str] = []

    def die_once(params: dict[str, Any], **_: Any) -> None:
        if not died and str(params.get("Key", {}).get("SK", {}).get("S", "")).startswith("RESTOCK#"):
            died.append("flip")
            raise RuntimeError("the worker died between the level and the flip")

    client.meta.events.register("provide-client-params.dynamodb.UpdateItem", die_once, unique_id="die-once")
    try:
        assert tee.post("inventory_levels/update", level(3))[1]["status"] == "queued"
        assert tee.process()  # the message failed: it comes back
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.UpdateItem", unique_id="die-once")
    assert died == ["flip"] and alerted(outbox) == []
    tee.run_all()  # the redelivery
    assert alerted(outbox) == ["ann@example.com"]
    assert deps.restocks().restocks.state(shop.id, 101)["episode"] == 1


def test_flapping_stock_alerts_nobody_twice_and_waits_out_the_cooldown(
    tee: Shopify, outbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = tee.shop
    signup(shop, 101, "ann@example.com")
    restock(tee, 3)
    restock(tee, 0, at="2026-11-27T10:01:00Z")
    signup(shop, 101, "late@example.com")
    monkeypatch.setenv("CAMPAIGN_SECONDS_PER_HOUR", "3")  # the hour's cooldown lasts 3 s here
    deps.reset()
    restock(tee, 3, at="2026-11-27T10:02:00Z")
    assert alerted(outbox) == ["ann@example.com", "late@example.com"]  # nobody twice
    executions = sorted(tee.finish_campaigns(), key=lambda e: e["startDate"])
    assert len(executions) == 2
    first, second = (json.loads(e["input"])["wait_seconds"] for e in executions)
    # The second restock waited out the rest of the (scaled) hour since the first campaign's batch: at most 3 s, the
    # seconds since then deducted, as a clock whose hour lasts 3 s counts them (never a real hour's 3,5xx s).
    assert first == 0 and 1 <= second <= 3
    sfn = deps.campaigns().workflow.client
    history = sfn.get_execution_history(executionArn=executions[1]["executionArn"])["events"]
    assert next(e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e) == "Cooldown"
    monkeypatch.setenv("CAMPAIGN_SECONDS_PER_HOUR", "3600")
    deps.reset()
    again = campaigns.start(deps.campaigns(), deps.shops().require(shop.id), 101, 10, 3, 3)
    assert again is not None and 3500 <= again["delay_seconds"] <= 3600


def test_no_second_campaign_while_one_runs(tee: Shopify) -> None:
    shop = deps.shops().require(tee.shop.id)
    repo = deps.restocks().restocks
    assert repo.claim_campaign(shop.shop_id, 101, {"campaign_id": "c1", "episode": 1, "variant_id": 101})
    assert campaigns.start(deps.campaigns(), shop, 101, 10, 3, 2) is None
    assert repo.campaign(shop.shop_id, 101)["campaign_id"] == "c1"


def _run_steps(state: dict[str, Any]) -> list[dict[str, Any]]:
    states = []
    while True:
        state = campaigns.step(deps.campaigns(), state)
        states.append(state)
        if state["done"]:
            return states


def _state(shop_id: str, quantity: int) -> dict[str, Any]:
    repo = deps.restocks().restocks
    repo.claim_campaign(shop_id, 101, {"campaign_id": "c-test", "episode": 1, "variant_id": 101})
    return {
        "shop_id": shop_id,
        "variant_id": 101,
        "product_id": 10,
        "campaign_id": "c-test",
        "restocked_quantity": quantity,
        "cursor": None,
        "batches": 0,
        "queued": 0,
        "done": False,
        "wait_seconds": 0,
    }


@pytest.mark.parametrize(
    ("batching", "quantity", "expected"),
    [
        ({"enabled": True, "mode": "fixed", "batch_size": 2, "wait_hours": 3}, 9, [2, 2, 1]),
        ({"enabled": True, "mode": "multiplier", "multiplier": 3, "wait_hours": 1}, 1, [3, 2]),
        ({"enabled": False}, 1, [5]),
    ],
    ids=["fixed", "multiplier", "off"],
)
def test_batches_follow_the_batching_setting(
    tee: Shopify, outbox: Any, batching: dict[str, Any], quantity: int, expected: list[int]
) -> None:
    shop = tee.shop
    for i in range(5):
        signup(shop, 101, f"c{i}@example.com")
    patch_delivery(shop, {"batching": batching})
    in_stock(shop.id, quantity)
    states = _run_steps(_state(shop.id, quantity))
    queued = [s["queued"] for s in states]
    assert [b - a for a, b in zip([0, *queued], queued, strict=False) if b - a] == expected
    assert states[-1]["status"] == "finished"
    assert len([s for s in states if not s["done"]]) == len(expected) - 1  # a Wait between batches, none after
    tee.send_worker.drain()
    assert len(alerted(outbox)) == 5


def test_wait_hours_become_the_wait_state_seconds(tee: Shopify, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMPAIGN_SECONDS_PER_HOUR", "3600")
    deps.reset()
    shop = tee.shop
    waiting_in_fixed_batches(shop, 3, 2, 6)
    in_stock(shop.id, 3)
    state = campaigns.step(deps.campaigns(), _state(shop.id, 3))
    assert (state["done"], state["wait_seconds"]) == (False, 6 * 3600)


def in_stock(shop_id: str, quantity: int) -> None:
    repo = deps.restocks().restocks
    repo.set_level(shop_id, 101, 1, quantity, "2026-11-27T10:00:00Z", 5101)
    repo.flip_in_stock(shop_id, 101, quantity, "2026-11-27T10:00:00Z")


def test_stock_gone_between_batches_stops_the_campaign(tee: Shopify, outbox: Any) -> None:
    shop = tee.shop
    waiting_in_fixed_batches(shop, 5, 2, 1)
    repo = deps.restocks().restocks
    in_stock(shop.id, 3)
    state = campaigns.step(deps.campaigns(), _state(shop.id, 3))
    assert (state["queued"], state["done"]) == (2, False)
    repo.flip_out_of_stock(shop.id, 101, 0, "2026-11-27T11:00:00Z")
    state = campaigns.step(deps.campaigns(), state)
    assert state["done"] and state["status"] == "stopped" and state["queued"] == 2
    tee.send_worker.drain()
    assert alerted(outbox) == ["c0@example.com", "c1@example.com"]  # oldest first
    assert repo.campaign(shop.id, 101)["status"] == "stopped"


def test_any_variant_alerts_the_whole_product_and_only_eligible_signups(tee: Shopify, outbox: Any) -> None:
    shop = tee.shop
    signup(shop, 101, "small@example.com")
    signup(shop, 102, "large@example.com")
    status, _ = call("POST", SIGNUPS, shop.key, {"channel": "sms", "shopify_variant_id": 101, "phone": "+15555550100"})
    assert status == 201  # SMS is disabled by default: not picked, no blocked row either
    patch_delivery(shop, {"any_variant": {"enabled": True, "product_ids": [10]}})
    restock(tee, 2)
    assert alerted(outbox) == ["large@example.com", "small@example.com"]
    assert outbox.sms() == []
    status, body = call("GET", "/back_in_stock/notifications", shop.key)
    assert body["meta"]["total_count"] == 2


def test_optin_unconfirmed_signups_wait(tee: Shopify, outbox: Any) -> None:
    shop = tee.shop
    call("PATCH", "/back_in_stock/settings/compliance", shop.key, {"optin_required": True})
    signup(shop, 101, "unconfirmed@example.com")
    restock(tee, 2)
    assert alerted(outbox) == []


def test_the_workflow_loops_batch_wait_batch_until_everyone_is_queued(tee: Shopify, outbox: Any) -> None:
    shop = tee.shop
    waiting_in_fixed_batches(shop, 3, 1, 5)
    restock(tee, 4)
    [execution] = tee.finish_campaigns()
    assert execution["status"] == "SUCCEEDED"
    history = deps.campaigns().workflow.client.get_execution_history(executionArn=execution["executionArn"])["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered.count("SendBatch") == 3  # the last batch ends it: no wait for an empty step
    assert entered.count("WaitForNextBatch") == 2
    campaign = deps.restocks().restocks.campaign(shop.id, 101)
    assert (campaign["status"], campaign["batches"], campaign["queued"]) == ("finished", 3, 3)
    assert alerted(outbox) == ["c0@example.com", "c1@example.com", "c2@example.com"]


def test_a_batch_bigger_than_a_step_is_queued_over_several_steps_without_waiting(
    tee: Shopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(campaigns, "STEP_LIMIT", 2)
    monkeypatch.setenv("CAMPAIGN_SECONDS_PER_HOUR", "3600")
    deps.reset()
    shop = tee.shop
    waiting_in_fixed_batches(shop, 5, 3, 2)
    in_stock(shop.id, 3)
    states = _run_steps(_state(shop.id, 3))
    assert [s["queued"] for s in states] == [2, 3, 5]  # batch 1 in two steps (2 + 1), batch 2 in one
    assert [s["wait_seconds"] for s in states[:-1]] == [0, 2 * 3600]  # no wait inside a batch, wait_hours between
    assert states[-1]["batches"] == 2
    assert deps.restocks().restocks.campaign(shop.id, 101)["batches"] == 2
