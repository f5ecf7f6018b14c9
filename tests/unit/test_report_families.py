"""A report is declared once (`backinstock.reporting`): its family derives its read, its export (and the export job's
definition), its manifest entry and its handlers. These tests hold the declarations to what the machinery needs:
nothing declared is left out of the registry, every function a declaration names exists and takes the declared
models, every export is polled where its status URL points, the generic handler modules serve exactly the declared
actions, and a second family (the preorder reports, reference 001) is one more declaration."""

from __future__ import annotations

import importlib
import inspect
import string
import sys
import types
import typing

import pytest

from backinstock import deps, dispatch, registry
from backinstock.models.reporting import Column, Table, csv_columns, csv_rows
from backinstock.registry import Action
from backinstock.reporting import Report, ReportFamily, family_of

pytestmark = pytest.mark.unit


def families() -> list[ReportFamily]:
    modules = [importlib.import_module(name) for name in registry.RESOURCE_MODULES]
    return [value for module in modules for value in vars(module).values() if isinstance(value, ReportFamily)]


def test_every_declaration_reaches_the_registry() -> None:
    """A report left out of its family's `reports`, or a family whose actions no ACTIONS lists, would silently not
    exist (no route, no manifest entry, no export)."""
    listed = {a.name for a in registry.actions()}
    assert families(), "no report family is declared"
    for name in registry.RESOURCE_MODULES:
        module = importlib.import_module(name)
        declared = [v for v in vars(module).values() if isinstance(v, Report)]
        family = getattr(module, "FAMILY", None)
        for report in declared:
            assert family is not None and report in family.reports, f"{name}: report {report.name} is in no family"
        for value in vars(module).values():
            if isinstance(value, ReportFamily):
                assert {a.name for a in value.actions} <= listed, f"{name}: {value.prefix}'s actions are not listed"
                assert family_of(value.resource) is value


def test_an_action_left_out_of_actions_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    stray = types.ModuleType("backinstock.actions.stray")
    stray.ACTIONS = ()  # type: ignore[attr-defined]
    stray.FORGOTTEN = Action(  # type: ignore[attr-defined]
        name="forgotten", method="GET", path="/forgotten", resource="stray", description="", handler="stray.forgotten"
    )
    monkeypatch.setitem(sys.modules, stray.__name__, stray)
    monkeypatch.setattr(registry, "RESOURCE_MODULES", (*registry.RESOURCE_MODULES, stray.__name__))
    registry.actions.cache_clear()
    try:
        with pytest.raises(
            ValueError, match=r"backinstock.actions.stray declares actions that no ACTIONS lists: \['FORG"
        ):
            registry.actions()
    finally:
        monkeypatch.undo()
        registry.actions.cache_clear()
    assert "forgotten" not in {a.name for a in registry.actions()}


def _parameter_types(function: typing.Any) -> list[typing.Any]:
    hints = typing.get_type_hints(function)
    return [hints.get(name) for name in inspect.signature(function).parameters]


def test_every_named_function_exists_and_takes_the_declared_models() -> None:
    """What mypy checks in a hand-written handler (the service takes the action's model) holds for the functions a
    declaration names: a read takes the read's query and returns its response; the export's function takes the
    export's body and returns the same response, whose CSV table the model declares."""
    for family in families():
        # The factory's return type, by name (deps imports the types it returns only for type checking).
        context = inspect.signature(getattr(deps, family.context)).return_annotation
        for report, read, export in zip(family.reports, family.reads, family.exports, strict=True):
            function = registry.resolve(f"{family.service}:{report.read}")
            first, shop, query = _parameter_types(function)[:3]
            assert (first.__name__, shop, query) == (context, str, read.query_model), report.name
            assert typing.get_type_hints(function)["return"] is read.response_model, report.name
            assert export.export is not None
            assert (report.export_read is not None) == (report.export_body is not None), report.name
            rows = registry.resolve(export.export.rows)
            first, shop, body = _parameter_types(rows)[:3]
            assert (first.__name__, shop, body) == (context, str, export.body_model), report.name
            assert typing.get_type_hints(rows)["return"] is read.response_model, report.name
            assert export.export.columns == csv_columns(report.response), report.name


