"""GET /back_in_stock/reports/summary"""

from backinstock import deps
from backinstock.actions.reports import SUMMARY
from backinstock.api.http import Request, route
from backinstock.models.reports import ReportQuery, SummaryReport
from backinstock.services import reports


@route(SUMMARY)
def handler(request: Request[ReportQuery, None]) -> SummaryReport:
    return reports.summary(deps.reports(), request.shop_id, request.query)
