"""GET /openapi.json (public)"""

from backinstock.actions.meta import OPENAPI
from backinstock.api.http import Reply, Request, route
from backinstock.services import openapi


@route(OPENAPI)
def handler(request: Request[None, None]) -> Reply:
    status, text, headers = openapi.served(request.headers)
    return Reply(text, status, headers)
