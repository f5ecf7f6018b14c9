"""Reports (reference 000): the manifest, five JSON reads on the rollups, their CSV exports, the export jobs; and the
row-level waitlist export (beyond the reference, on the same job machinery).

Every report is one `_report(...)` call: it declares the read and its sibling export. The manifest lists the reads
of its prefix from this registry, so it cannot drift from the routes.
"""

from __future__ import annotations

from backinstock.models import reports as m
from backinstock.models.reporting import ExportAccepted, ExportJob, Manifest
from backinstock.models.signups import SignupExport
from backinstock.registry import Access, Action, Sample

RESOURCE = "reports"
PREFIX = "/back_in_stock/reports"
EXPORTS_PATH = f"{PREFIX}/exports"
_READ = frozenset({Access.TABLE_READ})
_EXPORT = frozenset({Access.TABLE_READ, Access.TABLE_WRITE, Access.EXPORT_RUN, Access.IDEMPOTENCY})
_WINDOW_NOTE = (
    f"from/to: ISO dates, inclusive (UTC days); default the last {m.DEFAULT_WINDOW_DAYS} days; at most "
    f"{m.MAX_WINDOW_DAYS} days. The resolved window is echoed. Computed from pre-aggregated rollups (eventually "
    "consistent: activity shows within seconds)."
)
_EXPORT_NOTE = (
    "Runs asynchronously: 202 with job_id and status_url; poll GET /back_in_stock/reports/exports/:job_id until "
    "status is ready, then fetch download_url. Send an Idempotency-Key header to make retries start one job."
)


def _report(
    name: str,
    description: str,
    aliases: tuple[str, ...],
    query: type,
    response: type,
    export_body: type,
    notes: tuple[str, ...] = (),
    sample: str = "",
) -> tuple[Action, Action]:
    read = Action(
        name=f"{name}_report",
        method="GET",
        path=f"{PREFIX}/{name}",
        resource=RESOURCE,
        description=description,
        handler=f"reports.{name}_report",
        access=_READ,
        aliases=aliases,
        query_model=query,
        response_model=response,
        notes=(*notes, _WINDOW_NOTE),
        report=name,
        sample=Sample(f"{PREFIX}/{name}?from={{from}}&to={{to}}" + (f"&{sample}" if sample else "")),
    )
    export = Action(
        name=f"export_{name}_report",
        method="POST",
        path=f"{PREFIX}/{name}/export",
        resource=RESOURCE,
        description=f"Export the {name} report as CSV (asynchronous job)",
        handler=f"reports.export_{name}_report",
        access=_EXPORT,
        aliases=(f"export {name.replace('_', ' ')} report", f"{name.replace('_', ' ')} report csv"),
        body_model=export_body,
        body_optional=True,
        response_model=ExportAccepted,
        success_status=202,
        idempotent=True,
        notes=("Same filters as the read, in a JSON body.", _EXPORT_NOTE),
        report=name,
        sample=Sample(f"{PREFIX}/{name}/export", {"from": "{from}", "to": "{to}"}),
    )
    return read, export


MANIFEST = Action(
    name="list_reports",
    method="GET",
    path=PREFIX,
    resource=RESOURCE,
    description="The catalog of available back-in-stock reports, generated from the registry",
    handler="reports.list_reports",
    aliases=("reports", "which reports are there", "list reports"),
    response_model=Manifest,
    sample=Sample(PREFIX),
)

