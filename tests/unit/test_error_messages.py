"""Validation errors in the API's own words: every message names the field as clients spell it and the rule it
breaks; pydantic's wording, internal attribute names and a doubled "(got ...)" never reach a client."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import pytest
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from backinstock import registry
from backinstock.api.validation import MAX_BODY_BYTES, parse_body, parse_query
from backinstock.errors import PayloadTooLarge, ValidationFailed

pytestmark = pytest.mark.unit

# What pydantic says in its own words (and what this API never says): one of these in a message is a leak.
PYDANTIC_WORDING = (
    "Input should",
    "String should",
    "List should",
    "Value should",
    "Field required",
    "Extra inputs",
    "after validation",
    "Value error",
    "Assertion failed",
    "validation error",
    "Decimal input",
    "Input is",
)


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: Annotated[StrictInt, Field(ge=1, le=10)]


class Everything(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: date | None = Field(default=None, alias="from")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    code: str | None = Field(default=None, min_length=3, pattern=r"^[A-Z]+$")
    ids: list[str] | None = Field(default=None, min_length=1, max_length=2)
    small: int | None = Field(default=None, gt=0, lt=5)
    big: int | None = Field(default=None, ge=10, le=20)
    even: int | None = Field(default=None, multiple_of=2)
    kind: Literal["email", "sms"] | None = None
    flag: StrictBool | None = None
    number: float | None = None
    when: datetime | None = None
    uuid: UUID | None = None
    inner: Inner | None = None
    email: str | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and "@" not in value:
            raise ValueError(f"must be an email address like jane@example.com (got {value!r})")
        return value


# field -> (a bad value, the field named in the message, words of the rule)
CASES: dict[str, tuple[Any, str, str]] = {
    "string_too_short": ({"name": ""}, "name", "must not be empty"),
    "string_too_long": ({"name": "x" * 201}, "name", "at most 200 characters"),
    "string_too_short_n": ({"code": "AB"}, "code", "at least 3 characters"),
    "string_pattern_mismatch": ({"code": "abc"}, "code", "wrong format"),
    "too_short": ({"ids": []}, "ids", "at least 1 item"),
    "too_long": ({"ids": ["a", "b", "c"]}, "ids", "at most 2 items"),
    "greater_than": ({"small": 0}, "small", "more than 0"),
    "less_than": ({"small": 5}, "small", "less than 5"),
    "greater_than_equal": ({"big": 9}, "big", "at least 10"),
    "less_than_equal": ({"big": 21}, "big", "at most 20"),
    "multiple_of": ({"even": 3}, "even", "multiple of 2"),
    "literal_error": ({"kind": "fax"}, "kind", "must be 'email' or 'sms'"),
    "bool_type": ({"flag": "yes"}, "flag", "true or false"),
    "int_parsing": ({"small": "two"}, "small", "an integer"),
    "float_parsing": ({"number": "many"}, "number", "a number"),
    "date_parsing": ({"from": "yesterday"}, "from", "ISO 8601 date"),
    "datetime_parsing": ({"when": "soon"}, "when", "ISO 8601 date-time"),
    "uuid_parsing": ({"uuid": "nope"}, "uuid", "a UUID"),
    "model_type": ({"inner": 3}, "inner", "an object"),
    "nested": ({"inner": {"count": 0}}, "inner.count", "at least 1"),
    "missing": ({"inner": {}}, "inner.count", "is required"),
    "value_error": ({"email": "jane"}, "email", "an email address"),
    "extra_forbidden": ({"foo": "bar"}, "foo", "not a known field"),
    "internal_name": ({"from_": "2026-01-01"}, "from_", "not a known field"),
}


@pytest.mark.parametrize("case", CASES)
def test_each_error_names_the_field_and_the_rule_in_the_apis_words(case: str) -> None:
    value, field, words = CASES[case]
    with pytest.raises(ValidationFailed) as raised:
        parse_body(Everything, json.dumps(value))
    [problem] = raised.value.problems
    text = problem.text()
    assert problem.field == field and text.startswith(f"{field}: ")
    assert words in problem.message, text
    assert not [w for w in PYDANTIC_WORDING if w.lower() in text.lower()], text
    assert text.count("(got ") <= 1, text


def test_unknown_fields_list_the_names_clients_send_never_internal_ones() -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_query(Everything, {"foo": "bar"})
    [problem] = raised.value.problems
    assert "allowed: from, name," in problem.message and "from_" not in problem.message


@pytest.mark.parametrize("action", [a for a in registry.actions() if a.query_model], ids=lambda a: a.name)
def test_no_query_accepts_or_mentions_an_attribute_name(action: registry.Action) -> None:
    assert action.query_model is not None
    with pytest.raises(ValidationFailed) as raised:
        parse_query(action.query_model, {"foo": "bar"})
    [problem] = raised.value.problems
    allowed = problem.message.partition("allowed: ")[2].split(", ")
    aliases = {f.alias for f in action.query_model.model_fields.values() if f.alias}
    assert set(allowed) >= aliases
    assert not [name for name in allowed if name.endswith("_")], problem.message
    for field in action.query_model.model_fields.values():
        if field.alias:  # the attribute name (`from_`) is refused where the alias (`from`) is the parameter
            name = next(n for n, f in action.query_model.model_fields.items() if f is field)
            with pytest.raises(ValidationFailed):
                parse_query(action.query_model, {name: "2026-01-01"})


def test_every_problem_of_a_request_is_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_body(Everything, json.dumps({"name": "", "big": 1, "kind": "fax", "foo": 1}))
    assert sorted(p.field or "" for p in raised.value.problems) == ["big", "foo", "kind", "name"]


def test_a_body_over_the_limit_is_413() -> None:
    with pytest.raises(PayloadTooLarge) as raised:
        parse_body(Everything, json.dumps({"name": "x" * MAX_BODY_BYTES}))
    assert raised.value.status == 413
    assert [p.code for p in raised.value.problems] == ["payload_too_large"]


def test_a_body_that_is_not_json_or_not_an_object_says_so() -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_body(Everything, "{nope")
    [problem] = raised.value.problems
    assert problem.field is None and problem.message.startswith("request body is not valid JSON")
    with pytest.raises(ValidationFailed) as raised:
        parse_body(Everything, "[1, 2]")
    [problem] = raised.value.problems
    assert problem.message == "request body must be an object"
