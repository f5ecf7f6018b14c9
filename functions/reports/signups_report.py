"""GET /back_in_stock/reports/signups"""

from backinstock import deps
from backinstock.actions.reports import SIGNUPS
from backinstock.api.http import Request, route
from backinstock.models.reports import SeriesQuery, SignupsReport
from backinstock.services import reports


@route(SIGNUPS)
def handler(request: Request[SeriesQuery, None]) -> SignupsReport:
    return reports.signups(deps.reports(), request.shop_id, request.query)
