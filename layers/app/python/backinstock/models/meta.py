"""Models of the self-describing routes: /help and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class HelpQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    prefix: str | None = Field(
        default=None,
        description="Only list actions whose path starts with this prefix, e.g. /back_in_stock/settings",
        max_length=200,
    )


class HelpAction(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: str
    method: str
    path: str
    description: str
    aliases: list[str]
    path_params: list[str]
    request_schema: dict[str, Any]
    notes: list[str]
    deprecated: bool | None = None  # a v1 route (`/api/v1/external/help`)
    successor: str | None = None  # a v1 route's v2 home: `<method> <path>`


class HelpResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)

    version: str
    base_path: str
    actions: list[HelpAction]
