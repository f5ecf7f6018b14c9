"""Settings through the local gateway and the real handlers, against moto (in process)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from backinstock import deps
from backinstock.models.settings import CAPABILITIES, Settings, SettingsPatch
from backinstock.services import settings
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
CAPABILITIES_PATCH = {None: SettingsPatch, **{name: patch for name, (_, patch) in CAPABILITIES.items()}}


def stored_leaves(shop: Shop) -> dict[str, Any]:
    return deps.shops().require(shop.id).settings_leaves


def test_a_new_shop_reads_the_reference_defaults(shop: Shop) -> None:
    status, body = call("GET", "/back_in_stock/settings", shop.key)
    assert status == 200
    assert body == Settings().model_dump(mode="json", exclude_none=True)
    for capability in CAPABILITIES:
        status, block = call("GET", f"/back_in_stock/settings/{capability}", shop.key)
        assert (status, block) == (200, body[capability])


def test_capability_patch_returns_the_full_block_and_persists(shop: Shop) -> None:
    status, block = call(
        "PATCH",
        "/back_in_stock/settings/delivery",
        shop.key,
        {"batching": {"enabled": True, "mode": "fixed", "batch_size": 100, "wait_hours": 24}},
    )
    assert status == 200
    assert block["batching"] == {"enabled": True, "mode": "fixed", "multiplier": 3, "batch_size": 100, "wait_hours": 24}
    assert block["stock_threshold"] == 1 and block["locations"] == {"filter_enabled": False, "location_ids": []}
    assert call("GET", "/back_in_stock/settings/delivery", shop.key) == (200, block)


def test_deep_partial_patch_keeps_sibling_values(shop: Shop) -> None:
    call("PATCH", "/back_in_stock/settings/alerts", shop.key, {"signups_threshold": {"count": 25}})
    status, block = call("PATCH", "/back_in_stock/settings/alerts", shop.key, {"scheduled_reports": {"weekly": True}})
    assert status == 200
    assert block == {
        "signups_threshold": {"count": 25, "notify": True},
        "scheduled_reports": {"daily": False, "weekly": True, "monthly": False},
    }


def test_id_lists_are_replaced_wholesale(shop: Shop) -> None:
    path = "/back_in_stock/settings/delivery"
    call("PATCH", path, shop.key, {"locations": {"filter_enabled": True, "location_ids": [1, 2, 3]}})
    _, block = call("PATCH", path, shop.key, {"locations": {"location_ids": [9]}})
    assert block["locations"] == {"filter_enabled": True, "location_ids": [9]}
    _, block = call("PATCH", path, shop.key, {"any_variant": {"product_ids": []}})
    assert block["locations"]["location_ids"] == [9] and block["any_variant"]["product_ids"] == []


def test_top_level_patch_writes_several_blobs_and_returns_all_five(shop: Shop) -> None:
    status, body = call(
        "PATCH",
        "/back_in_stock/settings",
        shop.key,
        {"channels": {"push": {"enabled": False}}, "compliance": {"optin_required": True}},
    )
    assert status == 200
    assert set(body) == set(CAPABILITIES)
    assert body["channels"]["push"] == {"enabled": False} and body["compliance"] == {"optin_required": True}


def test_invalid_top_level_patch_reports_every_blob_and_writes_nothing(shop: Shop) -> None:
    before = stored_leaves(shop)
    status, body = call(
        "PATCH",
        "/back_in_stock/settings",
        shop.key,
        {
            "channels": {"email": {"enabled": False}},  # valid, but must not be written either
            "delivery": {"stock_threshold": 0},
            "tagging": {"order_tags": {"tag": "a,b"}},
            "alerts": {"bogus": True},
        },
    )
    assert status == 422
    assert [e.split(":")[0] for e in body["errors"]] == [
        "delivery.stock_threshold",
        "tagging.order_tags.tag",
        "alerts.bogus",
    ]
    assert {d["field"] for d in body["error_details"]} == {
        "delivery.stock_threshold",
        "tagging.order_tags.tag",
        "alerts.bogus",
    }
    assert body["request_id"]
    assert stored_leaves(shop) == before


@pytest.mark.parametrize(
    "raw",
    ["[]", "null", "42", '"text"', "{broken", ""],
)
def test_non_object_or_invalid_json_bodies_are_rejected(shop: Shop, raw: str) -> None:
    status, body = call("PATCH", "/back_in_stock/settings/channels", shop.key, raw_body=raw)
    assert status == 422
    assert body["errors"] and all(isinstance(e, str) for e in body["errors"])
    assert stored_leaves(shop) == {}


def test_empty_patch_changes_nothing_and_returns_the_block(shop: Shop) -> None:
    status, block = call("PATCH", "/back_in_stock/settings/compliance", shop.key, {})
    assert (status, block) == (200, {"optin_required": False})


def test_enabling_sms_the_first_time_starts_a_pending_verification(shop: Shop) -> None:
    _, block = call("PATCH", "/back_in_stock/settings/channels", shop.key, {"sms": {"enabled": True}})
    verification = block["sms"]["verification"]
    assert verification["status"] == "pending" and verification["started_at"].endswith("Z")
    call("PATCH", "/back_in_stock/settings/channels", shop.key, {"sms": {"enabled": False}})
    _, block = call("PATCH", "/back_in_stock/settings", shop.key, {"channels": {"sms": {"enabled": True}}})
    assert block["channels"]["sms"]["verification"] == verification  # started once, not restarted


def test_sms_verification_is_read_only(shop: Shop) -> None:
    status, body = call(
        "PATCH", "/back_in_stock/settings/channels", shop.key, {"sms": {"verification": {"status": "verified"}}}
    )
    assert status == 422 and body["errors"][0].startswith("sms.verification: is not a known field")


def test_concurrent_patches_of_different_keys_both_survive(shop: Shop, atomic_dynamodb: None) -> None:
    """Writers race on the service directly (the local gateway runs one invocation at a time, as a single Lambda
    container would; in AWS concurrent PATCHes run in separate containers)."""
    patches = [
        ("delivery", {"stock_threshold": 5}),
        ("delivery", {"batching": {"wait_hours": 48}}),
        ("alerts", {"scheduled_reports": {"daily": True}}),
        (None, {"tagging": {"order_tags": {"enabled": True}}}),
        ("channels", {"push": {"enabled": False}}),
        (None, {"compliance": {"optin_required": True}}),
    ] * 2
    barrier = threading.Barrier(len(patches))
    errors: list[BaseException] = []
    store = deps.shops()

    def send(capability: str | None, body: dict[str, Any]) -> None:
        model = CAPABILITIES_PATCH[capability]
        patch = model.model_validate(body)
        barrier.wait()
        try:
            settings.update_settings(store, shop.id, patch, capability=capability)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=p) for p in patches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _, body = call("GET", "/back_in_stock/settings", shop.key)
    assert body["delivery"]["stock_threshold"] == 5
    assert body["delivery"]["batching"]["wait_hours"] == 48
    assert body["alerts"]["scheduled_reports"]["daily"] is True
    assert body["tagging"]["order_tags"]["enabled"] is True
    assert body["channels"]["push"]["enabled"] is False
    assert body["compliance"]["optin_required"] is True


def test_an_unexpected_failure_is_a_500_envelope_without_internals(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(settings, "get_settings", broken)
    status, body = call("GET", "/back_in_stock/settings/alerts", shop.key)
    assert status == 500
    assert body["errors"] == ["Internal error: the request was not completed; retry later"]
    assert "secret" not in json.dumps(body) and body["request_id"]
