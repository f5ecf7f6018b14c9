"""Transfer: validation now, the move asynchronously, a page at a time, dropping would-be duplicates."""

from __future__ import annotations

from typing import Any

import pytest

from backinstock import deps
from backinstock.services import signups as service
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.builders import mark, mark_notified, signup
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
SIGNUPS = "/back_in_stock/signups"
MOVE = {"from_shopify_variant_id": 101, "to_shopify_variant_id": 102, "to_shopify_product_id": 10}


def variant_ids(key: str, variant: int) -> set[str]:
    return {s["id"] for s in call("GET", f"{SIGNUPS}?variant_id={variant}&per_page=200", key)[1]["signups"]}


def test_transfer_moves_pending_signups_and_drops_duplicates(shop: Shop, catalog: dict[str, int], worker: Any) -> None:
    key = shop.key
    a = signup(key, 101, "a@example.com")
    b = signup(key, 101, "b@example.com")
    notified = signup(key, 101, "n@example.com")
    mark_notified(shop.id, notified["id"])
    blocked = signup(key, 101, "x@example.com")
    mark(shop.id, blocked["id"], "blocked_at")
    already_on_target = signup(key, 102, "b@example.com")
    status, body = call("POST", f"{SIGNUPS}/transfer", key, MOVE)
    assert status == 202
    assert {k: body[k] for k in ("success", "scope", "from_shopify_variant_id", "to_shopify_variant_id")} == {
        "success": True,
        "scope": "pending",
        "from_shopify_variant_id": 101,
        "to_shopify_variant_id": 102,
    }
    worker.drain()
    assert variant_ids(key, 102) == {a["id"], already_on_target["id"]}  # b duplicated a pending signup: dropped
    assert variant_ids(key, 101) == {notified["id"], blocked["id"]}  # scope pending leaves notified and blocked ones
    moved = call("GET", f"{SIGNUPS}/{a['id']}", key)[1]
    assert moved["variant"] == {"shopify_variant_id": 102, "shopify_product_id": 10, "title": "Large / Blue"}
    assert moved["created_at"] == a["created_at"]
    assert call("GET", f"{SIGNUPS}/{b['id']}", key)[0] == 404
    # the guard moved with the signup: a is pending on 102 now, free on 101
    assert (
        call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 102, "email": "a@example.com"})[0] == 409
    )
    assert (
        call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": "a@example.com"})[0] == 201
    )


@pytest.mark.parametrize(("scope", "moves_pending", "moves_notified"), [("notified", False, True), ("all", True, True)])
def test_transfer_scopes(
    shop: Shop, catalog: dict[str, int], worker: Any, scope: str, moves_pending: bool, moves_notified: bool
) -> None:
    key = shop.key
    pending = signup(key, 101, "p@example.com")
    notified = signup(key, 101, "n@example.com")
    mark_notified(shop.id, notified["id"])
    assert call("POST", f"{SIGNUPS}/transfer", key, {**MOVE, "scope": scope})[0] == 202
    worker.drain()
    on_target = variant_ids(key, 102)
    assert (pending["id"] in on_target) is moves_pending
    assert (notified["id"] in on_target) is moves_notified


def test_a_large_waitlist_moves_over_several_pages(
    shop: Shop, catalog: dict[str, int], worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "TRANSFER_PAGE", 3)
    key = shop.key
    made = {signup(key, 101, f"w{i}@example.com")["id"] for i in range(8)}
    assert call("POST", f"{SIGNUPS}/transfer", key, MOVE)[0] == 202
    pages = 0
    while worker.pending_count():
        worker.run()
        pages += 1
    assert pages >= 3, "a page per message, each message enqueuing the next"
    assert variant_ids(key, 102) == made and variant_ids(key, 101) == set()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**MOVE, "to_shopify_variant_id": 101}, "from_shopify_variant_id"),  # every problem names a field
        ({**MOVE, "scope": "everything"}, "scope"),
        ({k: v for k, v in MOVE.items() if k != "to_shopify_product_id"}, "to_shopify_product_id"),
        ({**MOVE, "to_shopify_product_id": 20}, "to_shopify_product_id"),
        ({**MOVE, "from_shopify_product_id": 20}, "from_shopify_product_id"),
        ({**MOVE, "from_shopify_variant_id": "101"}, "from_shopify_variant_id"),
    ],
)
def test_transfer_validation_is_422_and_queues_nothing(
    shop: Shop, catalog: dict[str, int], worker: Any, body: dict[str, Any], field: str | None
) -> None:
    status, answer = call("POST", f"{SIGNUPS}/transfer", shop.key, body)
    assert status == 422, answer
    assert answer["error_details"][0]["field"] == field
    assert worker.pending() == []


def test_transfer_never_touches_another_shop(
    shop: Shop, other_shop: Shop, catalog: dict[str, int], worker: Any
) -> None:
    mine = signup(shop.key, 101, "mine@example.com")
    deps.catalog().put_variant(other_shop.id, 102, 10, "Large / Blue", "Classic Tee")
    assert call("POST", f"{SIGNUPS}/transfer", other_shop.key, MOVE)[0] == 202
    worker.drain()
    assert variant_ids(shop.key, 101) == {mine["id"]}
