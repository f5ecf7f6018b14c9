"""Pure rules of the waitlist and the send pipeline: ids, tokens, models, status precedence, blocked reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from backinstock import ids, registry
from backinstock.models import signups as m
from backinstock.models.settings import Settings
from backinstock.registry import Access
from backinstock.repositories.shops import Shop
from backinstock.services import links, sending
from backinstock.services.signups import in_scope, status_of

pytestmark = pytest.mark.unit
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))  # noqa: DTZ001 (hypothesis bounds are naive; timezones= makes the values aware)


@given(moments, moments)
def test_uuid7_strings_sort_by_creation_time(a: datetime, b: datetime) -> None:
    first, second = ids.uuid7(a), ids.uuid7(b)
    if ids._ms(a) < ids._ms(b):
        assert first < second
    assert ids.is_uuid(first) and first[14] == "7"


@given(moments, st.integers(min_value=0, max_value=10**9))
def test_id_bounds_include_exactly_the_window(start: datetime, span_ms: int) -> None:
    end = start + timedelta(milliseconds=span_ms)
    low, high = ids.id_bounds(start, end)
    assert low <= ids.uuid7(start) <= high
    assert low <= ids.uuid7(end) <= high
    assert not low <= ids.uuid7(start - timedelta(milliseconds=1)) <= high
    assert not low <= ids.uuid7(end + timedelta(milliseconds=1)) <= high


def test_iso_is_utc_with_milliseconds_and_z() -> None:
    moment = datetime(2026, 6, 1, 14, 0, 0, 123456, tzinfo=UTC)
    assert ids.iso(moment) == "2026-06-01T14:00:00.123Z"


# ---------------------------------------------------------------------------------------------------------- tokens
KEY = b"k" * 32
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_a_token_verifies_for_its_purpose_only_and_until_it_expires() -> None:
    token = links.make_token(KEY, "shop", "sig", "unsubscribe", NOW)
    claim = links.verify_token(KEY, token, "unsubscribe", NOW + timedelta(days=89))
    assert claim == links.LinkClaim("shop", "sig", "unsubscribe")
    assert links.verify_token(KEY, token, "optin", NOW) is None
    assert links.verify_token(KEY, token, "unsubscribe", NOW + timedelta(days=91)) is None
    assert links.verify_token(b"other" * 8, token, "unsubscribe", NOW) is None


@given(st.integers(min_value=0, max_value=200), st.sampled_from("AbZ09-_."))
def test_any_single_character_change_breaks_a_token(position: int, replacement: str) -> None:
    token = links.make_token(KEY, "shop", "sig", "optin", NOW)
    position %= len(token)
    changed = token[:position] + replacement + token[position + 1 :]
    if changed != token:  # strict decoding: one spelling only, so every change breaks it (padding bits included)
        assert links.verify_token(KEY, changed, "optin", NOW) is None


@pytest.mark.parametrize(
    "spelling",
    [
        lambda p, s: f"{p}==.{s}",  # padding
        lambda p, s: f"{p}.{s}=",
        lambda p, s: f"{p}.{s}junk",  # trailing characters
        lambda p, s: f"{p}.{s}.",
        lambda p, s: f"{p}.{s[:-1]}{B64URL[B64URL.index(s[-1]) | 1]}",  # an unused bit of the last character set
        lambda p, s: f" {p}.{s}",
    ],
)
def test_a_token_has_one_spelling(spelling: Any) -> None:
    token = links.make_token(KEY, "shop", "sig", "optin", NOW)
    payload, signature = token.split(".")
    other = spelling(payload, signature)
    assert other != token
    assert links.verify_token(KEY, other, "optin", NOW) is None


def test_a_download_token_names_the_file_and_lives_as_long_as_it() -> None:
    completed = NOW
    token = links.make_token(KEY, "shop", "exp_0123456789abcdef", "download", completed, file="report.csv")
    claim = links.verify_token(KEY, token, "download", completed + timedelta(days=6, hours=23))
    assert claim == links.LinkClaim("shop", "exp_0123456789abcdef", "download", file="report.csv")
    assert links.expiry(token) == completed + timedelta(days=7)
    assert links.verify_token(KEY, token, "download", completed + timedelta(days=7, seconds=1)) is None
    assert links.verify_token(KEY, token, "unsubscribe", completed) is None


# ---------------------------------------------------------------------------------------------------------- models
def test_signup_create_normalizes_contacts() -> None:
    body = m.SignupCreate(channel="email", shopify_variant_id=1, email=" Jane@Example.COM ")
    assert body.contact == "jane@example.com"
    body = m.SignupCreate(channel="sms", shopify_variant_id=1, phone="+44 (20) 7946-0958")
    assert body.contact == "+442079460958"


@pytest.mark.parametrize(
    "data",
    [
        {"channel": "push", "shopify_variant_id": 1, "email": "a@b.co"},
        {"channel": "email", "shopify_variant_id": 1},
        {"channel": "email", "shopify_variant_id": 0, "email": "a@b.co"},
        {"channel": "email", "shopify_variant_id": 1, "email": "a@b.co", "quantity": 0},
        {"channel": "email", "shopify_variant_id": 1, "email": "a@b.co", "quantity": True},
        {"channel": "email", "shopify_variant_id": 1.5, "email": "a@b.co"},
        {"channel": "email", "shopify_variant_id": 1, "email": "a@b.co", "extra": 1},
        {"channel": "sms", "shopify_variant_id": 1, "phone": "0123456"},
    ],
)
def test_signup_create_rejects(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        m.SignupCreate.model_validate_json(__import__("json").dumps(data))


def test_list_query_dates_cover_whole_days_and_default_to_utc() -> None:
    query = m.SignupListQuery.model_validate({"from": "2026-06-01", "to": "2026-06-01"})
    assert query.from_ == datetime(2026, 6, 1, tzinfo=UTC)
    assert query.to is not None and query.to.date() == datetime(2026, 6, 1, tzinfo=UTC).date() and query.to.hour == 23
    query = m.SignupListQuery.model_validate({"from": "2026-06-01T12:00:00+02:00"})
    assert query.from_ == datetime(2026, 6, 1, 10, tzinfo=UTC)
    assert query.upper_bound(NOW) == NOW
    query = m.SignupListQuery.model_validate({"to": "2026-05-01", "as_of": "2026-05-02"})
    assert query.upper_bound(NOW) == query.to


@pytest.mark.parametrize(
    "params", [{"per_page": "201"}, {"per_page": "0"}, {"page": "0"}, {"status": "blocked"}, {"from": "soon"}]
)
def test_list_query_refuses_instead_of_clamping(params: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        m.SignupListQuery.model_validate(params)


def test_bulk_bodies_cap_at_1000_ids() -> None:
    assert len(m.BulkNotifyBody(signup_ids=["a"] * 1000).signup_ids) == 1000
    with pytest.raises(ValidationError):
        m.BulkDeleteBody(signup_ids=["a"] * 1001)


# ------------------------------------------------------------------------------------------------ status and scope
@pytest.mark.parametrize(
    ("stamps", "status"),
    [
        ({}, "pending"),
        ({"blocked_at": "t"}, "blocked"),
        ({"blocked_at": "t", "notified_at": "t"}, "notified"),
        ({"notified_at": "t", "unsubscribed_at": "t"}, "unsubscribed"),
        ({"blocked_at": "t", "unsubscribed_at": "t"}, "unsubscribed"),
    ],
)
def test_status_precedence(stamps: dict[str, str], status: str) -> None:
    assert status_of(stamps) == status


def test_transfer_scope() -> None:
    assert in_scope({}, "pending") and not in_scope({"notified_at": "t"}, "pending")
    assert in_scope({"notified_at": "t"}, "notified") and not in_scope({}, "notified")
    assert not in_scope({"unsubscribed_at": "t"}, "pending")
    assert in_scope({"unsubscribed_at": "t"}, "all")
    # issue 24: a blocked signup is not pending (models.status), so `scope: pending` leaves it where it is
    assert not in_scope({"blocked_at": "t"}, "pending") and in_scope({"blocked_at": "t"}, "all")


# ------------------------------------------------------------------------------------------------- blocked reasons
def shop(plan: str = "growth", sms: dict[str, Any] | None = None) -> Shop:
    return Shop("s", "x.myshopify.com", plan, "USD", "UTC", "t", "h", {}, sms)


def settings(**channels: bool) -> Settings:
    data = Settings().model_dump()
    for name, enabled in channels.items():
        data["channels"][name]["enabled"] = enabled
    return Settings.model_validate(data)


def test_blocked_reasons_in_order() -> None:
    email = {"channel": "email"}
    assert sending.blocked_reason(email, shop(), settings()) is None
    assert "email channel is disabled" in str(sending.blocked_reason(email, shop(), settings(email=False)))
    unsubscribed = {**email, "unsubscribed_at": "t", "optin_required": True}
    assert sending.blocked_reason(unsubscribed, shop(), settings(email=False)) == sending.BLOCKED["unsubscribed"]
    assert (
        sending.blocked_reason({**email, "optin_required": True}, shop(), settings())
        == sending.BLOCKED["optin_unconfirmed"]
    )
    assert (
        sending.blocked_reason({**email, "optin_required": True, "optin_confirmed_at": "t"}, shop(), settings()) is None
    )
    sms = {"channel": "sms"}
    assert "sms channel is disabled" in str(sending.blocked_reason(sms, shop(), settings()))
    pending = shop(sms={"status": "pending", "started_at": "t"})
    assert "(status: pending)" in str(sending.blocked_reason(sms, pending, settings(sms=True)))
    verified = shop(sms={"status": "verified", "started_at": "t"})
    assert sending.blocked_reason(sms, verified, settings(sms=True)) is None


def test_every_plan_has_a_quota_and_higher_plans_send_more() -> None:
    from backinstock.services.shops import PLANS

    assert set(sending.PLAN_MONTHLY_SENDS) == set(PLANS)
    limits = [sending.PLAN_MONTHLY_SENDS[p] or float("inf") for p in PLANS]
    assert limits == sorted(limits)


def test_restock_email_escapes_product_names() -> None:
    email = sending.restock_email("a@b.co", "<script>Tee</script>", "https://x/p?a=1&b=2", "https://x/u?t=1")
    assert "<script>" not in email.html and "&lt;script&gt;" in email.html
    assert "https://x/p?a=1&b=2" in email.text and "https://x/u?t=1" in email.text


# ---------------------------------------------------------------------------------------------------------- registry
def test_idempotent_actions_are_exactly_those_with_the_idempotency_store() -> None:
    for action in registry.actions():
        assert action.idempotent == (Access.IDEMPOTENCY in action.access), action.name


def test_signups_reference_routes_are_registered() -> None:
    routes = {(a.method, a.path) for a in registry.actions()}
    s = "/back_in_stock/signups"
    assert {
        ("GET", s),
        ("GET", f"{s}/:id"),
        ("POST", s),
        ("DELETE", f"{s}/:id"),
        ("POST", f"{s}/:id/notify"),
        ("POST", f"{s}/bulk_notify"),
        ("POST", f"{s}/bulk_delete"),
        ("POST", f"{s}/transfer"),
        ("GET", "/back_in_stock/notifications"),
        ("GET", "/back_in_stock/notifications/:id"),
    } <= routes


def test_static_segments_win_over_path_parameters() -> None:
    found = registry.match("GET", "/back_in_stock/signups/help")
    assert found is not None and found[0].name == "help"
    found = registry.match("GET", "/back_in_stock/signups/abc")
    assert found is not None and found[0].name == "get_signup" and found[1] == {"id": "abc"}


def test_only_the_creation_of_an_unconfirmed_optin_signup_asks_for_a_confirmation() -> None:
    from backinstock.services.optin import confirmation_message

    new = {"entity": "signup", "shop_id": "s", "signup_id": "i", "created_at": "t", "optin_required": True}
    assert confirmation_message(None, new) == {"kind": "optin", "shop_id": "s", "signup_id": "i", "committed_at": "t"}
    assert confirmation_message(new, {**new, "notified_at": "t2"}) is None  # a change, not a creation
    assert confirmation_message(new, None) is None  # a deletion
    assert confirmation_message(None, {**new, "optin_required": False}) is None
    assert confirmation_message(None, {**new, "optin_confirmed_at": "t"}) is None
    assert confirmation_message(None, {**new, "entity": "notification"}) is None