def test_a_reports_csv_columns_are_its_models_fields_in_order() -> None:
    """A report's CSV is its answer (`models.reporting.Table`): each column is a field, named by its JSON name or
    its `Column`, so a new column is one field. The headers, as the files have had them."""
    from backinstock.models import preorder_reports as p
    from backinstock.models import reports as b

    money = ("currency", "exchange_rate")
    assert csv_columns(b.SummaryReport) == (
        "from",
        "to",
        "currency",
        "signups",
        "pending",
        "blocked",
        "notified",
        "conversions",
        "conversion_rate",
        "recovered_revenue",
    )
    assert csv_columns(b.SignupsReport) == ("date", "signups", "pending", "blocked", "notified")
    assert csv_columns(b.NotificationsReport) == (
        "date",
        "sent",
        "blocked",
        "email",
        "sms",
        "push",
        "blocked_email",
        "blocked_sms",
        "blocked_push",
    )
    assert csv_columns(b.ConversionsReport) == ("date", "orders", "recovered_revenue", "currency")
    assert csv_columns(b.DemandReport) == (
        "shopify_variant_id",
        "shopify_product_id",
        "variant_title",
        "product_title",
        "pending",
        "total",
        "last_requested_at",
    )
    assert csv_columns(p.PreorderSummaryReport) == (
        "from",
        "to",
        *money,
        "orders",
        "units",
        "revenue",
        "customers",
        "deposits_collected",
        "balances_collected",
        "balances_outstanding",
        "cancelled_orders",
        "refunds_issued",
    )
    assert csv_columns(p.RevenueReport) == (
        "date",
        "revenue",
        *money,
        "from",
        "to",
        "include_deposits",
        "include_balances",
    )
    assert csv_columns(p.ByOfferReport) == ("offer_id", "offer_name", "orders", "units", "revenue", "customers", *money)
    assert csv_columns(p.ByVariantReport) == (
        "offer_id",
        "shopify_variant_id",
        "shopify_product_id",
        "variant_title",
        "product_title",
        "orders",
        "units",
        "revenue",
        *money,
    )
    assert csv_columns(p.ByProductReport) == (
        "shopify_product_id",
        "product_title",
        "variants",
        "orders",
        "units",
        "revenue",
        *money,
    )
    assert csv_columns(p.ByDateReport) == ("date", *p.BY_DATE_METRICS, *money)
    assert csv_columns(p.CancellationsReport) == (
        "row",
        "reason",
        "offer_id",
        "offer_name",
        "cancelled_orders",
        "cancelled_units",
        "cancelled_revenue",
        "refunds_issued",
        *money,
    )
    assert csv_columns(p.BalanceCollectionReport) == (
        "row",
        "offer_id",
        "offer_name",
        "balances_due",
        "balances_collected",
        "balances_failed",
        "balances_outstanding",
        "collected_count",
        "failed_count",
        "collection_rate",
        *money,
    )
    assert csv_columns(p.CustomersReport) == (
        "email",
        "name",
        "orders",
        "units",
        "revenue",
        "balances_outstanding",
        "last_order_at",
        *money,
    )


def test_a_new_field_is_a_new_column_and_blocks_share_their_columns() -> None:
    """The table's rules on a made-up answer: a field added to the row model is a column (one place); the
    repeated fields come before or after; several blocks: the kind column, the later blocks' labels, then the first
    block's figures, the cells a block lacks empty; booleans as JSON spells them, null an empty cell."""
    from typing import Annotated, ClassVar

    from pydantic import BaseModel

    class Point(BaseModel):
        date: str
        orders: int
        revenue: str | None

    class Label(BaseModel):
        reason: str
        count: Annotated[int, Column("orders")]

    class Window(BaseModel):
        start: str
        end: str

    class Answer(BaseModel):
        csv: ClassVar[Table] = Table(
            rows={"total": "totals", "reason": "by_reason"}, before=("window",), after=("flag",)
        )
        window: Window
        flag: bool
        totals: Point
        by_reason: list[Label]

    answer = Answer(
        window=Window(start="a", end="b"),
        flag=True,
        totals=Point(date="d", orders=3, revenue=None),
        by_reason=[Label(reason="x", count=2)],
    )
    assert csv_columns(Answer) == ("start", "end", "row", "reason", "date", "orders", "revenue", "flag")
    assert list(csv_rows(answer)) == [
        ["a", "b", "total", None, "d", 3, None, "true"],
        ["a", "b", "reason", "x", None, 2, None, "true"],
    ]


