"""GET /back_in_stock/reports"""

from backinstock.actions.reports import MANIFEST, PREFIX
from backinstock.api.http import Request, route
from backinstock.services import manifest


@route(MANIFEST)
def handler(request: Request) -> object:
    return manifest.reports_under(PREFIX)
