"""The waitlist over the API (reference 004), against moto: create, read, list, delete, bulk delete, isolation."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from backinstock import deps
from backinstock.errors import Conflict
from backinstock.models.signups import SignupCreate
from backinstock.services import signups
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.builders import mark, mark_notified
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
SIGNUPS = "/back_in_stock/signups"


def create(key: str, **body: Any) -> tuple[int, Any]:
    return call("POST", SIGNUPS, key, {"channel": "email", **body})


def test_create_returns_201_with_the_full_representation(shop: Shop, catalog: dict[str, int]) -> None:
    status, body = create(shop.key, shopify_variant_id=catalog["small"], email="Jane@Example.com", name="Jane")
    assert status == 201
    assert body["status"] == "pending"
    assert body["channel"] == "email" and body["contact"] == "jane@example.com"
    assert body["quantity"] == 1
    assert body["variant"] == {"shopify_variant_id": 101, "shopify_product_id": 10, "title": "Small / Blue"}
    assert body["customer"]["email"] == "jane@example.com" and body["customer"]["name"] == "Jane"
    assert body["optin"] == {"required": False, "confirmed": None}
    assert body["notifications_sent"] == 0 and body["last_notified_at"] is None
    assert body["created_at"].endswith("Z")
    assert call("GET", f"{SIGNUPS}/{body['id']}", shop.key) == (200, body)


def test_the_same_customer_is_found_not_created_again(shop: Shop, catalog: dict[str, int]) -> None:
    _, first = create(shop.key, shopify_variant_id=catalog["small"], email="jane@example.com")
    _, second = create(shop.key, shopify_variant_id=catalog["mug"], email="JANE@example.com", name="Jane D")
    assert first["customer"]["id"] == second["customer"]["id"]
    assert second["customer"]["name"] == "Jane D"


def test_sms_signup_needs_an_e164_phone(shop: Shop, catalog: dict[str, int]) -> None:
    status, body = call("POST", SIGNUPS, shop.key, {"channel": "sms", "shopify_variant_id": 101})
    assert status == 422 and "phone is required for the sms channel" in body["errors"][0]
    status, body = call("POST", SIGNUPS, shop.key, {"channel": "sms", "shopify_variant_id": 101, "phone": "555-1234"})
    assert status == 422 and body["error_details"][0]["field"] == "phone"
    status, body = call(
        "POST", SIGNUPS, shop.key, {"channel": "sms", "shopify_variant_id": 101, "phone": "+1 (555) 123-4567"}
    )
    assert status == 201 and body["contact"] == "+15551234567"


def test_bad_bodies_list_every_problem_and_write_nothing(shop: Shop, catalog: dict[str, int]) -> None:
    status, body = call(
        "POST",
        SIGNUPS,
        shop.key,
        {"channel": "fax", "shopify_variant_id": "101", "quantity": 0, "color": "red", "email": "not-an-email"},
    )
    assert status == 422
    fields = {d["field"] for d in body["error_details"]}
    assert {"channel", "shopify_variant_id", "quantity", "color", "email"} <= fields
    assert call("GET", SIGNUPS, shop.key)[1]["meta"]["total_count"] == 0


def test_unknown_variant_needs_a_product_id_and_a_wrong_product_is_refused(shop: Shop, catalog: dict[str, int]) -> None:
    status, body = create(shop.key, shopify_variant_id=999, email="a@example.com")
    assert status == 422
    assert body["error_details"][0]["field"] == "shopify_variant_id"
    assert "shopify_product_id" in body["errors"][0]
    status, body = create(shop.key, shopify_variant_id=999, shopify_product_id=99, email="a@example.com")
    assert status == 201 and body["variant"] == {"shopify_variant_id": 999, "shopify_product_id": 99, "title": None}
    status, body = create(shop.key, shopify_variant_id=101, shopify_product_id=20, email="b@example.com")
    assert status == 422 and "belongs to product 10" in body["errors"][0]


def test_a_second_pending_signup_for_the_same_contact_variant_and_channel_is_409(
    shop: Shop, catalog: dict[str, int]
) -> None:
    status, first = create(shop.key, shopify_variant_id=101, email="jane@example.com")
    assert status == 201
    status, body = create(shop.key, shopify_variant_id=101, email="jane@example.com")
    assert status == 409 and first["id"] in body["errors"][0]
    # another variant, or another channel, is another signup
    assert create(shop.key, shopify_variant_id=102, email="jane@example.com")[0] == 201


def test_of_concurrent_identical_creates_exactly_one_wins(
    shop: Shop, catalog: dict[str, int], atomic_dynamodb: None
) -> None:
    # The service is called from threads directly: the local gateway serializes invocations, Lambda does not.
    statuses: list[int] = []
    barrier = threading.Barrier(6)
    body = SignupCreate(channel="email", shopify_variant_id=101, email="race@example.com")
    waitlist = deps.waitlist()

    def attempt() -> None:
        barrier.wait()
        try:
            signups.create_signup(waitlist, shop.id, body)
            statuses.append(201)
        except Conflict:
            statuses.append(409)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409, 409, 409, 409, 409]
    listed = call("GET", f"{SIGNUPS}?email=race@", shop.key)[1]
    assert listed["meta"]["total_count"] == 1


def test_optin_required_follows_the_compliance_setting_at_creation(shop: Shop, catalog: dict[str, int]) -> None:
    call("PATCH", "/back_in_stock/settings/compliance", shop.key, {"optin_required": True})
    _, body = create(shop.key, shopify_variant_id=101, email="optin@example.com")
    assert body["optin"] == {"required": True, "confirmed": False}
    call("PATCH", "/back_in_stock/settings/compliance", shop.key, {"optin_required": False})
    assert call("GET", f"{SIGNUPS}/{body['id']}", shop.key)[1]["optin"] == {"required": True, "confirmed": False}


# ---------------------------------------------------------------------------------------------------------- list
@pytest.fixture
def waitlist(shop: Shop, catalog: dict[str, int]) -> list[dict[str, Any]]:
    made = []
    for i, (variant, channel) in enumerate(
        [(101, "email"), (101, "sms"), (102, "email"), (201, "email"), (101, "email")]
    ):
        contact = {"email": f"person{i}@Example.com"} if channel == "email" else {"phone": f"+1555000000{i}"}
        status, body = call("POST", SIGNUPS, shop.key, {"channel": channel, "shopify_variant_id": variant, **contact})
        assert status == 201
        made.append(body)
    return made


def ids_of(key: str, query: str = "") -> list[str]:
    status, body = call("GET", f"{SIGNUPS}{query}", key)
    assert status == 200, body
    return [s["id"] for s in body["signups"]]


def test_list_is_newest_first_with_meta(shop: Shop, waitlist: list[dict[str, Any]]) -> None:
    status, body = call("GET", f"{SIGNUPS}?per_page=2&page=2", shop.key)
    assert status == 200
    assert [s["id"] for s in body["signups"]] == [w["id"] for w in reversed(waitlist)][2:4]
    meta = body["meta"]
    assert (meta["total_count"], meta["page"], meta["per_page"], meta["total_pages"]) == (5, 2, 2, 3)


def test_list_filters(shop: Shop, waitlist: list[dict[str, Any]]) -> None:
    key = shop.key
    newest_first = list(reversed(waitlist))
    assert ids_of(key, "?variant_id=101") == [
        w["id"] for w in newest_first if w["variant"]["shopify_variant_id"] == 101
    ]
    assert ids_of(key, "?product_id=10") == [w["id"] for w in newest_first if w["variant"]["shopify_product_id"] == 10]
    assert ids_of(key, "?product_id=10&variant_id=102") == [waitlist[2]["id"]]
    assert ids_of(key, "?product_id=20&variant_id=102") == []
    assert ids_of(key, "?channel=sms") == [waitlist[1]["id"]]
    assert ids_of(key, "?email=PERSON3") == [waitlist[3]["id"]]
    assert ids_of(key, "?phone=0000001") == [waitlist[1]["id"]]
    assert ids_of(key, "?status=pending") == [w["id"] for w in newest_first]
    assert ids_of(key, "?status=notified") == []
    created = waitlist[2]["created_at"]
    assert ids_of(key, f"?to={created}") == [w["id"] for w in waitlist[:3]][::-1]
    assert ids_of(key, f"?from={created}") == [w["id"] for w in waitlist[2:]][::-1]
    assert ids_of(key, "?from=2000-01-01&to=2000-01-02") == []


def test_pages_are_stable_while_rows_are_added(shop: Shop, waitlist: list[dict[str, Any]]) -> None:
    key = shop.key
    status, first = call("GET", f"{SIGNUPS}?per_page=2", key)
    assert status == 200
    as_of = first["meta"]["as_of"]
    create(key, shopify_variant_id=201, email="latecomer@example.com")
    _, second = call("GET", f"{SIGNUPS}?per_page=2&page=2&as_of={as_of}", key)
    _, third = call("GET", f"{SIGNUPS}?per_page=2&page=3&as_of={as_of}", key)
    seen = [s["id"] for page in (first, second, third) for s in page["signups"]]
    assert seen == [w["id"] for w in reversed(waitlist)]
    assert second["meta"]["total_count"] == 5
    assert call("GET", SIGNUPS, key)[1]["meta"]["total_count"] == 6


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?per_page=201", "per_page"),
        ("?per_page=0", "per_page"),
        ("?page=0", "page"),
        ("?status=blocked", "status"),
        ("?status=gone", "status"),
        ("?channel=fax", "channel"),
        ("?from=yesterday", "from"),
        ("?variant_id=abc", "variant_id"),
        ("?colour=red", "colour"),
    ],
)
def test_bad_list_queries_are_422(shop: Shop, query: str, field: str) -> None:
    status, body = call("GET", f"{SIGNUPS}{query}", shop.key)
    assert status == 422, body
    assert body["error_details"][0]["field"] == field


def test_blocked_status_filter_points_to_the_notification_log(shop: Shop) -> None:
    _, body = call("GET", f"{SIGNUPS}?status=blocked", shop.key)
    assert "/back_in_stock/notifications?status=blocked" in body["errors"][0]


def test_from_after_to_is_422(shop: Shop) -> None:
    status, body = call("GET", f"{SIGNUPS}?from=2026-06-02&to=2026-06-01", shop.key)
    assert status == 422 and "from must not be after to" in body["errors"][0]


# -------------------------------------------------------------------------------------------------------- delete
def test_delete_pending(shop: Shop, waitlist: list[dict[str, Any]]) -> None:
    target = waitlist[0]["id"]
    assert call("DELETE", f"{SIGNUPS}/{target}", shop.key) == (200, {"deleted": True, "signup_id": target})
    assert call("GET", f"{SIGNUPS}/{target}", shop.key)[0] == 404
    assert call("DELETE", f"{SIGNUPS}/{target}", shop.key)[0] == 404
    # the contact may sign up again for that variant
    assert create(shop.key, shopify_variant_id=101, email="person0@example.com")[0] == 201


def test_delete_of_a_notified_signup_is_409_and_keeps_it(shop: Shop, waitlist: list[dict[str, Any]]) -> None:
    target = waitlist[0]["id"]
    mark_notified(shop.id, target)
    status, body = call("DELETE", f"{SIGNUPS}/{target}", shop.key)
    assert status == 409 and "is notified: only pending signups can be deleted" in body["errors"][0]
    assert call("GET", f"{SIGNUPS}/{target}", shop.key)[1]["status"] == "notified"


def test_bulk_delete_is_all_or_nothing(shop: Shop, waitlist: list[dict[str, Any]]) -> None:
    key = shop.key
    mark_notified(shop.id, waitlist[1]["id"])
    ids = [w["id"] for w in waitlist]
    status, body = call("POST", f"{SIGNUPS}/bulk_delete", key, {"signup_ids": ids})
    assert status == 422 and f"{waitlist[1]['id']} (notified)" in body["errors"][0]
    assert "nothing was deleted" in body["errors"][0]
    assert call("GET", SIGNUPS, key)[1]["meta"]["total_count"] == 5
    rest = [i for i in ids if i != waitlist[1]["id"]]
    missing = "01900000-0000-7000-8000-000000000000"
    status, body = call("POST", f"{SIGNUPS}/bulk_delete", key, {"signup_ids": [*rest, "no-such-id", missing]})
    assert status == 422
    assert [(d["code"], d["field"]) for d in body["error_details"]] == [
        ("not_found", "signup_ids[4]"),
        ("not_found", "signup_ids[5]"),
    ]
    assert (
        body["errors"][0] == "signup_ids[4]: Signup not found: no signup no-such-id in this shop; nothing was deleted"
    )
    assert call("GET", SIGNUPS, key)[1]["meta"]["total_count"] == 5
    status, body = call("POST", f"{SIGNUPS}/bulk_delete", key, {"signup_ids": rest})
    assert (status, body) == (200, {"deleted_count": 4})
    assert ids_of(key) == [waitlist[1]["id"]]


@pytest.mark.parametrize(("field", "status"), [("blocked_at", "blocked"), ("unsubscribed_at", "unsubscribed")])
def test_only_pending_signups_delete(shop: Shop, waitlist: list[dict[str, Any]], field: str, status: str) -> None:
    """Reference 004: "pending signups only ... history is immutable": a blocked or unsubscribed signup is 409
    (single) and fails the whole bulk delete with a 422 naming it, and stays."""
    key = shop.key
    target = waitlist[0]["id"]
    mark(shop.id, target, field)
    code, body = call("DELETE", f"{SIGNUPS}/{target}", key)
    assert code == 409 and f"is {status}: only pending signups can be deleted" in body["errors"][0]
    ids = [w["id"] for w in waitlist]
    code, body = call("POST", f"{SIGNUPS}/bulk_delete", key, {"signup_ids": ids})
    assert code == 422 and f"{target} ({status})" in body["errors"][0] and "nothing was deleted" in body["errors"][0]
    assert body["error_details"][0]["code"] == "not_pending"
    assert call("GET", SIGNUPS, key)[1]["meta"]["total_count"] == 5
    assert call("GET", f"{SIGNUPS}/{target}", key)[1]["status"] == status


def test_a_blocked_duplicate_is_409_saying_blocked(shop: Shop, catalog: dict[str, int]) -> None:
    """A blocked signup stays on the waitlist (the next restock sends to it): a second create is 409, and the
    message says blocked, not pending; a pending duplicate still says pending."""
    status, first = create(shop.key, shopify_variant_id=101, email="jane@example.com")
    mark(shop.id, first["id"], "blocked_at")
    status, body = create(shop.key, shopify_variant_id=101, email="jane@example.com")
    assert status == 409
    assert body["errors"][0].startswith("A blocked signup already exists") and first["id"] in body["errors"][0]
    assert "pending" not in body["errors"][0]
    create(shop.key, shopify_variant_id=102, email="jane@example.com")
    status, body = create(shop.key, shopify_variant_id=102, email="jane@example.com")
    assert status == 409 and body["errors"][0].startswith("A pending signup already exists")


def test_bulk_delete_refuses_more_than_1000_ids(shop: Shop) -> None:
    status, body = call("POST", f"{SIGNUPS}/bulk_delete", shop.key, {"signup_ids": ["x"] * 1001})
    assert status == 422 and body["error_details"][0]["field"] == "signup_ids"


# ----------------------------------------------------------------------------------------------------- isolation
def test_another_shops_signups_behave_as_if_they_did_not_exist(
    shop: Shop, other_shop: Shop, waitlist: list[dict[str, Any]]
) -> None:
    theirs = other_shop.key
    target = waitlist[0]["id"]
    missing = "01900000-0000-7000-8000-000000000000"
    for signup_id in (target, missing):
        get = call("GET", f"{SIGNUPS}/{signup_id}", theirs)
        assert get[0] == 404
        assert call("DELETE", f"{SIGNUPS}/{signup_id}", theirs)[0] == 404
        assert call("POST", f"{SIGNUPS}/{signup_id}/notify", theirs)[0] == 404
    assert call("GET", SIGNUPS, theirs)[1]["meta"]["total_count"] == 0
    status, body = call("POST", f"{SIGNUPS}/bulk_delete", theirs, {"signup_ids": [target]})
    assert status == 422 and [d["code"] for d in body["error_details"]] == ["not_found"]
    status, notify_body = call("POST", f"{SIGNUPS}/bulk_notify", theirs, {"signup_ids": [target]})
    assert status == 207 and notify_body["failed"][0]["signup_id"] == target
    # the same words for an unknown id in both
    assert body["error_details"][0]["message"].startswith(notify_body["failed"][0]["error"])
    assert call("GET", f"{SIGNUPS}/{target}", shop.key)[0] == 200


def test_signup_routes_need_a_key(shop: Shop) -> None:
    assert call("GET", SIGNUPS)[0] == 401
    assert call("GET", SIGNUPS, "bis_wrong")[0] == 401
    assert call("POST", SIGNUPS, "bis_wrong", {"channel": "email"})[0] == 401
