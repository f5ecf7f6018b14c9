"""POST /back_in_stock/reports/notifications/export"""

from backinstock import deps
from backinstock.actions.reports import EXPORT_NOTIFICATIONS
from backinstock.api.http import Request, route
from backinstock.models.reporting import ExportAccepted
from backinstock.models.reports import SeriesQuery
from backinstock.services import exports


@route(EXPORT_NOTIFICATIONS)
def handler(request: Request[None, SeriesQuery]) -> ExportAccepted:
    return exports.start(deps.exports(), deps.export_workflow(), request.shop_id, "notifications", request.body)
