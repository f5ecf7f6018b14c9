"""Report families: a family (its prefix, manifest, export jobs, file names) and its reports, each declared once.

A `Report` carries everything that belongs to one report: name, description, aliases, notes, query and response
models, its read, the query of a valid read (`sample_query`). Its CSV export is its answer as a table: the response
model declares it (`models.reporting.Table`), so the file's columns are the model's fields and a new column is one
field. A `ReportFamily` carries what its reports share and derives every action from the declarations: the manifest, a
read and an export per report (the export's job definition, `registry.Export`, included), the export job's status and
cancel. A family's module (`backinstock.actions.<resource>`) declares `FAMILY = ReportFamily(...)` and
`ACTIONS = FAMILY.actions`.

The read functions are named, not imported ("function" of the family's `service` module), so importing a
declaration imports no service; `api.reports` resolves them when it builds a handler, `services.exports` when an
export runs. Every family action is served by a generic module under functions/reports/ (one per kind), whose
handler attribute names the family and the report (`reports__summary`): a new report needs no new file.

What every family's reads share is here too: the window (`resolve_window`: defaults and limits, for reads and
exports), a series' labels (`labelled`), and the page a paginated report's export writes (`export_page`).
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import parse_qsl

from backinstock import buckets, ids
from backinstock.errors import Problem, ValidationFailed
from backinstock.infra_spec import DOWNLOAD_REDIRECT_SECONDS
from backinstock.models.reporting import (
    DEFAULT_WINDOW_DAYS,
    DOWNLOAD_TERMS,
    DOWNLOAD_VALIDITY,
    MAX_BUCKETS,
    DownloadQuery,
    ExportAccepted,
    ExportJob,
    Manifest,
    csv_columns,
)
from backinstock.registry import RESOURCE_MODULES, V1, Access, Action, Auth, Export, Sample

if TYPE_CHECKING:
    from pydantic import BaseModel

T = TypeVar("T")
HANDLERS = "reports"  # the package under functions/ of the generic handler modules, one per kind of family action
READ_ACCESS = frozenset({Access.TABLE_READ})
EXPORT_ACCESS = frozenset({Access.TABLE_READ, Access.TABLE_WRITE, Access.EXPORT_RUN, Access.IDEMPOTENCY})
STATUS_ACCESS = frozenset({Access.TABLE_READ, Access.LINK_SECRET})  # signs the download link
# Verifies it, reads the shop's erasures (services/downloads.py), signs the S3 URL.
DOWNLOAD_ACCESS = frozenset({Access.LINK_SECRET, Access.TABLE_READ, Access.EXPORT_READ})
CANCEL_ACCESS = frozenset({Access.TABLE_READ, Access.TABLE_WRITE, Access.EXPORT_RUN})


def export_note(status_path: str) -> str:
    """What every export action says of its job (the reports' and the waitlist's)."""
    return (
        f"Runs asynchronously: 202 with job_id and status_url; poll GET {status_path}/:job_id until status is ready, "
        "then fetch download_url. Send an Idempotency-Key header to make retries start one job."
    )


@dataclass(frozen=True)
class Report:
    """One report: a JSON read and its sibling CSV export, declared once."""

    name: str  # the path segment under the family's prefix, the manifest's and the export job's `report`
    description: str
    aliases: tuple[str, ...]
    query: type[BaseModel]  # the read's query
    response: type[BaseModel]  # its `csv` (models.reporting.Table) is the export's file
    read: str  # function of the family's service: read(context, shop_id, query, now=None) -> response
    export_body: type[BaseModel] | None = None  # the export's filters, when they differ from the read's query
    # With export_body: the function answering it, export_read(context, shop_id, export body, now) -> response
    # (a paginated report's export: every row unless page/per_page are given, `export_page`).
    export_read: str | None = None
    notes: tuple[str, ...] = ()  # the read's notes (the family's read note follows them)
    sample_query: str = ""  # query parameters of a valid read, after the window (`from`/`to` are the test's)
    file_name: str | None = None  # the export's file name pattern, when not the family's
    v1: V1 | None = None  # the read's deprecated v1 route (registry.V1)


@dataclass(frozen=True)
class FamilyAction:
    """The words of one of a family's own actions (its manifest, its export jobs' status and cancel)."""

    name: str
    description: str
    aliases: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _json_value(text: str) -> Any:
    """A query string's value as the JSON an export's (strict) body takes: `101` a number, `true` a boolean."""
    if text.isdigit():
        return int(text)
    return {"true": True, "false": False}.get(text, text)


@dataclass(frozen=True)
class ReportFamily:
    """Reports under one prefix, with their manifest (`<prefix>`), their export jobs (`<prefix>/exports/:job_id`)
    and their files. Every action of the family comes from here (`actions`), in manifest order."""

    resource: str  # its declaration module is backinstock.actions.<resource>; its actions' OpenAPI tag
    prefix: str
    service: str  # the module of every report's read functions
    context: str  # the factory in backinstock.deps whose product every read function takes first
    file_name: str  # export file names: {report}, {today}, {from} and {to} (the job's resolved window)
    read_note: str  # the last note of every read (the window's rules)
    manifest: FamilyAction
    get_export: FamilyAction
    cancel_export: FamilyAction
    reports: tuple[Report, ...]
    read_name: str = "{report}_report"  # action names: unique in the registry, across families
    export_name: str = "export_{report}_report"

    @property
    def exports_path(self) -> str:
        return f"{self.prefix}/exports"

    def report(self, name: str) -> Report:
        for report in self.reports:
            if report.name == name:
                return report
        raise LookupError(f"no report {name!r} in the family under {self.prefix}")

    @cached_property
    def reads(self) -> tuple[Action, ...]:
        return tuple(self._read(r) for r in self.reports)

    @cached_property
    def exports(self) -> tuple[Action, ...]:
        return tuple(self._export(r) for r in self.reports)

    @cached_property
    def list_action(self) -> Action:
        """`GET <prefix>`: the manifest."""
        return self._action(
            self.manifest,
            method="GET",
            path=self.prefix,
            handler=f"{HANDLERS}.list_reports",
            access=frozenset(),
            response_model=Manifest,
        )

    @cached_property
    def get_action(self) -> Action:
        """`GET <prefix>/exports/:job_id`: an export job's status, and its download URL when ready."""
        return self._action(
            dataclasses.replace(self.get_export, notes=(*self.get_export.notes, DOWNLOAD_TERMS)),
            method="GET",
            path=f"{self.exports_path}/:job_id",
            handler=f"{HANDLERS}.get_report_export",
            access=STATUS_ACCESS,
            response_model=ExportJob,
        )

    @cached_property
    def cancel_action(self) -> Action:
        """`DELETE <prefix>/exports/:job_id`: cancel a running export."""
        return self._action(
            self.cancel_export,
            method="DELETE",
            path=f"{self.exports_path}/:job_id",
            handler=f"{HANDLERS}.cancel_report_export",
            access=CANCEL_ACCESS,
            response_model=ExportJob,
        )

    @cached_property
    def download_action(self) -> Action:
        """`GET <prefix>/exports/:job_id/download?token=...`: the job's download link (public: the token is the
        credential, valid as long as the file, 7 days), answered with a redirect to a fresh pre-signed S3 URL."""
        return Action(
            name=self.get_export.name.replace("get_", "download_", 1),
            method="GET",
            path=f"{self.exports_path}/:job_id/download",
            resource=self.resource,
            description="Download an export's CSV file: a redirect (302) to the file",
            handler=f"{HANDLERS}.download_report_export",
            handler_attribute=self.resource,
            access=DOWNLOAD_ACCESS,
            auth=Auth.PUBLIC,
            mcp_tool=False,  # a link for a browser or a spreadsheet; tools read download_url from the status
            query_model=DownloadQuery,
            success_status=302,
            statuses=(
                (
                    410,
                    "Gone: a customer's data was erased (Shopify privacy request) after this export started, or the "
                    "shop was erased; the message says why. Run the export again",
                ),
            ),
            notes=(
                f"The job's download_url: no API key (the signed token is the credential), {DOWNLOAD_VALIDITY}; the "
                f"redirect's pre-signed S3 URL lives {DOWNLOAD_REDIRECT_SECONDS // 60} minutes, so open the link "
                "itself again rather than keep the redirect. A forged, expired or foreign token is a 404.",
                "After a customers/redact that finished after the export started, or a shop/redact, the link "
                "answers 410 and never serves the file again.",
            ),
            sample=Sample(f"{self.exports_path}/{{job_id}}/download?token={{download_token}}"),
        )

    @cached_property
    def actions(self) -> tuple[Action, ...]:
        """The manifest, every read, every export, the export job's status, cancel and download."""
        return (
            self.list_action,
            *self.reads,
            *self.exports,
            self.get_action,
            self.cancel_action,
            self.download_action,
        )

    def read(self, name: str) -> Action:
        return self.reads[self.reports.index(self.report(name))]

    def export(self, name: str) -> Action:
        return self.exports[self.reports.index(self.report(name))]

    # ----------------------------------------------------------------------------------------------- derivation
    def _action(
        self,
        words: FamilyAction,
        *,
        method: str,
        path: str,
        handler: str,
        access: frozenset[Access],
        response_model: type[BaseModel],
    ) -> Action:
        """One of the family's own actions: its handler attribute is the family (`<resource>`)."""
        return Action(
            name=words.name,
            method=method,
            path=path,
            resource=self.resource,
            description=words.description,
            handler=handler,
            handler_attribute=self.resource,
            access=access,
            aliases=words.aliases,
            response_model=response_model,
            notes=words.notes,
            sample=Sample(path.replace(":job_id", "{job_id}")),
        )

    def _read(self, r: Report) -> Action:
        window = f"{self.prefix}/{r.name}?from={{from}}&to={{to}}"
        return Action(
            name=self.read_name.format(report=r.name),
            method="GET",
            path=f"{self.prefix}/{r.name}",
            resource=self.resource,
            description=r.description,
            handler=f"{HANDLERS}.read_report",
            handler_attribute=f"{self.resource}__{r.name}",
            access=READ_ACCESS,
            aliases=r.aliases,
            query_model=r.query,
            response_model=r.response,
            notes=(*r.notes, self.read_note),
            report=r.name,
            v1=r.v1,
            sample=Sample(f"{window}&{r.sample_query}" if r.sample_query else window),
        )

    def _export(self, r: Report) -> Action:
        words = r.name.replace("_", " ")
        return Action(
            name=self.export_name.format(report=r.name),
            method="POST",
            path=f"{self.prefix}/{r.name}/export",
            resource=self.resource,
            description=f"Export the {r.name} report as CSV (asynchronous job)",
            handler=f"{HANDLERS}.export_report",
            handler_attribute=f"{self.resource}__{r.name}",
            access=EXPORT_ACCESS,
            aliases=(f"export {words} report", f"{words} report csv"),
            body_model=r.export_body or r.query,
            body_optional=True,
            response_model=ExportAccepted,
            success_status=202,
            idempotent=True,
            notes=(
                "Same filters as the read, in a JSON body; a query string is a 422 naming its parameters (never "
                "ignored).",
                export_note(self.exports_path),
            ),
            report=r.name,
            sample=Sample(
                f"{self.prefix}/{r.name}/export",
                {"from": "{from}", "to": "{to}", **{k: _json_value(v) for k, v in parse_qsl(r.sample_query)}},
            ),
            export=Export(
                report=r.name,
                columns=csv_columns(r.response),
                rows=f"{self.service}:{r.export_read or r.read}",
                context=self.context,
                status_path=self.exports_path,
                file_name=r.file_name or self.file_name,
            ),
        )


