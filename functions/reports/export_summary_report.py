"""POST /back_in_stock/reports/summary/export"""

from backinstock import deps
from backinstock.actions.reports import EXPORT_SUMMARY
from backinstock.api.http import Request, route
from backinstock.models.reporting import ExportAccepted
from backinstock.models.reports import ReportQuery
from backinstock.services import exports


@route(EXPORT_SUMMARY)
def handler(request: Request[None, ReportQuery]) -> ExportAccepted:
    return exports.start(deps.exports(), deps.export_workflow(), request.shop_id, "summary", request.body)
