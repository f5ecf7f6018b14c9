"""POST /back_in_stock/reports/products_in_demand/export"""

from backinstock import deps
from backinstock.actions.reports import EXPORT_PRODUCTS_IN_DEMAND
from backinstock.api.http import Request, route
from backinstock.models.reporting import ExportAccepted
from backinstock.models.reports import DemandExport
from backinstock.services import exports


@route(EXPORT_PRODUCTS_IN_DEMAND)
def handler(request: Request[None, DemandExport]) -> ExportAccepted:
    return exports.start(deps.exports(), deps.export_workflow(), request.shop_id, "products_in_demand", request.body)
