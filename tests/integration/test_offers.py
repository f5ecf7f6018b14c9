"""Preorder offers: created and changed with the admin CLI, read through the API; selling plans belong to one offer;
another shop's offers do not exist."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from backinstock import deps
from backinstock.errors import Conflict
from backinstock.models.preorders import OfferCreate
from backinstock.services import offers
from backinstock_tools import cli
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
OFFERS = "/preorders/offers"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    capsys.readouterr()  # what earlier calls printed (metrics lines) is not the CLI's answer
    try:
        code = cli.main(list(args))
    except SystemExit as stopped:  # an option refused while the command line is parsed
        code = int(stopped.code or 0)
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else json.loads(captured.err)


def create(capsys: pytest.CaptureFixture[str], shop_id: str, *extra: str) -> dict[str, Any]:
    code, offer = run_cli(capsys, "offers", "create", "--shop-id", shop_id, *extra)
    assert code == 0, offer
    return dict(offer)


def test_an_offer_created_with_the_cli_reads_the_same_through_the_api(
    shop: Shop, catalog: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an offer on a catalog variant and on a variant the catalog does not know (its product given)
    offer = create(
        capsys,
        shop.id,
        *("--name", "Spring drop", "--selling-plan-id", "7001", "--selling-plan-id", "7002"),
        *("--variant-id", "101", "--variant-id", "999:99", "--deposit-percent", "50"),
        *("--balance-due-days", "30", "--market-id", "5"),
    )
    # Then the CLI printed it with its id, and the API reads the same
    assert offer["name"] == "Spring drop" and offer["status"] == "enabled"
    assert offer["selling_plan_ids"] == [7001, 7002]
    assert offer["variants"] == [
        {"shopify_variant_id": 101, "shopify_product_id": 10, "title": "Small / Blue", "product_title": "Classic Tee"},
        {"shopify_variant_id": 999, "shopify_product_id": 99, "title": None, "product_title": None},
    ]
    assert offer["deposit"] == {"type": "percentage", "percentage": "50.00", "amount": None}
    assert offer["balance_due"] == {"trigger": "time_after_checkout", "days_after_checkout": 30, "due_at": None}
    assert offer["market_ids"] == [5]
    status, read = call("GET", f"{OFFERS}/{offer['id']}", shop.key)
    assert status == 200 and read == offer
    status, listed = call("GET", OFFERS, shop.key)
    assert status == 200 and listed["offers"] == [offer]
    assert listed["meta"]["total_count"] == 1 and listed["meta"]["total_pages"] == 1


def test_another_shops_offer_is_a_404_like_an_id_that_does_not_exist(
    shop: Shop, other_shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    offer = create(capsys, shop.id, "--name", "Mine", "--selling-plan-id", "1", "--deposit-amount", "5")
    status, body = call("GET", f"{OFFERS}/{offer['id']}", other_shop.key)
    unknown = call("GET", f"{OFFERS}/01900000-0000-7000-8000-000000000000", other_shop.key)
    malformed = call("GET", f"{OFFERS}/not-a-uuid", other_shop.key)
    assert status == unknown[0] == malformed[0] == 404
    assert body["errors"] == [
        e.replace("01900000-0000-7000-8000-000000000000", offer["id"]) for e in unknown[1]["errors"]
    ]
    assert body["error_details"][0]["code"] == "not_found"
    assert call("GET", OFFERS, other_shop.key)[1]["offers"] == []


def test_a_selling_plan_belongs_to_one_offer_until_it_is_released(
    shop: Shop, other_shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    first = create(capsys, shop.id, "--name", "A", "--selling-plan-id", "7001", "--deposit-percent", "20")
    # The same plan in a second offer of the shop: refused, naming the owner; nothing written
    code, error = run_cli(
        capsys,
        *("offers", "create", "--shop-id", shop.id, "--name", "B"),
        *("--selling-plan-id", "7002", "--selling-plan-id", "7001", "--deposit-percent", "20"),
    )
    assert code == 2 and first["id"] in error["errors"][0] and "7001" in error["errors"][0]
    assert call("GET", OFFERS, shop.key)[1]["meta"]["total_count"] == 1
    assert deps.offers().offers.owners(shop.id, [7001, 7002]) == {7001: first["id"]}  # 7002 not claimed
    # Another shop may use the same plan id: plans are a shop's own
    create(capsys, other_shop.id, "--name", "Theirs", "--selling-plan-id", "7001", "--deposit-percent", "1")
    # Moving the first offer to another plan releases 7001 for a new offer
    code, moved = run_cli(
        capsys, "offers", "update", "--shop-id", shop.id, "--offer-id", first["id"], "--selling-plan-id", "7003"
    )
    assert code == 0 and moved["selling_plan_ids"] == [7003] and moved["name"] == "A"
    second = create(capsys, shop.id, "--name", "B", "--selling-plan-id", "7001", "--deposit-percent", "20")
    assert deps.offers().offers.owners(shop.id, [7001, 7003]) == {7001: second["id"], 7003: first["id"]}


def test_two_concurrent_creates_of_one_selling_plan_make_one_offer(shop: Shop, atomic_dynamodb: None) -> None:
    body = OfferCreate.model_validate(
        {"name": "Race", "selling_plan_ids": [42], "deposit": {"type": "percentage", "value": 10}}
    )
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        try:
            offers.create_offer(deps.offers(), shop.id, body)
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "created"]
    assert call("GET", OFFERS, shop.key)[1]["meta"]["total_count"] == 1


def test_an_update_changes_only_what_is_given(
    shop: Shop, catalog: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    offer = create(
        capsys,
        shop.id,
        *("--name", "Drop", "--selling-plan-id", "1", "--variant-id", "101", "--deposit-percent", "100"),
        *("--market-id", "5", "--market-id", "6"),
    )
    assert offer["balance_due"] == {"trigger": "no_remaining_balance", "days_after_checkout": None, "due_at": None}
    code, updated = run_cli(
        capsys,
        *("offers", "update", "--shop-id", shop.id, "--offer-id", offer["id"]),
        *("--status", "disabled", "--deposit-amount", "12.5", "--balance-due-date", "2027-03-01", "--clear-markets"),
    )
    assert code == 0, updated
    assert updated["status"] == "disabled" and updated["name"] == "Drop"
    assert updated["variants"] == offer["variants"] and updated["selling_plan_ids"] == [1]
    assert updated["deposit"] == {"type": "fixed_amount", "percentage": None, "amount": "12.50"}
    assert updated["balance_due"] == {
        "trigger": "exact_time",
        "days_after_checkout": None,
        "due_at": "2027-03-01T00:00:00.000Z",
    }
    assert updated["market_ids"] == [] and updated["created_at"] == offer["created_at"]
    assert call("GET", f"{OFFERS}/{offer['id']}", shop.key)[1] == updated
    code, error = run_cli(capsys, "offers", "update", "--shop-id", shop.id, "--offer-id", "nope", "--name", "x")
    assert code == 2 and "argument --offer-id: must be a UUID" in error["errors"][0]
    unknown = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    update = ("offers", "update", "--shop-id", shop.id, "--offer-id", unknown, "--name", "x")
    code, error = run_cli(capsys, *update)
    assert code == 2 and error["errors"] == [f"Offer not found: no offer {unknown} in this shop"]


def test_bad_options_are_refused_with_every_problem_and_write_nothing(
    shop: Shop, catalog: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    # An option's own rule is checked as the command line is parsed, with the API's message
    code, error = run_cli(capsys, *("offers", "create", "--shop-id", shop.id, "--name", " "))
    assert code == 2 and "argument --name: must not be blank" in error["errors"][0]
    code, error = run_cli(capsys, *("offers", "create", "--shop-id", shop.id, "--deposit-percent", "150"))
    assert code == 2 and "argument --deposit-percent" in error["errors"][0]
    # Rules across options come from the API's model: every problem at once
    code, error = run_cli(
        capsys,
        *("offers", "create", "--shop-id", shop.id, "--name", "x"),
        *("--selling-plan-id", "3", "--selling-plan-id", "3", "--deposit-percent", "10"),
    )
    assert code == 2
    assert "selling_plan_ids" in {e.split(":")[0] for e in error["errors"]}, error
    code, error = run_cli(
        capsys,
        *("offers", "create", "--shop-id", shop.id, "--name", "x", "--selling-plan-id", "3"),
        *("--variant-id", "101:20", "--deposit-percent", "10"),
    )
    assert code == 2 and "belongs to product 10" in error["errors"][0]
    assert call("GET", OFFERS, shop.key)[1]["offers"] == []


def test_lists_filter_and_keep_their_pages_stable(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    made = [
        create(
            capsys,
            shop.id,
            *("--name", f"Offer {n}", "--selling-plan-id", str(100 + n), "--variant-id", f"{500 + n % 2}:50"),
            *("--deposit-percent", "10", *(("--status", "disabled") if n == 2 else ())),
        )
        for n in range(4)
    ]
    status, first = call("GET", f"{OFFERS}?per_page=2", shop.key)
    assert status == 200
    assert [o["name"] for o in first["offers"]] == ["Offer 3", "Offer 2"]  # newest first
    assert first["meta"] | {"as_of": None} == {
        "total_count": 4,
        "page": 1,
        "per_page": 2,
        "total_pages": 2,
        "as_of": None,
    }
    create(capsys, shop.id, "--name", "Later", "--selling-plan-id", "999", "--deposit-percent", "10")
    _, second = call("GET", f"{OFFERS}?per_page=2&page=2&as_of={first['meta']['as_of']}", shop.key)
    assert [o["id"] for o in second["offers"]] == [made[1]["id"], made[0]["id"]]
    assert second["meta"]["total_count"] == 4
    assert [o["name"] for o in call("GET", f"{OFFERS}?variant_id=501", shop.key)[1]["offers"]] == [
        "Offer 3",
        "Offer 1",
    ]
    assert [o["name"] for o in call("GET", f"{OFFERS}?status=disabled", shop.key)[1]["offers"]] == ["Offer 2"]
    assert call("GET", f"{OFFERS}?product_id=50", shop.key)[1]["meta"]["total_count"] == 4
    status, error = call("GET", f"{OFFERS}?per_page=500&status=paused", shop.key)
    assert status == 422 and {d["field"] for d in error["error_details"]} == {"per_page", "status"}
