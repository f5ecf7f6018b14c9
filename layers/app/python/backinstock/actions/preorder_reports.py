"""Preorder reports (reference 001): one report family under /preorders/reports, its nine reports on the preorder
rollups, their CSV exports, the export jobs.

Each report is one `Report` declaration below, listed in `FAMILY.reports`: its read, its export (and the export
job's definition), its manifest entry and its handlers derive from it (`backinstock.reporting`). The reads live in
`services/preorder_reports.py`, the models (whose fields are the exports' CSV columns) in
`models/preorder_reports.py`; the counters they read are kept from the preorder ledger by the stream aggregator
(`services/preorder_rollups.py`).
"""

from __future__ import annotations

from backinstock.models import preorder_reports as m
from backinstock.models.reporting import WINDOW_READ_NOTE
from backinstock.reporting import FamilyAction, Report, ReportFamily

CURRENCY_NOTE = (
    "currency is the reporting currency (default the shop's): every order counts; amounts are Shopify's shop_money "
    "amounts, converted into another currency at the revenue-weighted rate Shopify applied to the orders presented "
    "in it (placed in the window, else ever), as the answer's conversion says; a currency no order was presented in "
    "is a 422 naming the convertible ones. Amounts are strings in the currency's minor units (JPY: none). The CSV "
    "has currency and exchange_rate columns."
)
SCOPE_NOTE = "offer_id or offer_ids[] (repeat the parameter) scope every figure to those offers."

SUMMARY = Report(
    name="summary",
    description="High-level overview of preorder activity over a date window",
    aliases=("preorder summary", "preorder overview", "how are preorders doing"),
    query=m.SummaryQuery,
    response=m.PreorderSummaryReport,
    read="summary",
    notes=(
        "orders, units and revenue count the preorder orders placed in the window, cancelled ones included; "
        "deposits_collected is what checkout charged for them, balances_outstanding what they still owe; "
        "balances_collected, cancelled_orders and refunds_issued count by the day they happened. customers is the "
        "exact number of distinct customers placing them (every filter narrows it: offer, product, variant, market, "
        "currency). by_offer_top_5: the offers with the highest revenue.",
        SCOPE_NOTE,
        CURRENCY_NOTE,
    ),
)

REVENUE = Report(
    name="revenue",
    description="Preorder revenue over a date window, bucketed by day/week/month",
    aliases=("revenue report", "preorder revenue", "preorder sales over time", "deposits and balances revenue"),
    query=m.RevenueQuery,
    response=m.RevenueReport,
    read="revenue",
    notes=(
        "Revenue of the lines placed in each bucket (price x quantity - discounts): the deposit portion "
        "(include_deposits), the balance portion (include_balances), or both (the default). At least one must be "
        "true; both are echoed.",
        SCOPE_NOTE,
        CURRENCY_NOTE,
    ),
    sample_query="granularity=week&include_balances=false",
)

BY_OFFER = Report(
    name="by_offer",
    description="Per-offer breakdown (orders, units, revenue, customers)",
    aliases=("revenue by offer", "preorders per offer", "which offer sells best"),
    query=m.ByOfferQuery,
    response=m.ByOfferReport,
    read="by_offer",
    notes=("A row per offer with preorders in the window (or per offer of the scope), highest revenue first.",),
)

BY_VARIANT = Report(
    name="by_variant",
    description="Per-variant performance for a specific offer",
    aliases=("preorders by variant", "variant breakdown of an offer", "which variants were preordered"),
    query=m.ByVariantQuery,
    response=m.ByVariantReport,
    read="by_variant",
    notes=(
        "Requires offer_id or offer_ids[] (422 without). One row per variant attached to the offer, activity or not.",
    ),
    sample_query="offer_id={offer_id}",
)

BY_PRODUCT = Report(
    name="by_product",
    description="Per-product performance, rolled up across variants",
    aliases=("preorders by product", "product breakdown", "which products were preordered"),
    query=m.ByProductQuery,
    response=m.ByProductReport,
    read="by_product",
    notes=(
        "A row per product (of the offers in scope) with preorders in the window; variants counts its variants "
        "that were preordered. Highest revenue first.",
    ),
)

