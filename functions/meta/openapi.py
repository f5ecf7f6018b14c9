"""GET /openapi.json (public)"""

from backinstock.actions.meta import OPENAPI
from backinstock.api.http import Request, route
from backinstock.services import openapi


@route(OPENAPI)
def handler(request: Request[None, None]) -> object:
    return openapi.document()
