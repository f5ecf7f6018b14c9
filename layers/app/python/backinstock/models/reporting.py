"""What every report family shares (`backinstock.reporting`): a family's manifest, the acceptance and the status of
an export job (the report exports' and the waitlist's), and the ISO date that windows and export filters take.

Kept apart from any one family's models, and built on first use (`defer_build`), so that an action which only starts
or polls an export (the waitlist's is declared with the signups) imports none of the reports' models.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from backinstock.infra_spec import DOWNLOAD_REDIRECT_SECONDS, EXPORT_FILE_RETENTION_DAYS, EXPORT_JOB_RETENTION_HOURS

# What /help and OpenAPI say of an export's files and links, generated from the constants that the code (the link
# tokens, the job's TTL, the bucket's lifecycle rule) uses, so that the sentences cannot drift from the behaviour.
DOWNLOAD_VALIDITY = (
    f"valid {EXPORT_FILE_RETENTION_DAYS} days after the export completed, as long as the file (the bucket deletes it "
    "then)"
)
DOWNLOAD_TERMS = (
    f"download_url is a signed link to the API (no API key needed), {DOWNLOAD_VALIDITY}, until "
    f"download_url_expires_at; each opening redirects (302) to a fresh pre-signed S3 URL that lives "
    f"{DOWNLOAD_REDIRECT_SECONDS // 60} minutes. The job itself expires about {EXPORT_JOB_RETENTION_HOURS} hours "
    "after it completes (then 404): keep the link, not the job id."
)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# Every date and time the API takes lies in this range: nothing is recorded before 1970 (ids and timestamps are
# Unix time), and the upper end leaves every window, bucket and expiry computed from a date far from datetime's
# year-9999 limit. A value outside is a 422 that names the range, never a silently empty answer or a 500.
EARLIEST_DATE = date(1970, 1, 1)
LATEST_DATE = date(2999, 12, 31)
RANGE_TEXT = f"between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}"
# The same range in the JSON Schema of every date and date-time field (`json_schema_extra=IN_RANGE`): `format` cannot
# bound a date, a pattern on the year can (1970-2999). A test checks it against `in_range`.
IN_RANGE: dict[str, Any] = {"pattern": r"^(19[7-9][0-9]|2[0-9]{3})-"}


def in_range(day: date, text: str) -> None:
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValueError(f"must be {RANGE_TEXT} (got {text!r})")


def parse_date(value: Any) -> date | None:
    if value is None:
        return value
    if isinstance(value, date):
        in_range(value, value.isoformat())
        return value
    text = str(value).strip()
    try:
        if not _DATE.match(text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"must be an ISO 8601 date like 2026-06-01 (got {text!r})") from None
    in_range(day, text)
    return day


class _Out(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True, defer_build=True)
    keep_nulls: ClassVar[bool] = True


class ManifestEntry(_Out):
    name: str
    description: str
    aliases: list[str]
    url: str


class Manifest(_Out):
    reports: list[ManifestEntry]


class ExportAccepted(_Out):
    job_id: str
    status_url: str


class ExportJob(_Out):
    job_id: str
    status: Literal["running", "ready", "failed", "cancelled"]
    progress: int = Field(description="0-100")
    report: str = Field(description="The report (or `signups`, the waitlist) the file holds")
    family: str = Field(
        description="The report family the job belongs to, as the prefix of its reports: /back_in_stock/reports "
        "(the waitlist export's too) or /preorders/reports. It is read and cancelled under <family>/exports only"
    )
    status_url: str = Field(description="Where to poll it: its family's exports path")
    row_count: int | None = None
    file_name: str | None = None
    download_url: str | None = Field(
        default=None,
        description=f"When ready: a signed link (no API key needed) that redirects to the file, {DOWNLOAD_VALIDITY}",
    )
    download_url_expires_at: str | None = Field(
        default=None,
        description=f"When the download URL stops working: {EXPORT_FILE_RETENTION_DAYS} days after completion, "
        "with the file",
    )
    error: str | None = Field(default=None, description="When failed: what went wrong")
    created_at: str
    completed_at: str | None = None


class DownloadQuery(BaseModel):
    """The query of an export's download link. Other parameters (trackers, mail systems) are ignored."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    token: str = Field(min_length=10, max_length=2000, description="The signed token of the job's download_url")