def family_of(resource: str) -> ReportFamily:
    """The family declared by `backinstock.actions.<resource>` (its `FAMILY`), importing that module alone: a
    handler of one family never imports another's declarations."""
    module_name = f"backinstock.actions.{resource}"
    family = getattr(importlib.import_module(module_name), "FAMILY", None) if module_name in RESOURCE_MODULES else None
    if not isinstance(family, ReportFamily):
        raise LookupError(f"{module_name} declares no report family")
    return family


# ------------------------------------------------------------------------------------- every family's reads' rules
class Windowed(Protocol):
    """A report's filters, or an export's: the window as the caller asked for it."""

    @property
    def from_(self) -> date | None: ...

    @property
    def to(self) -> date | None: ...


def resolve_window(query: Windowed, now: datetime | None = None) -> tuple[date, date]:
    """`to` defaults to today (UTC), `from` to 29 days before `to` (30 days). 422 when `from` is after `to` or the
    window has more buckets of the query's granularity than the maximum (`models.reporting.MAX_BUCKETS`)."""
    today = (now or ids.now()).astimezone(UTC).date()
    end = query.to or (today if query.from_ is None or query.from_ <= today else query.from_)
    start = query.from_ or end - timedelta(days=DEFAULT_WINDOW_DAYS - 1)
    if start > end:
        raise ValidationFailed(
            problems=[Problem("window_invalid", f"from ({start}) must not be after to ({end})", "from")]
        )
    # The cap is on buckets, what a read costs (rollup items), not on days: a time series at month granularity may
    # span 366 months. A report without a granularity reads day items at worst (products_in_demand): 366 days.
    granularity = getattr(query, "granularity", None) or buckets.DAY
    count = len(list(buckets.buckets(start, end, granularity)))
    if count > MAX_BUCKETS:
        unit = {"day": "days", "week": "weeks", "month": "months"}[granularity]
        coarser = " or a coarser granularity" if granularity != buckets.MONTH and hasattr(query, "granularity") else ""
        raise ValidationFailed(
            problems=[
                Problem(
                    "window_too_long",
                    f"the window spans {count} {unit}; at most {MAX_BUCKETS} buckets of the report's granularity "
                    f"(from {start} to {end}, granularity {granularity}): split it into several requests{coarser}",
                    "to",
                )
            ]
        )
    return start, end


def labelled(points: dict[date, T], start: date) -> list[tuple[date, T]]:
    """A series' points, each dated by the first day it counts: a bucket the window's start cuts (a week or month
    begun before `from`) is labelled `from`, never a day outside the window; the others by their bucket's start."""
    return [(max(bucket, start), values) for bucket, values in points.items()]


def export_page(page: int | None, per_page: int | None, default_per_page: int, total: int) -> tuple[int, int]:
    """The page a paginated report's export writes, as (page, per_page): every row (one page of all `total`), or
    the page asked for when `page` or `per_page` is given."""
    if page is None and per_page is None:
        return 1, max(total, 1)
    return page or 1, per_page or default_per_page
