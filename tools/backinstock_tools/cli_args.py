"""The CLI's option types: each option's text parsed with the API's own models and messages, at parse time.

An argparse `type` that raises `ArgumentTypeError` becomes one line on stderr and exit 2 (`cli.Parser.error`),
before anything touches a backend. Each type carries a `good` and a `bad` example: `tests/unit/test_cli_errors.py`
walks the parser and drives every command with the bad value of each option, so a new option is covered unasked
(`harden` gives an option declared without a type the plain-text one).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any

# What a shop id, a path or a free text may look like on a command line: no control characters, not empty.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SHOP_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Value:
    """An argparse `type`: `parse(text)` returns the value or raises ValueError (its message is the API's)."""

    def __init__(self, parse: Callable[[str], Any], good: str, bad: str) -> None:
        self.parse = parse
        self.good = good
        self.bad = bad
        self.__name__ = getattr(parse, "__name__", "value")

    def __call__(self, text: str) -> Any:
        from pydantic import ValidationError

        try:
            return self.parse(text)
        except ValidationError as exc:
            raise argparse.ArgumentTypeError(_problems(exc)) from None
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None


def _problems(exc: Any, model: Any = None) -> str:
    from pydantic import BaseModel

    from backinstock.api.validation import problems_from

    problems = problems_from(exc, model or BaseModel, what="option")
    return "; ".join(p.message.removeprefix("option ") for p in problems)


def model_field(model_path: str, name: str, good: str, bad: str) -> Value:
    """The field `name` of an API model (`"module:Class"` under `backinstock.models`, imported when an option is
    parsed, so a command that does not take it does not pay for it), validated as the API validates that field: its
    type, its constraints and its field validators, with the API's messages; from the option's text (lax: "12" is
    the integer 12, as in a query string). The model's cross-field rules are the command's business."""

    def parse(text: str) -> Any:
        return field_adapter(model_path, name).validate_python(text, strict=False)

    parse.__name__ = name
    return Value(parse, good, bad)


def field_adapter(model_path: str, name: str) -> Any:
    import importlib
    from typing import Annotated

    from pydantic import AfterValidator, BeforeValidator, TypeAdapter

    module, _, cls = model_path.partition(":")
    model = getattr(importlib.import_module(f"backinstock.models.{module}"), cls)
    field = model.model_fields[name]
    validators: list[Any] = []
    for decorator in model.__pydantic_decorators__.field_validators.values():
        if name in decorator.info.fields and decorator.info.mode in ("before", "after"):
            wrap = BeforeValidator if decorator.info.mode == "before" else AfterValidator
            validators.append(wrap(decorator.func))
    kind: Any = Annotated[(field.annotation, *field.metadata, *validators)]  # its constraints, not its alias
    return TypeAdapter(kind)


def annotated(kind: Any, good: str, bad: str) -> Value:
    """A value of an annotated type (`Annotated[int, Field(ge=1)]`), with the API's messages."""

    def parse(text: str) -> Any:
        from pydantic import TypeAdapter

        return TypeAdapter(kind).validate_python(text, strict=False)

    return Value(parse, good, bad)


def text(good: str = "text", bad: str = "", limit: int = 1000) -> Value:
    def parse(value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if _CONTROL.search(value):
            raise ValueError(f"must not contain control characters (got {value!r})")
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters long")
        return value

    return Value(parse, good, bad)


def shop_id() -> Value:
    def parse(value: str) -> str:
        if not _SHOP_ID.match(value):
            raise ValueError(f"must be a shop id like 3f2a9c1b7d4e6a80 (letters, digits, - and _; got {value!r})")
        return value

    return Value(parse, "3f2a9c1b7d4e6a80", "not a shop")


def integer(low: int | None = None, high: int | None = None, good: str = "1") -> Value:
    from typing import Annotated

    from pydantic import Field

    return annotated(Annotated[int, Field(ge=low, le=high)], good, "abc")


def number(low: float | None = None, good: str = "1") -> Value:
    from typing import Annotated

    from pydantic import Field

    return annotated(Annotated[float, Field(ge=low)], good, "abc")


def amount(good: str = "25.00") -> Value:
    """A money amount in the shop's currency: a decimal with at most 2 places, not negative."""
    from decimal import Decimal
    from typing import Annotated

    from pydantic import Field

    return annotated(Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)], good, "abc")


def percent() -> Value:
    from decimal import Decimal
    from typing import Annotated

    from pydantic import Field

    return annotated(Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)], "50", "half")


def rate() -> Value:
    """An exchange rate: a positive decimal."""
    from decimal import Decimal
    from typing import Annotated

    from pydantic import Field

    return annotated(Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=8)], "1.1", "abc")


def shop_rule(name: str, good: str, bad: str) -> Value:
    """A shop's field (domain, currency, time zone, email) with `services.shops`' rule and message."""
    from backinstock.services import shops

    def parse(value: str) -> str:
        value = value.strip().lower() if name == "domain" else value  # as `create_shop` reads it
        problem = shops.field_problem(name, value)
        if problem:
            raise ValueError(problem.removeprefix(f"{name} "))
        return value

    return Value(parse, good, bad)


def url(good: str = "https://example.com/x", bad: str = "example") -> Value:
    def parse(value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"must be an http(s) URL like {good} (got {value!r})")
        return value

    return Value(parse, good, bad)


def harden(parser: argparse.ArgumentParser) -> None:
    """Every option that takes a value gets a type with examples: plain text where none was declared, ints and
    floats through the API's messages. Walks the subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                harden(sub)
            continue
        if action.nargs == 0 or isinstance(action.type, Value) or action.choices is not None:
            continue
        if action.type is None:
            action.type = text()
        elif action.type is int:
            action.type = integer()
        elif action.type is float:
            action.type = number()


def leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[Any]:
    """(the words of the command, its parser) for every command: what the test drives."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [(path, parser)]
    return [leaf for name, sub in subs[0].choices.items() for leaf in leaf_commands(sub, (*path, name))]


SHOPIFY_ID_MAX = 2**53  # the API's ShopifyId bound (JSON's safe integers)


def shopify_id(good: str = "40001") -> Value:
    return integer(1, SHOPIFY_ID_MAX, good)


def uuid_text(good: str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b") -> Value:
    """An id the API issues as a UUID (an offer's), kept as the text the services take."""

    def parse(value: str) -> str:
        from uuid import UUID

        try:
            return str(UUID(value))
        except ValueError:
            raise ValueError(f"must be a UUID (got {value!r})") from None

    return Value(parse, good, "abc")


def variant_ref() -> Value:
    """`VARIANT` (its product read from the catalog) or `VARIANT:PRODUCT`, both Shopify ids."""

    def parse(value: str) -> str:
        parts = value.split(":")
        if len(parts) > 2 or not all(p.isdigit() and 1 <= int(p) <= SHOPIFY_ID_MAX for p in parts):
            raise ValueError(f"must be a variant id or VARIANT:PRODUCT, like 40001 or 40001:9001 (got {value!r})")
        return value

    return Value(parse, "40001:9001", "40001:x")
