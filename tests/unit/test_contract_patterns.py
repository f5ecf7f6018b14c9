"""The patterns the OpenAPI document gives for rules a validator enforces in its own words say exactly what the
validator accepts: a string matches the pattern if and only if the model takes it (Hypothesis, over strings made of
the characters that matter). The contract fuzzer (tests/contract/) finds a disagreement over HTTP; this finds it here,
in milliseconds."""

from __future__ import annotations

import json
import re
import string
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from backinstock.api.validation import parse_body
from backinstock.errors import ValidationFailed
from backinstock.models.preorder_reports import BY_DATE_METRICS, METRICS_PATTERN, ByDateQuery
from backinstock.models.reporting import IN_RANGE, in_range
from backinstock.models.settings import TAG_PATTERN, OrderTagsPatch
from backinstock.models.signups import EMAIL_LOCAL_PATTERN, EMAIL_PATTERN, PHONE_PATTERN, SignupCreate

pytestmark = pytest.mark.unit

SPACES = " \t\n\x0b\x1c\x85\xa0\u2003\u3000\ufeff"  # Python's whitespace, and one (\ufeff) that is not
_chars = st.sampled_from([*SPACES, ",", "@", ".", "+", "(", ")", "-", "a", "Z", "0", "1", "7", "é", "٣"])


def _takes(model: type, body: dict[str, object]) -> bool:
    try:
        parse_body(model, json.dumps(body))
    except ValidationFailed:
        return False
    return True


@settings(max_examples=300)
@given(st.text(_chars, max_size=12))
def test_the_tag_pattern_is_the_tag_rule(text: str) -> None:
    assert (re.search(TAG_PATTERN, text) is not None and len(text) <= 40) == _takes(OrderTagsPatch, {"tag": text}), (
        repr(text)
    )


@settings(max_examples=300)
@given(st.text(_chars, max_size=16))
def test_the_phone_pattern_is_the_phone_rule(text: str) -> None:
    body = {"channel": "sms", "shopify_variant_id": 1, "phone": text, "shopify_product_id": 1}
    assert (re.search(PHONE_PATTERN, text) is not None and len(text) <= 32) == _takes(SignupCreate, body), repr(text)


# What matters to an address: its separators, atext and what is not, look-alikes, NUL, zero-width, NFC's two
# characters that become ASCII (KELVIN SIGN, GREEK VARIA) and one that does not.
_email_chars = st.sampled_from(
    [
        *SPACES,
        "@",
        ".",
        "-",
        "_",
        "+",
        "<",
        "a",
        "Z",
        "0",
        "é",
        "\x00",
        "\u200b",
        "\uff41",
        "\u212a",
        "\u1fef",
        "\u2126",
    ]
)


@settings(max_examples=500)
@given(
    st.text(_email_chars, max_size=14)
    | st.builds(
        lambda a, b: a + "@" + b,
        st.text(_email_chars, max_size=70),
        st.sampled_from(["x.io", "a-b.co", "-x.io", "x.i"]),
    )
)
def test_the_email_pattern_is_the_email_rule(text: str) -> None:
    body = {"channel": "email", "shopify_variant_id": 1, "email": text, "shopify_product_id": 1}
    matches = all(re.search(p, text) is not None for p in (EMAIL_PATTERN, EMAIL_LOCAL_PATTERN)) and len(text) <= 254
    assert matches == _takes(SignupCreate, body), repr(text)


@settings(max_examples=300)
@given(st.lists(st.sampled_from([*BY_DATE_METRICS[:3], "", " ", "orderz", " units "]), max_size=4).map(",".join))
def test_the_metrics_pattern_is_the_metrics_rule(text: str) -> None:
    try:
        ByDateQuery.model_validate({"metrics": text})
        taken = True
    except ValidationError:
        taken = False
    assert (re.search(METRICS_PATTERN, text) is not None) == taken, repr(text)


@given(st.dates())
def test_the_date_pattern_is_the_date_range(day: date) -> None:
    try:
        in_range(day, day.isoformat())
        taken = True
    except ValueError:
        taken = False
    text = f"{day.year:04d}-{day.month:02d}-{day.day:02d}"
    assert (re.search(IN_RANGE["pattern"], text) is not None) == taken, text


def test_integers_are_written_as_integers_and_nothing_else_is() -> None:
    base = {"channel": "email", "email": "jane@example.com"}
    assert _takes(SignupCreate, {**base, "shopify_variant_id": 2714})
    for wrong in (2714.0, 2714.5, "2714", True):  # 2714.0 too: two parsers must not read one body two ways
        assert not _takes(SignupCreate, {**base, "shopify_variant_id": wrong}), wrong


def test_the_space_class_is_pythons_whitespace() -> None:
    from backinstock.models.common import SPACE

    spaces = re.compile(f"[{SPACE}]")
    assert [c for c in map(chr, range(0x3100)) if c.isspace() != bool(spaces.fullmatch(c))] == []
    assert set(string.whitespace) <= {c for c in map(chr, range(0x80)) if spaces.fullmatch(c)}
