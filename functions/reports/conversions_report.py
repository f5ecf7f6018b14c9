"""GET /back_in_stock/reports/conversions"""

from backinstock import deps
from backinstock.actions.reports import CONVERSIONS
from backinstock.api.http import Request, route
from backinstock.models.reports import ConversionsReport, SeriesQuery
from backinstock.services import reports


@route(CONVERSIONS)
def handler(request: Request[SeriesQuery, None]) -> ConversionsReport:
    return reports.conversions(deps.reports(), request.shop_id, request.query)
