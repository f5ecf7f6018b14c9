"""GET /back_in_stock/reports/signups"""

from backinstock import deps
from backinstock.actions.reports import SIGNUPS
from backinstock.api.http import Request, route
from backinstock.services import reports


@route(SIGNUPS)
def handler(request: Request) -> object:
    return reports.signups(deps.reports(), request.shop_id, request.query)
