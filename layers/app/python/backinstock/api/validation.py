"""Request parsing with pydantic, and pydantic's errors rewritten into messages a person can act on.

Every problem in a request is reported at once (pydantic collects them all); nothing is written when any is found.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from types import UnionType
from typing import Any, TypeVar, Union

from pydantic import BaseModel, ValidationError

from backinstock.errors import PayloadTooLarge, Problem, ValidationFailed

M = TypeVar("M", bound=BaseModel)

MAX_BODY_KB = 256
MAX_BODY_BYTES = MAX_BODY_KB * 1024

_TYPE_WORDS = {
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer, written without a fraction (1, not 1.0)",
    "int_parsing_size": "must be an integer of at most 19 digits",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "decimal_type": "must be a decimal number",
    "decimal_parsing": "must be a decimal number",
    "string_type": "must be a string",
    "string_unicode": "must be a string",
    "list_type": "must be an array",
    "tuple_type": "must be an array",
    "set_type": "must be an array",
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "model_attributes_type": "must be an object",
    "date_type": "must be an ISO 8601 date like 2026-06-01",
    "date_parsing": "must be an ISO 8601 date like 2026-06-01",
    "date_from_datetime_parsing": "must be an ISO 8601 date like 2026-06-01",
    "date_from_datetime_inexact": "must be a date without a time of day, like 2026-06-01",
    "datetime_type": "must be an ISO 8601 date-time like 2026-06-01T12:00:00Z",
    "datetime_parsing": "must be an ISO 8601 date-time like 2026-06-01T12:00:00Z",
    "datetime_from_date_parsing": "must be an ISO 8601 date-time like 2026-06-01T12:00:00Z",
    "timezone_aware": "must carry a time zone, like 2026-06-01T12:00:00Z",
    "uuid_type": "must be a UUID",
    "uuid_parsing": "must be a UUID",
    "none_required": "must be null",
}


def _count(n: Any, thing: str) -> str:
    return f"{n} {thing}" + ("" if n == 1 else "s")


def _rule_words(kind: str, ctx: dict[str, Any]) -> str | None:
    """The rule a failed constraint states, in the API's words (never pydantic's), or None for an unknown kind."""
    if kind == "string_too_short":
        return (
            "must not be empty"
            if ctx.get("min_length") == 1
            else f"must be at least {ctx.get('min_length')} characters long"
        )
    if kind == "string_too_long":
        return f"must be at most {_count(ctx.get('max_length'), 'character')} long"
    if kind == "too_short":
        return "must list at least " + _count(ctx.get("min_length"), "item")
    if kind == "too_long":
        return "must list at most " + _count(ctx.get("max_length"), "item")
    bounds = {"greater_than_equal": "at least", "greater_than": "more than", "less_than_equal": "at most"}
    if kind in bounds:
        return f"must be {bounds[kind]} {next(iter(ctx.values()), '?')}"
    if kind == "less_than":
        return f"must be less than {ctx.get('lt')}"
    if kind == "multiple_of":
        return f"must be a multiple of {ctx.get('multiple_of')}"
    if kind in ("literal_error", "enum"):
        return f"must be {ctx.get('expected')}"
    if kind == "string_pattern_mismatch":
        return "has the wrong format"
    if kind in ("decimal_max_digits", "decimal_max_places", "decimal_whole_digits"):
        return "has too many digits"
    return None


def _field_name(loc: tuple[int | str, ...]) -> str | None:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or None


def _allowed_fields(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The names a client may send (aliases where set: `from`, never the attribute `from_`) of the (nested) model
    that `loc` points into, to tell the caller what is accepted."""
    current: Any = model
    for item in loc[:-1]:
        if isinstance(item, int):
            continue
        field = _by_alias(current).get(item) if _is_model(current) else None
        if field is None:
            return []
        annotation = field.annotation
        current = next((a for a in getattr(annotation, "__args__", (annotation,)) if _is_model(a)), annotation)
        if not _is_model(current):
            return []
    return list(_by_alias(current)) if _is_model(current) else []


def _by_alias(model: type[BaseModel]) -> dict[str, Any]:
    return {
        (f.validation_alias if isinstance(f.validation_alias, str) else f.alias) or n: f
        for n, f in model.model_fields.items()
    }


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _got(message: str, err: Any) -> str:
    """`message (got <input>)`, once: a message that already shows the input (a validator's own) is left as is."""
    if "input" not in err or "(got " in message or isinstance(err["input"], dict | list):
        return message
    return f"{message} (got {_shown(err['input'])})"


