"""Models shared by every resource: the error envelope and the helper for deep-partial fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue

# Every character `str.strip()` and Python's `\s` treat as whitespace, spelled out for JSON Schema patterns: the
# regex dialects of JSON Schema (ECMA 262) and of its validators give `\s` another set (no \x1c-\x1f or \x85, but
# \ufeff), so a pattern that states a rule the code applies after `strip()` names Python's set exactly.
SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


@dataclass(frozen=True)
class SchemaPattern:
    """`Annotated[str, SchemaPattern(p)]`: the JSON Schema says `pattern: p`, for a rule a validator enforces in its
    own words (pydantic's `pattern=` would answer its generic message first). Composes with `optional()`."""

    pattern: str

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["pattern"] = self.pattern
        return schema


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def optional(description: str | None = None) -> Any:
    """A deep-partial field: may be omitted, may not be null.

    The default (None) is never validated, so an omitted key stays unset, while an explicit `null` fails the
    field's type and is reported like any other bad value. The JSON Schema shows the plain type, no default.
    """
    return Field(default=None, description=description, json_schema_extra=_drop_default)


class ErrorDetail(BaseModel):
    model_config = ConfigDict(defer_build=True)

    code: str
    field: str | None = None
    message: str


class ErrorEnvelope(BaseModel):
    model_config = ConfigDict(defer_build=True)

    errors: list[str]
    error_details: list[ErrorDetail]
    request_id: str


class RateLimitedEnvelope(ErrorEnvelope):
    """429: the error envelope with the seconds to wait (also the `Retry-After` header)."""

    retry_after: int = Field(ge=1, description="Seconds until the refused request would pass")
