"""Back-in-stock reports (reference 000): one report family, its five reports on the rollups, their CSV exports.

Each report is one `Report` declaration below, listed in `FAMILY.reports`: its read, its export (and the export
job's definition), its manifest entry and its handlers derive from it (`backinstock.reporting`). Its read lives in
`services/reports.py`, its models in `models/reports.py`; the export's CSV columns are its response model's fields
(`models.reporting.Table`). The row-level waitlist export is the
signups' (`actions/signups.py`), on the same export jobs.
"""

from __future__ import annotations

from backinstock.models import reports as m
from backinstock.models.reporting import WINDOW_READ_NOTE
from backinstock.registry import V1
from backinstock.reporting import FamilyAction, Report, ReportFamily

SUMMARY = Report(
    name="summary",
    description="High-level overview of back-in-stock activity over a date window",
    aliases=("back in stock summary", "waitlist overview", "how are restock alerts doing"),
    query=m.ReportQuery,
    response=m.SummaryReport,
    read="summary",
    notes=(
        "Two bases, each field saying which: signups, pending, blocked, notified and conversion_rate describe the "
        "signups created in the window by their status now, as the signups list reports it (they equal the sums of "
        "the signups report's buckets; conversion_rate is the share of those notified that converted to an "
        "attributed order); conversions and recovered_revenue describe the orders placed in the window attributed "
        "at medium/high confidence (they equal the sums of the conversions report's buckets), in the shop's "
        "currency. notified counts signups, the notifications report counts sends.",
    ),
    sample_query="variant_id=101",
)

SIGNUPS = Report(
    name="signups",
    description="Time-series of signups created (day/week/month), with the pending/notified split",
    aliases=("signups over time", "waitlist growth", "signups by week"),
    query=m.SeriesQuery,
    response=m.SignupsReport,
    read="signups",
    notes=(
        "Each bucket counts the signups created in it, by their current status as the signups list reports it "
        "(pending: waiting, no send attempted; blocked: a send was attempted but stopped). Empty buckets are zeros.",
    ),
    sample_query="granularity=week",
)

NOTIFICATIONS = Report(
    name="notifications",
    description="Time-series of notifications sent, split by channel, with blocked counts",
    aliases=("sends over time", "notifications by channel", "restock alerts sent"),
    query=m.SeriesQuery,
    response=m.NotificationsReport,
    read="notifications",
    notes=(
        "Counts sends by the time they were made (sent_at), resends included: email + sms + push = sent, "
        "blocked_email + blocked_sms + blocked_push = blocked; they equal the send log's rows (GET "
        "/back_in_stock/notifications with status, channel and from/to). The summary's notified counts something "
        "else: the signups created in the window that were notified.",
    ),
    sample_query="channel=email",
)

CONVERSIONS = Report(
    name="conversions",
    description="Time-series of orders attributed to alerts and the revenue recovered",
    aliases=("recovered revenue", "restock conversions", "orders from alerts"),
    query=m.SeriesQuery,
    response=m.ConversionsReport,
    read="conversions",
    notes=(
        "Orders attributed at medium or high confidence, bucketed by order time; revenue has two decimals. Its sums "
        "are the summary's conversions and recovered_revenue.",
    ),
    sample_query="granularity=month&product_id=10",
)

PRODUCTS_IN_DEMAND = Report(
    name="products_in_demand",
    v1=V1("GET", "/products_in_demand"),
    description="Ranked variants by waitlist demand: what to restock first",
    aliases=("products in demand", "what should I restock first", "most wanted variants", "top waitlisted products"),
    query=m.DemandQuery,
    response=m.DemandReport,
    export_body=m.DemandExport,
    read="products_in_demand",
    export_read="products_in_demand_export",
    notes=(
        "pending is the variant's waitlist now (the signups list's status=pending for the variant, whenever "
        "created), so a waitlist older than the window ranks too; total counts the signups created in the window. "
        "A variant is listed when it has a waitlist now or signups in the window. "
        f"sort_by pending (default) / total / last_requested_at; per_page default {m.DEFAULT_PER_PAGE}, at most "
        f"{m.MAX_PER_PAGE}. The export writes every row unless page/per_page are given.",
    ),
    sample_query="sort_by=total",
)

FAMILY = ReportFamily(
    resource="reports",
    prefix="/back_in_stock/reports",
    service="backinstock.services.reports",
    context="reports",
    file_name="back_in_stock_{report}_{today}.csv",
    read_note=WINDOW_READ_NOTE,
    manifest=FamilyAction(
        name="list_reports",
        description="The catalog of available back-in-stock reports, generated from the registry",
        aliases=("reports", "which reports are there", "list reports"),
    ),
    get_export=FamilyAction(
        name="get_report_export",
        description="Poll an export job: running / ready / failed / cancelled, progress, and the download URL when "
        "ready",
        aliases=("export status", "is my export ready", "download the export"),
        notes=(
            "Unknown, expired and other shops' jobs are 404, and so is a job of another report family (a preorder "
            "export is read under /preorders/reports/exports): the answer's family and status_url name its own.",
        ),
    ),
    cancel_export=FamilyAction(
        name="cancel_report_export",
        description="Cancel a running export: stops its workflow and discards the partial file",
        aliases=("cancel export", "stop the export"),
        notes=("409 when the job is no longer running (ready, failed or cancelled).",),
    ),
    reports=(SUMMARY, SIGNUPS, NOTIFICATIONS, CONVERSIONS, PRODUCTS_IN_DEMAND),
)

ACTIONS = FAMILY.actions