BY_DATE = Report(
    name="by_date",
    description="Time-series of every preorder metric at the chosen granularity",
    aliases=("preorders by date", "preorder metrics over time", "daily preorder activity"),
    query=m.ByDateQuery,
    response=m.ByDateReport,
    read="by_date",
    notes=(
        f"metrics restricts the columns (comma-separated: {', '.join(m.BY_DATE_METRICS)}); an unknown one is a "
        "422. customers per bucket is the exact number of distinct customers of that bucket. The CSV always has "
        "every metric column; metrics not asked for are empty.",
        CURRENCY_NOTE,
    ),
    sample_query="granularity=month&metrics=orders,revenue,customers",
)

CANCELLATIONS = Report(
    name="cancellations",
    description="Preorder cancellation metrics with reason and per-offer breakdowns",
    aliases=("preorder cancellations", "why were preorders cancelled", "refunds of preorders"),
    query=m.CancellationsQuery,
    response=m.CancellationsReport,
    read="cancellations",
    notes=(
        "Cancellations and refunds count by the day they happened. by_reason lists every reason (customer, "
        "declined, fraud, inventory, other, staff, unknown); a cancellation without a cancel_reason is unknown. "
        "The CSV has a total row, a row per reason and a row per offer.",
    ),
)

BALANCE_COLLECTION = Report(
    name="balance_collection",
    description="Outstanding preorder balances and balance-collection performance",
    aliases=("balance collection", "unpaid preorder balances", "failed balance payments"),
    query=m.BalanceCollectionQuery,
    response=m.BalanceCollectionReport,
    read="balance_collection",
    notes=(
        "balances_due: the balances falling due in the window (of orders not cancelled), balances_outstanding: what "
        "of them is still unpaid; balances_collected / balances_failed (and their counts): balance payments that "
        "succeeded or failed in the window; collection_rate = balances_collected / balances_due.",
    ),
)

CUSTOMERS = Report(
    name="customers",
    description="Paginated list of customers with preorder activity in the window",
    aliases=("preorder customers", "who preordered", "top preorder customers"),
    query=m.CustomersQuery,
    response=m.CustomersReport,
    export_body=m.CustomersExport,
    read="customers",
    export_read="customers_export",
    notes=(
        "Customers with preorders placed in the window (offer and currency scope), highest revenue first: their "
        f"orders, units, revenue and balances still outstanding; last_order_at is their latest preorder. per_page "
        f"default {m.DEFAULT_PER_PAGE}, at most {m.MAX_PER_PAGE}; the export writes every customer unless "
        "page/per_page are given.",
    ),
    sample_query="per_page=10",
)

FAMILY = ReportFamily(
    resource="preorder_reports",
    prefix="/preorders/reports",
    service="backinstock.services.preorder_reports",
    context="preorder_reports",
    file_name="preorders_{report}_{from}_{to}.csv",
    read_note=WINDOW_READ_NOTE,
    manifest=FamilyAction(
        name="list_preorder_reports",
        description="The catalog of available preorder reports, generated from the registry",
        aliases=("preorder reports", "which preorder reports are there", "list preorder reports"),
    ),
    get_export=FamilyAction(
        name="get_preorder_report_export",
        description="Poll a preorder export job: running / ready / failed / cancelled, progress, and the download URL",
        aliases=("preorder export status", "is my preorder export ready"),
    ),
    cancel_export=FamilyAction(
        name="cancel_preorder_report_export",
        description="Cancel a running preorder export: stops its workflow and discards the partial file",
        aliases=("cancel preorder export",),
        notes=("409 when the job is no longer running (ready, failed or cancelled).",),
    ),
    reports=(SUMMARY, REVENUE, BY_OFFER, BY_VARIANT, BY_PRODUCT, BY_DATE, CANCELLATIONS, BALANCE_COLLECTION, CUSTOMERS),
    read_name="preorder_{report}_report",
    export_name="export_preorder_{report}_report",
)

ACTIONS = FAMILY.actions
