"""Settings validation: defaults, deep-partial patches, strictness and the messages a person reads."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backinstock.api.validation import parse_body
from backinstock.errors import ValidationFailed
from backinstock.models import settings as m

pytestmark = pytest.mark.unit

REFERENCE_DEFAULTS = {
    "channels": {"email": {"enabled": True}, "sms": {"enabled": False}, "push": {"enabled": True}},
    "delivery": {
        "batching": {"enabled": False, "mode": "multiplier", "multiplier": 3, "batch_size": 100, "wait_hours": 24},
        "stock_threshold": 1,
        "locations": {"filter_enabled": False, "location_ids": []},
        "any_variant": {"enabled": False, "product_ids": []},
    },
    "compliance": {"optin_required": False},
    "tagging": {"order_tags": {"enabled": False, "tag": "STOQ-back-in-stock"}},
    "alerts": {
        "signups_threshold": {"count": 10, "notify": True},
        "scheduled_reports": {"daily": False, "weekly": False, "monthly": False},
    },
}


def errors_of(model: type, body: object) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_body(model, json.dumps(body))
    return [p.text() for p in caught.value.problems]


def test_defaults_are_exactly_the_reference_full_settings_shape() -> None:
    # plus the resend spacing window (issue 23), an addition the reference does not have
    expected = {**REFERENCE_DEFAULTS, "delivery": {**REFERENCE_DEFAULTS["delivery"], "resend_spacing_minutes": 10}}
    assert json.loads(m.Settings().model_dump_json(exclude_none=True)) == expected


def test_patch_keeps_only_the_leaves_sent() -> None:
    patch = parse_body(m.SettingsPatch, '{"delivery": {"batching": {"mode": "fixed"}}, "compliance": {}}')
    assert m.flatten_patch(patch) == {("delivery", "batching", "mode"): "fixed"}


def test_lists_are_leaves_replaced_wholesale_and_deduplicated() -> None:
    patch = parse_body(m.DeliveryPatch, '{"locations": {"location_ids": [3, 1, 3]}}')
    assert m.flatten_patch(patch, ("delivery",)) == {("delivery", "locations", "location_ids"): [3, 1]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"sms": {"enabled": "yes"}}, 'sms.enabled: must be true or false (got "yes")'),
        ({"sms": {"enabled": 1}}, "sms.enabled: must be true or false (got 1)"),
        ({"sms": None}, "sms: must be an object (got null)"),
        ({"sms": {"enabled": None}}, "sms.enabled: must be true or false (got null)"),
        ({"fax": {"enabled": True}}, "fax: is not a known field; allowed: email, sms, push"),
    ],
)
def test_channel_patch_errors(body: dict, expected: str) -> None:
    assert errors_of(m.ChannelsPatch, body) == [expected]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"batching": {"mode": "double"}}, "batching.mode: must be 'multiplier' or 'fixed'"),
        ({"batching": {"batch_size": 0}}, "batching.batch_size: must be at least 1"),
        ({"batching": {"multiplier": -2}}, "batching.multiplier: must be at least 1"),
        ({"batching": {"wait_hours": -1}}, "batching.wait_hours: must be at least 0"),
        ({"batching": {"batch_size": "5"}}, "batching.batch_size: must be an integer"),
        ({"batching": {"batch_size": 2.5}}, "batching.batch_size: must be an integer"),
        ({"stock_threshold": 0}, "stock_threshold: must be at least 1"),
        ({"locations": {"location_ids": ["a"]}}, "locations.location_ids[0]: must be an integer"),
        ({"locations": {"location_ids": 5}}, "locations.location_ids: must be an array"),
        ({"any_variant": {"product_ids": [0]}}, "any_variant.product_ids[0]: must be at least 1"),
    ],
)
def test_delivery_patch_errors(body: dict, fragment: str) -> None:
    (message,) = errors_of(m.DeliveryPatch, body)
    assert message.startswith(fragment)


@pytest.mark.parametrize(
    ("tag", "fragment"),
    [
        ("", "must be a non-empty tag"),
        ("   ", "must be a non-empty tag"),
        ("a,b", "must be a single tag"),
        ("x" * 41, "must be at most 40 characters"),
        (5, "must be a string"),
    ],
)
def test_tag_must_be_a_shopify_tag(tag: object, fragment: str) -> None:
    (message,) = errors_of(m.TaggingPatch, {"order_tags": {"tag": tag}})
    assert message.startswith("order_tags.tag: ") and fragment in message


def test_tag_is_trimmed() -> None:
    patch = parse_body(m.TaggingPatch, '{"order_tags": {"tag": "  restock-recovered "}}')
    assert patch.order_tags.tag == "restock-recovered"


def test_top_level_patch_accumulates_every_blob_error() -> None:
    body = {
        "channels": {"sms": {"enabled": "on"}},
        "delivery": {"stock_threshold": 0, "batching": {"mode": "x"}},
        "tagging": {"order_tags": {"tag": ""}},
        "alerts": {"signups_threshold": {"count": 0}, "scheduled_reports": {"hourly": True}},
        "extra": 1,
    }
    fields = [message.split(":")[0] for message in errors_of(m.SettingsPatch, body)]
    assert sorted(fields) == sorted(
        [
            "channels.sms.enabled",
            "delivery.stock_threshold",
            "delivery.batching.mode",
            "tagging.order_tags.tag",
            "alerts.signups_threshold.count",
            "alerts.scheduled_reports.hourly",
            "extra",
        ]
    )


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("[]", "request body must be an object"),
        ('"settings"', "request body must be an object"),
        ("{not json", "request body is not valid JSON"),
        ("", "request body is required"),
    ],
)
def test_non_object_and_invalid_bodies(raw: str, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_body(m.SettingsPatch, raw)
    assert fragment in caught.value.problems[0].text()


@given(
    st.dictionaries(
        st.sampled_from(["enabled", "mode", "multiplier", "batch_size", "wait_hours"]),
        st.one_of(st.booleans(), st.integers(-5, 20_000), st.sampled_from(["fixed", "multiplier", "other"])),
    )
)
def test_batching_patch_accepts_exactly_the_valid_values(body: dict) -> None:
    """Property: a batching patch validates iff every value has its field's type and range."""

    def valid(key: str, value: object) -> bool:
        if key == "enabled":
            return isinstance(value, bool)
        if key == "mode":
            return value in ("fixed", "multiplier")
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        low, high = {"multiplier": (1, 1000), "batch_size": (1, 10_000), "wait_hours": (0, 720)}[key]
        return low <= value <= high

    expect_ok = all(valid(k, v) for k, v in body.items())
    try:
        patch = parse_body(m.BatchingPatch, json.dumps(body))
    except ValidationFailed:
        assert not expect_ok
    else:
        assert expect_ok
        assert m.flatten_patch(patch) == {(k,): v for k, v in body.items()}
