"""The registry is the one declaration: /help, OpenAPI, the handler modules and the local routing table agree."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from backinstock import dispatch, registry
from backinstock.api.http import Request, route
from backinstock.infra_spec import SCHEDULES, STREAM_CONSUMERS, WORKER_HANDLERS, task_handlers
from backinstock.models.signups import SignupCreate, SignupListQuery
from backinstock.services import help as help_service
from backinstock.services import openapi
from backinstock_tools.testkit.samples import SAMPLE_PLACEHOLDERS, placeholders

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def registry_routes() -> set[tuple[str, str]]:
    """Every route: each path of each action, and each deprecated v1 route (`Action.v1`)."""
    v2 = {(a.method, a.gateway_path(p)) for a in registry.actions() for p in a.all_paths}
    return v2 | {
        (a.v1.method, a.v1.gateway_path(p)) for a in registry.actions() if a.v1 is not None for p in a.v1.all_paths
    }


def test_the_v1_routes_of_the_reference_each_run_their_v2_action() -> None:
    """Reference 002's parity table, plus the v1 /help: the v1 routes and the v2 action each one runs."""
    assert {(a.v1.method, a.v1.path): a.name for a in registry.v1_actions() if a.v1 is not None} == {
        ("GET", "/intents"): "list_signups",
        ("GET", "/intents/:id"): "get_signup",
        ("POST", "/intents"): "create_signup",
        ("POST", "/intents/:id/notify_intent"): "notify_signup",
        ("POST", "/intents/bulk_notify_intent"): "bulk_notify_signups",
        ("DELETE", "/intents/bulk_destroy"): "bulk_delete_signups",
        ("POST", "/intents/transfer_signups"): "transfer_signups",
        ("GET", "/products_in_demand"): "products_in_demand_report",
        ("GET", "/help"): "help",
    }


