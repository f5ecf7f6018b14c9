"""The query of a customer-facing link."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LinkQuery(BaseModel):
    # Mail systems and trackers append parameters of their own to links: they are ignored, not refused.
    model_config = ConfigDict(extra="ignore", defer_build=True)

    token: str = Field(min_length=10, max_length=2000, description="The signed token from the message's link")
