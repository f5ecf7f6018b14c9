"""GET /back_in_stock/reports/products_in_demand"""

from backinstock import deps
from backinstock.actions.reports import PRODUCTS_IN_DEMAND
from backinstock.api.http import Request, route
from backinstock.models.reports import DemandQuery, DemandReport
from backinstock.services import reports


@route(PRODUCTS_IN_DEMAND)
def handler(request: Request[DemandQuery, None]) -> DemandReport:
    return reports.products_in_demand(deps.reports(), request.shop_id, request.query)
