"""POST /back_in_stock/signups/export"""

from backinstock import deps
from backinstock.actions.signups import EXPORT
from backinstock.api.http import Request, route
from backinstock.models.reporting import ExportAccepted
from backinstock.models.signups import SignupExport
from backinstock.services import exports


@route(EXPORT)
def handler(request: Request[None, SignupExport]) -> ExportAccepted:
    return exports.start(deps.exports(), deps.export_workflow(), request.shop_id, EXPORT, request.body)