def test_v1_routes_are_in_v1_help_deprecated_in_openapi_and_not_tools() -> None:
    from backinstock.api import mcp

    v1 = {(a.v1.method, a.v1.path) for a in registry.v1_actions() if a.v1 is not None}
    assert {(e.method, e.path) for e in help_service.v1_help(None).actions} == v1
    assert all(e.successor and e.deprecated for e in help_service.v1_help(None).actions)
    document = openapi.document()
    operations = [
        (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if path.startswith(registry.V1_BASE_PATH)
    ]
    routes = {(a.v1.method, p) for a in registry.v1_actions() if a.v1 is not None for p in a.v1.all_paths}
    assert len(operations) == len(routes) and all(op["deprecated"] is True for _, _, op in operations)
    assert ("GET", "/intents/help") in routes  # the v1 face's `<prefix>/help` (issue 24)
    assert not [
        op
        for path, item in document["paths"].items()
        for op in item.values()
        if "deprecated" in op and not path.startswith(registry.V1_BASE_PATH)
    ]
    tool_names = {t["name"] for t in mcp.tools()}
    assert tool_names == {a.name for a in registry.actions() if a.mcp_tool}  # the v2 tools; no v1 one
    for action in registry.v1_actions():
        assert action.v1 is not None
        found = registry.match_v1(action.v1.method, action.v1.path.replace(":id", "abc"))
        assert found is not None and found[0].name == action.name


def test_every_settings_route_of_the_reference_is_registered() -> None:
    expected = {("GET", "/back_in_stock/settings"), ("PATCH", "/back_in_stock/settings")}
    for capability in ("channels", "delivery", "compliance", "tagging", "alerts"):
        expected |= {(m, f"/back_in_stock/settings/{capability}") for m in ("GET", "PATCH")}
    assert expected <= {(a.method, a.path) for a in registry.actions()}
    assert len(expected) == 12


def test_openapi_paths_equal_the_registry_routes() -> None:
    document = openapi.document()
    routes = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert routes == registry_routes()


def test_openapi_document_in_the_repo_has_not_drifted() -> None:
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert committed == openapi.document(), "docs/openapi.json is stale: run `make openapi`"


def test_help_lists_every_action_with_its_input_schema() -> None:
    listed = help_service.help_for(None).actions
    assert [a.name for a in listed] == [a.name for a in registry.actions()]
    for entry in listed:
        assert entry.request_schema == registry.by_name(entry.name).input_schema()


def test_help_prefix_matches_whole_segments_only() -> None:
    names = {a.name for a in help_service.help_for("/back_in_stock/settings/tagging").actions}
    assert names == {"get_tagging_settings", "update_tagging_settings"}
    assert help_service.help_for("/back_in_stock/set").actions == []


def test_every_static_resource_prefix_has_a_help_route() -> None:
    help_paths = set(registry.by_name("help").all_paths)
    assert {"/help", "/back_in_stock/help", "/back_in_stock/settings/help"} <= help_paths
    assert "/back_in_stock/settings/delivery/help" in help_paths
    # and every prefix with a path parameter, and the MCP endpoint's (issue 24)
    assert {"/back_in_stock/signups/:id/help", "/back_in_stock/reports/exports/:job_id/help", "/mcp/help"} <= help_paths
    names = {
        a.name for a in help_service.help_for("/back_in_stock/signups/0190a000-0000-7000-8000-000000000000").actions
    }
    assert names == {"get_signup", "delete_signup", "notify_signup"}


def test_every_action_has_its_handler() -> None:
    """Lambda imports the entry point's module and takes the attribute: it is the action's own handler."""
    dispatch.ensure_functions_on_path()
    for action in registry.actions():
        module = importlib.import_module(action.handler)
        assert getattr(module, action.handler_attribute).action.name == action.name, action.entry_point


def test_an_endpoint_whose_request_type_disagrees_with_its_action_is_refused_at_import() -> None:
    """Every handler imports above, so every one is typed `Request[<query_model>, <body_model>]` of its action; one
    that names other models (or none) cannot be built."""
    create = registry.by_name("create_signup")

    def wrong_body(request: Request[None, SignupListQuery]) -> Any:
        return None

    def untyped(request: Request) -> Any:  # type: ignore[type-arg]
        return None

    def right(request: Request[None, SignupCreate]) -> Any:
        return None

    for endpoint in (wrong_body, untyped):
        with pytest.raises(TypeError, match=r"annotate `request: Request\[None, SignupCreate\]`"):
            route(create)(endpoint)
    assert route(create)(right).action is create  # type: ignore[attr-defined]


def test_every_handler_module_belongs_to_an_action() -> None:
    modules = {
        str(p.relative_to(ROOT / "functions").with_suffix("")).replace("/", ".")
        for p in (ROOT / "functions").rglob("*.py")
        if p.name != "__init__.py"
    }
    others = {
        "auth.authorizer",
        *WORKER_HANDLERS,
        *task_handlers(),
        *(s.handler for s in SCHEDULES),
        *(c.handler for c in STREAM_CONSUMERS),
    }
    assert modules - others == {a.handler for a in registry.actions()}


def test_local_routing_table_resolves_every_route_to_its_action() -> None:
    for action in registry.actions():
        for path in action.all_paths:
            concrete = path.replace(":id", "abc")
            found = registry.match(action.method, concrete)
            assert found is not None and found[0].name == action.name


def test_every_action_declares_a_sample_request_of_its_own() -> None:
    """The tests that run every action (no Scan, the reports' read cost) send each the sample declared beside it
    (`Action.sample`): a new action must bring one, using only placeholders those tests fill, on its own route."""
    dummies = dict.fromkeys(SAMPLE_PLACEHOLDERS, "x1")
    for action in registry.actions():
        assert action.sample is not None, (
            f"action {action.name} declares no sample request: add `sample=Sample(...)` to its declaration, a valid "
            "request that the tests running every action can send"
        )
        unknown = placeholders(action.sample) - set(SAMPLE_PLACEHOLDERS)
        assert not unknown, f"{action.name}: unknown sample placeholders {sorted(unknown)} (testkit/samples.py)"
        path = action.sample.path.format_map(dummies).partition("?")[0]
        found = registry.match(action.method, path)
        assert found is not None and found[0].name == action.name, (action.name, action.sample.path)


def test_request_bodies_reject_unknown_fields() -> None:
    for action in registry.actions():
        if action.body_model is not None:
            assert action.body_model.model_config.get("extra") == "forbid", action.name
