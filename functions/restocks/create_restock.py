"""POST /back_in_stock/restocks"""

from backinstock import deps
from backinstock.actions.restocks import CREATE
from backinstock.api.http import Request, route
from backinstock.models.restocks import Restock, RestockCreate
from backinstock.services import restocks


@route(CREATE)
def handler(request: Request[None, RestockCreate]) -> Restock:
    return restocks.create_restock(deps.restock_book(), request.shop_id, request.body)