def problems_from(error: ValidationError, model: type[BaseModel], what: str = "request body") -> list[Problem]:
    """Each of pydantic's errors as a problem naming the field (as the client spells it) and the rule it breaks, in
    the API's words: pydantic's own wording never reaches a client."""
    problems: list[Problem] = []
    for err in error.errors(include_url=False):
        loc = tuple(err["loc"])
        field = _field_name(loc)
        kind = err["type"]
        ctx = dict(err.get("ctx") or {})
        if kind == "extra_forbidden":
            allowed = _allowed_fields(model, loc)
            hint = f"; allowed: {', '.join(allowed)}" if allowed else ""
            message = f"is not a known field{hint}"
        elif kind == "missing":
            message = "is required"
        elif kind == "json_invalid":
            message = f"{what} is not valid JSON: {ctx.get('error', 'it cannot be parsed')}"
            field = None
        elif kind in _TYPE_WORDS:
            message = _got(_TYPE_WORDS[kind], err)
        elif (rule := _rule_words(kind, ctx)) is not None:
            message = _got(rule, err)
        elif kind in ("value_error", "assertion_error") and "error" in ctx:
            message = _got(str(ctx["error"]), err)  # a validator's own message, written for clients
        else:
            message = _got("is not a valid value", err)
        if field is None and kind in ("value_error", "assertion_error"):
            field = _named_field(model, message)  # a rule across fields names the one it is about first
        if field is None and kind != "json_invalid":
            message = f"{what} {message}"
        problems.append(Problem(code=kind, message=message, field=field))
    return problems


def _named_field(model: type[BaseModel], message: str) -> str | None:
    """The field (as clients spell it) a model-level rule's message starts with (`email is required for the email
    channel`), so that every problem names its field; None when it names none."""
    first = message.split(" ", 1)[0]
    return first if first in _by_alias(model) else None


def problems_text(error: ValidationError, model: type[BaseModel], what: str) -> str:
    """`problems_from` as one line (`field: rule; ...`), for answers that carry a single message (MCP's errors)."""
    return "; ".join(p.text() for p in problems_from(error, model, what))


def _list_fields(model: type[BaseModel]) -> list[str]:
    """The names (aliases where set) of a model's list-typed fields."""
    out = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        options = getattr(annotation, "__args__", ()) if typing.get_origin(annotation) in (Union, UnionType) else ()
        if typing.get_origin(annotation) is list or any(typing.get_origin(a) is list for a in options):
            out.append(field.alias or name)
    return out


def parse_body(model: type[M], raw: str | bytes | None) -> M:
    if raw is None or (isinstance(raw, str | bytes) and not raw.strip()):
        raise ValidationFailed(problems=[Problem("body_missing", "request body is required: send a JSON object")])
    if len(raw.encode() if isinstance(raw, str) else raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(
            problems=[Problem("payload_too_large", f"request body exceeds {MAX_BODY_BYTES} bytes ({MAX_BODY_KB} KB)")]
        )
    refuse_repeated_keys(raw)
    try:
        # By the names clients send (aliases: `from`), never by attribute names (`from_`), which are internal.
        # Strict: a body is JSON, typed as its schema says (`"5"`, `1.0` and `true` are not integers, `0` is not a
        # boolean), even for a model that also reads a query string (a report's filters, as its export's body).
        return model.model_validate_json(raw, strict=True, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise ValidationFailed(problems=problems_from(exc, model)) from None


class Repeated(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise Repeated(key)
        seen[key] = value
    return seen


def loads_once(raw: str | bytes) -> Any:
    """`json.loads` that refuses an object naming a key twice (`Repeated`): JSON parsers disagree on which value
    wins (pydantic's last, others the first), so a body that two of them would read differently is refused."""
    return json.loads(raw, object_pairs_hook=_no_repeats)


def refuse_repeated_keys(raw: str | bytes) -> None:
    """A 422 naming the key when any object of the body names one twice. (Invalid JSON is left to the model's
    parser, which says where it breaks.)"""
    try:
        loads_once(raw)
    except Repeated as exc:
        shown = exc.key if len(exc.key) <= 60 else exc.key[:57] + "..."
        raise ValidationFailed(
            problems=[
                Problem(
                    "duplicate_key",
                    f"request body names {shown!r} more than once in one object: send each field once",
                    shown,
                )
            ]
        ) from None
    except (ValueError, RecursionError):
        return


def refuse_query(params: Mapping[str, str]) -> None:
    """An export takes its filters in the JSON body only: a query string is a 422 naming its parameters, never
    silently ignored (the read it mirrors refuses what it does not know, too)."""
    raise ValidationFailed(
        problems=[
            Problem(
                "query_not_read",
                f'a query parameter: an export reads its filters from the JSON body only (send {{"{name}": ...}} '
                "as the body); nothing was started",
                name,
            )
            for name in sorted(params)
        ]
    )


def parse_query(model: type[M], params: Mapping[str, str] | None, repeated: Mapping[str, list[str]] | None = None) -> M:
    """`params`: one value per name (the last, when repeated); `repeated`: every value per name. A field typed as a
    list (`offer_ids[]`) takes every value of its name; any other field takes one."""
    values: dict[str, Any] = dict(params or {})
    for name in _list_fields(model):
        if repeated and name in repeated:
            values[name] = list(repeated[name])
        elif name in values:
            values[name] = [values[name]]
    try:
        return model.model_validate(values, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise ValidationFailed(problems=problems_from(exc, model, what="query")) from None