SUMMARY, EXPORT_SUMMARY = _report(
    "summary",
    "High-level overview of back-in-stock activity over a date window",
    ("back in stock summary", "waitlist overview", "how are restock alerts doing"),
    m.ReportQuery,
    m.SummaryReport,
    m.ReportQuery,
    sample="variant_id=101",
    notes=(
        "signups, pending and notified count the signups created in the window (their current status); conversions "
        "are those of them with a medium/high-confidence attributed order, and conversion_rate = conversions / "
        "notified. recovered_revenue sums the attributed orders placed in the window, in the shop's currency.",
    ),
)
SIGNUPS, EXPORT_SIGNUPS_REPORT = _report(
    "signups",
    "Time-series of signups created (day/week/month), with the pending/notified split",
    ("signups over time", "waitlist growth", "signups by week"),
    m.SeriesQuery,
    m.SignupsReport,
    m.SeriesQuery,
    sample="granularity=week",
    notes=("Each bucket counts the signups created in it, with their current status. Empty buckets are zeros.",),
)
NOTIFICATIONS, EXPORT_NOTIFICATIONS = _report(
    "notifications",
    "Time-series of notifications sent, split by channel, with blocked counts",
    ("sends over time", "notifications by channel", "restock alerts sent"),
    m.SeriesQuery,
    m.NotificationsReport,
    m.SeriesQuery,
    sample="channel=email",
    notes=("email + sms + push = sent. For the row-level send log use GET /back_in_stock/notifications.",),
)
CONVERSIONS, EXPORT_CONVERSIONS = _report(
    "conversions",
    "Time-series of orders attributed to alerts and the revenue recovered",
    ("recovered revenue", "restock conversions", "orders from alerts"),
    m.SeriesQuery,
    m.ConversionsReport,
    m.SeriesQuery,
    sample="granularity=month&product_id=10",
    notes=("Orders attributed at medium or high confidence, bucketed by order time; revenue has two decimals.",),
)
PRODUCTS_IN_DEMAND, EXPORT_PRODUCTS_IN_DEMAND = _report(
    "products_in_demand",
    "Ranked variants by waitlist demand: what to restock first",
    ("products in demand", "what should I restock first", "most wanted variants", "top waitlisted products"),
    m.DemandQuery,
    m.DemandReport,
    m.DemandExport,
    sample="sort_by=total",
    notes=(
        "Counts the signups created in the window: total, still pending, and the latest request time. "
        f"sort_by pending (default) / total / last_requested_at; per_page default {m.DEFAULT_PER_PAGE}, at most "
        f"{m.MAX_PER_PAGE}. The export writes every row unless page/per_page are given.",
    ),
)

GET_EXPORT = Action(
    name="get_report_export",
    method="GET",
    path=f"{EXPORTS_PATH}/:job_id",
    resource=RESOURCE,
    description="Poll an export job: running / ready / failed / cancelled, progress, and the download URL when ready",
    handler="reports.get_report_export",
    access=frozenset({Access.TABLE_READ, Access.EXPORT_READ}),
    aliases=("export status", "is my export ready", "download the export"),
    response_model=ExportJob,
    sample=Sample(f"{EXPORTS_PATH}/{{job_id}}"),
    notes=(
        "download_url is a pre-signed S3 URL made at each poll, valid until download_url_expires_at (1 hour, or "
        "less when the signing credentials expire sooner): poll again for a fresh one. The job expires about 24 "
        "hours after it completes; the file is deleted after 7 days. Unknown, expired and other shops' jobs are 404.",
    ),
)

CANCEL_EXPORT = Action(
    name="cancel_report_export",
    method="DELETE",
    path=f"{EXPORTS_PATH}/:job_id",
    resource=RESOURCE,
    description="Cancel a running export: stops its workflow and discards the partial file",
    handler="reports.cancel_report_export",
    access=frozenset({Access.TABLE_READ, Access.TABLE_WRITE, Access.EXPORT_RUN}),
    aliases=("cancel export", "stop the export"),
    response_model=ExportJob,
    sample=Sample(f"{EXPORTS_PATH}/{{job_id}}"),
    notes=("409 when the job is no longer running (ready, failed or cancelled).",),
)

EXPORT_WAITLIST = Action(
    name="export_signups",
    method="POST",
    path="/back_in_stock/signups/export",
    resource="signups",
    description="Export the waitlist, one row per signup, as CSV (asynchronous job)",
    handler="signups.export_signups",
    access=_EXPORT,
    aliases=("export the waitlist", "download signups csv", "waitlist csv"),
    body_model=SignupExport,
    body_optional=True,
    response_model=ExportAccepted,
    sample=Sample("/back_in_stock/signups/export", {"status": "pending", "variant_id": 101}),
    success_status=202,
    idempotent=True,
    notes=("The list's filters, in a JSON body; every matching row, newest first.", _EXPORT_NOTE),
)

ACTIONS = (
    MANIFEST,
    SUMMARY,
    SIGNUPS,
    NOTIFICATIONS,
    CONVERSIONS,
    PRODUCTS_IN_DEMAND,
    EXPORT_SUMMARY,
    EXPORT_SIGNUPS_REPORT,
    EXPORT_NOTIFICATIONS,
    EXPORT_CONVERSIONS,
    EXPORT_PRODUCTS_IN_DEMAND,
    GET_EXPORT,
    CANCEL_EXPORT,
    EXPORT_WAITLIST,
)
