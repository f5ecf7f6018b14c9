"""The faces agree: the routes in the synthesized template, /help, the OpenAPI document and the MCP tools all come
from the registry, so each lists exactly the same actions and nothing else."""

from __future__ import annotations

import pytest

from backinstock import registry
from backinstock.api import mcp
from backinstock.services import help as help_service
from backinstock.services import openapi
from tests.infra.template import Synth, methods

pytestmark = pytest.mark.infra


def test_template_help_openapi_and_mcp_describe_the_same_actions(synth: Synth) -> None:
    template_routes = set(methods(synth))

    help_entries = help_service.help_for(None).actions
    help_routes = {
        (entry.method, action.gateway_path(path))
        for entry in help_entries
        for action in [registry.by_name(entry.name)]
        for path in action.all_paths
    } | {
        (entry.method, v1.gateway_path(path))
        for entry in help_service.v1_help(None).actions
        for v1 in [registry.by_name(entry.name).v1]
        if v1 is not None
        for path in v1.all_paths
    }
    document = openapi.document()
    openapi_routes = {(m.upper(), path) for path, item in document["paths"].items() for m in item}

    assert template_routes == help_routes == openapi_routes

    # Every routed action is a tool, with /help's schema, except the MCP transport itself, the customer-facing
    # links of emails (public HTML pages, not something an agent calls) and Shopify's webhook intake.
    tools = {tool["name"]: tool for tool in mcp.tools()}
    routed = {entry.name for entry in help_entries}
    assert set(tools) == routed - {
        "mcp",
        "optin_page",
        "confirm_optin",
        "unsubscribe_page",
        "unsubscribe",
        "receive_shopify_webhook",
        *(a.name for a in registry.actions() if a.path.endswith("/exports/:job_id/download")),  # links for browsers
    }
    for entry in help_entries:
        if entry.name in tools:
            assert tools[entry.name]["inputSchema"] == entry.request_schema, entry.name