def test_every_export_declares_what_its_job_needs() -> None:
    exports = [a for a in registry.actions() if a.export is not None]
    assert {a.name for a in exports} >= {"export_summary_report", "export_signups"}
    for action in exports:
        spec = action.export
        assert spec is not None and action.body_model is not None and action.method == "POST"
        assert callable(registry.resolve(spec.rows)), action.name
        assert callable(getattr(deps, spec.context, None)), f"{action.name}: no factory deps.{spec.context}"
        if spec.window:
            assert {"from_", "to"} <= set(action.body_model.model_fields), f"{action.name}: no window to resolve"
        allowed = {"report", "today"} | ({"from", "to"} if spec.window else set())
        used = {name for _, name, _, _ in string.Formatter().parse(spec.file_name) if name is not None}
        assert used <= allowed, f"{action.name}: file name pattern {spec.file_name!r} uses {sorted(used - allowed)}"
        # Its status URL is served: the job is polled and cancelled there.
        polled = {(a.method, a.path) for a in registry.actions()}
        assert {("GET", f"{spec.status_path}/:job_id"), ("DELETE", f"{spec.status_path}/:job_id")} <= polled


def test_the_generic_handler_modules_serve_the_declared_actions_and_nothing_else() -> None:
    dispatch.ensure_functions_on_path()
    read = importlib.import_module("reports.read_report")
    assert read.reports__summary.action is registry.by_name("summary_report")
    listing = importlib.import_module("reports.list_reports")
    assert listing.reports.action is registry.by_name("list_reports")
    for module, attribute in (
        (read, "reports__nope"),  # no such report
        (read, "nope__summary"),  # no such family
        (read, "signups__summary"),  # a resource that is not a family
        (read, "reports"),  # a read names its report
        (listing, "reports__summary"),  # the manifest is the family's
        (read, "__wrapped__"),  # what tools look up on any module
    ):
        with pytest.raises(AttributeError):
            getattr(module, attribute)


def test_the_preorder_reports_are_one_more_family_declaration() -> None:
    """Reference 001's family (`actions/preorder_reports.py`): its manifest, nine reads and exports, job status and
    file names come out under its own prefix, served by the same generic modules as the back-in-stock reports."""
    from backinstock.actions.preorder_reports import FAMILY

    names = [r.name for r in FAMILY.reports]
    assert names == [
        "summary",
        "revenue",
        "by_offer",
        "by_variant",
        "by_product",
        "by_date",
        "cancellations",
        "balance_collection",
        "customers",
    ]
    assert [(a.method, a.path) for a in FAMILY.actions] == [
        ("GET", "/preorders/reports"),
        *(("GET", f"/preorders/reports/{n}") for n in names),
        *(("POST", f"/preorders/reports/{n}/export") for n in names),
        ("GET", "/preorders/reports/exports/:job_id"),
        ("DELETE", "/preorders/reports/exports/:job_id"),
        ("GET", "/preorders/reports/exports/:job_id/download"),
    ]
    by_name = {a.name: a for a in FAMILY.actions}
    assert set(by_name) <= {a.name for a in registry.actions()}
    assert by_name["preorder_revenue_report"].entry_point == "reports.read_report.preorder_reports__revenue"
    assert by_name["list_preorder_reports"].entry_point == "reports.list_reports.preorder_reports"
    export = by_name["export_preorder_revenue_report"].export
    assert export is not None and export.status_path == "/preorders/reports/exports"
    assert export.rows == "backinstock.services.preorder_reports:revenue"  # its answer is the file (its `csv`)
    name = export.file_name.format(report="revenue", today="2026-05-29", **{"from": "2026-01-01", "to": "2026-05-28"})
    assert name == "preorders_revenue_2026-01-01_2026-05-28.csv"
    assert "poll GET /preorders/reports/exports/:job_id" in by_name["export_preorder_revenue_report"].notes[1]
