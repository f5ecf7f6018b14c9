"""DELETE /back_in_stock/reports/exports/:job_id"""

from backinstock import deps
from backinstock.actions.reports import CANCEL_EXPORT
from backinstock.api.http import Request, route
from backinstock.models.reporting import ExportJob
from backinstock.services import exports


@route(CANCEL_EXPORT)
def handler(request: Request[None, None]) -> ExportJob:
    job_id = request.path_params["job_id"]
    return exports.cancel(deps.exports(), deps.export_workflow(), request.shop_id, job_id, deps.abort_export)
