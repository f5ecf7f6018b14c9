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

from backinstock.errors import Problem, ValidationFailed

M = TypeVar("M", bound=BaseModel)

MAX_BODY_BYTES = 256 * 1024

_TYPE_WORDS = {
    "bool_type": "must be true or false",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "string_type": "must be a string",
    "list_type": "must be an array",
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "model_attributes_type": "must be an object",
    "float_type": "must be a number",
}


def _field_name(loc: tuple[int | str, ...]) -> str | None:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or None


def _allowed_fields(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the (nested) model that `loc` points into, to tell the caller what is accepted."""
    current: Any = model
    for item in loc[:-1]:
        if isinstance(item, int):
            continue
        field = current.model_fields.get(item) if _is_model(current) else None
        if field is None:
            return []
        annotation = field.annotation
        current = next((a for a in getattr(annotation, "__args__", (annotation,)) if _is_model(a)), annotation)
        if not _is_model(current):
            return []
    return list(current.model_fields) if _is_model(current) else []


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def problems_from(error: ValidationError, model: type[BaseModel], what: str = "request body") -> list[Problem]:
    problems: list[Problem] = []
    for err in error.errors(include_url=False):
        loc = tuple(err["loc"])
        field = _field_name(loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            allowed = _allowed_fields(model, loc)
            hint = f"; allowed: {', '.join(allowed)}" if allowed else ""
            message = f"is not a known field{hint}"
        elif kind == "missing":
            message = "is required"
        elif kind in _TYPE_WORDS:
            message = f"{_TYPE_WORDS[kind]} (got {_shown(err.get('input'))})"
        elif kind == "json_invalid":
            message = f"{what} is not valid JSON: {err['ctx'].get('error', err['msg'])}" if "ctx" in err else err["msg"]
            field = None
        else:
            msg = err["msg"].replace("Input should be", "must be").replace("Value error, ", "")
            message = f"{msg} (got {_shown(err.get('input'))})" if "input" in err else msg
        if field is None and kind in _TYPE_WORDS:
            message = f"{what} {message}"
        problems.append(Problem(code=kind, message=message, field=field))
    return problems


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
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationFailed(problems=[Problem("body_too_large", f"request body exceeds {MAX_BODY_BYTES} bytes")])
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise ValidationFailed(problems=problems_from(exc, model)) from None


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
        return model.model_validate(values)
    except ValidationError as exc:
        raise ValidationFailed(problems=problems_from(exc, model, what="query")) from None
