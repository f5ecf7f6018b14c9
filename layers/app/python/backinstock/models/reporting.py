"""What every report family shares (`backinstock.reporting`): a family's manifest, the acceptance and the status of
an export job (the report exports' and the waitlist's), the ISO date that windows and export filters take, and how a
report's answer is its CSV file (`Table`, `Column`, `csv_columns`, `csv_rows`).

Kept apart from any one family's models, and built on first use (`defer_build`), so that an action which only starts
or polls an export (the waitlist's is declared with the signups) imports none of the reports' models.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
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

# Every family's report window (`backinstock.reporting.resolve_window`).
DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 366
MAX_BUCKETS = 366  # a time series' buckets (days at day granularity): what a read costs, not the days it spans
# Every family's reads' note (`ReportFamily.read_note`): the window and where the numbers come from.
WINDOW_READ_NOTE = (
    f"from/to: ISO dates, inclusive (UTC days); default the last {DEFAULT_WINDOW_DAYS} days; at most "
    f"{MAX_BUCKETS} buckets of the granularity ({MAX_WINDOW_DAYS} days without one). The resolved "
    "window is echoed. Computed from pre-aggregated rollups (eventually consistent: activity shows within "
    "seconds)."
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


# ----------------------------------------------------------------------------------------------- the CSV of a report
@dataclass(frozen=True)
class Column:
    """A field's CSV header where it is not the field's JSON name, in `Annotated` metadata (JSON Schema ignores it):
    `rate: Annotated[str | None, Column("exchange_rate")]`."""

    name: str


@dataclass(frozen=True)
class Table:
    """How a report's answer is its CSV file: the response model's `csv` (a ClassVar), so that a column is one field.

    - `rows`: the field whose items are the rows (a list; a model is one row); the columns are the row model's fields,
      in their order. Or several such fields in one file, `{kind: field}` (cancellations: the totals, a row per reason,
      a row per offer): the first column (`kind_column`) says which each row is, then come the columns of the later
      blocks that the first lacks (their labels: reason, offer_id...), then the first block's (the figures); a row
      leaves the others empty.
    - `before` / `after`: the answer's fields repeated on every row, before and after the rows' columns, in this
      order. A scalar is one column, a model its fields (`window`: from, to), `name.field` one field of a model
      (`conversion.rate`).

    A column's name is the field's JSON name, or its `Column`; a cell is the field's value as the JSON answer has it
    (`csv_cell`)."""

    rows: str | Mapping[str, str]
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    kind_column: str = "row"
    blocks: tuple[tuple[str, str], ...] = field(init=False)

    def __post_init__(self) -> None:
        blocks = self.rows.items() if isinstance(self.rows, Mapping) else [("", self.rows)]
        object.__setattr__(self, "blocks", tuple(blocks))

    @property
    def kinds(self) -> bool:
        """Whether the file has several blocks, told apart by the first column."""
        return isinstance(self.rows, Mapping)


def csv_cell(value: Any) -> Any:
    """A field's CSV cell: its value as the JSON answer writes it. Amounts are already strings in their currency's
    minor units (rounded once, by the read: `money.render`) and dates ISO 8601 strings, so they are written as they
    are, never re-rounded or re-formatted; a boolean is `true`/`false`, as JSON spells it; null is an empty cell."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _model_of(annotation: Any) -> type[BaseModel]:
    """The model of a field annotated `Model`, `list[Model]` or `Model | None`."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    raise TypeError(f"{annotation!r} is not a model, a list of models or an optional model")


def _fields(model: type[BaseModel]) -> list[tuple[str, str]]:
    """(attribute, CSV column) of every field of a model, in its order."""
    out = []
    for name, info in model.model_fields.items():
        renamed = [m.name for m in info.metadata if isinstance(m, Column)]
        out.append((name, renamed[0] if renamed else info.serialization_alias or info.alias or name))
    return out


def _repeated(model: type[BaseModel], path: str) -> list[tuple[tuple[str, ...], str]]:
    """(attribute path, column) of a `before`/`after` entry: a scalar field, every field of a model, or one field."""
    head, _, tail = path.partition(".")
    info = model.model_fields[head]
    try:
        nested = _model_of(info.annotation)
    except TypeError:
        return [((head,), _fields(model)[list(model.model_fields).index(head)][1])]
    return [((head, name), column) for name, column in _fields(nested) if not tail or name == tail]


Path = tuple[tuple[str, ...], str]  # attribute path from the answer, and its column


@dataclass(frozen=True)
class _Layout:
    before: list[Path]
    after: list[Path]
    kind_column: list[str]  # [the kind column] when the file has several blocks
    blocks: list[tuple[str, str, list[tuple[str, str]]]]  # (kind, field, its rows' (attribute, column))
    middle: list[str]  # the rows' columns: labels of the later blocks, then the first block's


@cache
def _layout(model: type[BaseModel]) -> _Layout:
    table = getattr(model, "csv", None)
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} declares no CSV table (a ClassVar `csv = Table(...)`)")
    blocks = [(kind, name, _fields(_model_of(model.model_fields[name].annotation))) for kind, name in table.blocks]
    figures = [column for _, column in blocks[0][2]]
    labels = [column for _, _, fields in blocks[1:] for _, column in fields if column not in figures]
    return _Layout(
        before=[entry for path in table.before for entry in _repeated(model, path)],
        after=[entry for path in table.after for entry in _repeated(model, path)],
        kind_column=[table.kind_column] if table.kinds else [],
        blocks=blocks,
        middle=list(dict.fromkeys([*labels, *figures])),
    )


def csv_columns(model: type[BaseModel]) -> tuple[str, ...]:
    """The CSV header of a report whose response model declares its `Table` (`csv`)."""
    layout = _layout(model)
    return (
        *(column for _, column in layout.before),
        *layout.kind_column,
        *layout.middle,
        *(column for _, column in layout.after),
    )


def _value(answer: BaseModel, path: tuple[str, ...]) -> Any:
    value: Any = answer
    for attribute in path:
        value = getattr(value, attribute)
    return csv_cell(value)


def csv_rows(answer: BaseModel) -> Iterator[list[Any]]:
    """The CSV rows of a report's answer, their cells in the order of `csv_columns(type(answer))`."""
    layout = _layout(type(answer))
    before = [_value(answer, path) for path, _ in layout.before]
    after = [_value(answer, path) for path, _ in layout.after]
    for kind, name, fields in layout.blocks:
        found = getattr(answer, name)
        for row in found if isinstance(found, list) else [found]:
            cells = {column: csv_cell(getattr(row, attribute)) for attribute, column in fields}
            kinds = [kind] if layout.kind_column else []
            yield [*before, *kinds, *(cells.get(column) for column in layout.middle), *after]
