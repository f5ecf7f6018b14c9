"""GET /back_in_stock/restocks"""

from backinstock import deps
from backinstock.actions.restocks import LIST
from backinstock.api.http import Request, route
from backinstock.models.restocks import RestockList, RestockListQuery
from backinstock.services import restocks


@route(LIST)
def handler(request: Request[RestockListQuery, None]) -> RestockList:
    return restocks.list_restocks(deps.restock_book(), request.shop_id, request.query)
