"""Models shared by every resource: the error envelope and the helper for deep-partial fields."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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
