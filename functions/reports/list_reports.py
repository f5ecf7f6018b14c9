"""GET /back_in_stock/reports"""

from backinstock.actions.reports import MANIFEST, PREFIX
from backinstock.api.http import Request, route
from backinstock.models.reporting import Manifest
from backinstock.services import manifest


@route(MANIFEST)
def handler(request: Request[None, None]) -> Manifest:
    return manifest.reports_under(PREFIX)
