"""The API describing itself: /help, the OpenAPI document, and the MCP transport (which runs every other action)."""

from __future__ import annotations

from backinstock.models.meta import HelpQuery, HelpResponse
from backinstock.registry import META_RESOURCE, V1, Action, Auth, Sample

RESOURCE = META_RESOURCE

HELP = Action(
    name="help",
    method="GET",
    path="/help",
    resource=RESOURCE,
    description="List the actions of the API with their paths, aliases and JSON Schemas, optionally under a prefix",
    handler="meta.help",
    aliases=("list actions", "what can I do"),
    query_model=HelpQuery,
    response_model=HelpResponse,
    sample=Sample("/help?prefix=/back_in_stock"),
    notes=("Also served by appending /help to any resource path, e.g. /back_in_stock/settings/help.",),
    help_suffix=True,
    v1=V1("GET", "/help"),
)

OPENAPI = Action(
    name="get_openapi",
    method="GET",
    path="/openapi.json",
    resource=RESOURCE,
    description="The OpenAPI 3.1 document of this API, generated from the action registry",
    handler="meta.openapi",
    aliases=("openapi", "api schema"),
    auth=Auth.PUBLIC,
    sample=Sample("/openapi.json"),
    statuses=((304, "Not Modified: If-None-Match named the current ETag; no body"),),
    notes=(
        "Public: no API key needed.",
        "Served with an ETag and Cache-Control: public, max-age=300; If-None-Match with the current ETag answers "
        "304 with no body. Gzipped for a client that sends Accept-Encoding: gzip (in AWS).",
    ),
)

MCP = Action(
    name="mcp",
    method="POST",
    path="/mcp",
    resource=RESOURCE,
    description="Model Context Protocol endpoint (Streamable HTTP, stateless, JSON responses): every action as a tool",
    handler="meta.mcp",
    aliases=("model context protocol",),
    auth=Auth.BEARER,
    mcp_tool=False,
    runs_actions=True,
    rate_cost=0,
    sample=Sample(
        "/mcp",
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        {"Authorization": "Bearer {api_key}", "Accept": "application/json, text/event-stream"},
    ),
    notes=(
        "Authenticate with Authorization: Bearer <api key>.",
        "Methods: initialize, tools/list, tools/call, ping. A tool call runs the same code as the HTTP route.",
        "Rate limit: every message pays. The POST takes 1 point per message that is not a tools/call (initialize, "
        "ping, tools/list, notifications; each message of a batch) before anything runs, and a tool call takes the "
        "points of its route (GET 1, else 2). A shop out of points gets 429 for a message or a batch that holds any "
        "such message; a tool call past the limit is a tool result with isError and status 429.",
        "JSON-RPC batches hold at most 20 messages (initialize not among them); a larger one is a 400.",
    ),
)

ACTIONS = (HELP, OPENAPI, MCP)
