"""GET /back_in_stock/restocks/:id"""

from backinstock import deps
from backinstock.actions.restocks import GET
from backinstock.api.http import Request, route
from backinstock.models.restocks import Restock
from backinstock.services import restocks


@route(GET)
def handler(request: Request[None, None]) -> Restock:
    return restocks.get_restock(deps.restock_book(), request.shop_id, request.path_params["id"])
