"""GET /back_in_stock/reports/exports/:job_id"""

from backinstock import deps
from backinstock.actions.reports import GET_EXPORT
from backinstock.api.http import Request, route
from backinstock.models.reporting import ExportJob
from backinstock.services import exports


@route(GET_EXPORT)
def handler(request: Request[None, None]) -> ExportJob:
    return exports.get(deps.exports(), request.shop_id, request.path_params["job_id"], deps.sign_export)
