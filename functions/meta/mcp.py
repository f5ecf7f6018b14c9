"""POST /mcp: the Model Context Protocol endpoint (JSON-RPC over Streamable HTTP, stateless, JSON responses)."""

from backinstock.actions.meta import MCP
from backinstock.api import mcp
from backinstock.api.http import Reply, Request, charge, route


@route(MCP)
def handler(request: Request[None, None]) -> Reply:
    answer = mcp.handle(
        request.raw_body,
        request.headers,
        mcp.Caller(request.shop_id, request.request_id, request.origin, request.plan),
        charge=lambda points: charge(MCP, request.shop_id, request.plan, points),
    )
    return Reply(answer.payload, answer.status, answer.headers)
