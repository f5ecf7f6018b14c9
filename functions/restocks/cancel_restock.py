"""POST /back_in_stock/restocks/:id/cancel"""

from backinstock import deps
from backinstock.actions.restocks import CANCEL
from backinstock.api.http import Request, route
from backinstock.models.restocks import Restock
from backinstock.services import restocks


@route(CANCEL)
def handler(request: Request[None, None]) -> Restock:
    return restocks.cancel_restock(deps.restock_book(), request.shop_id, request.path_params["id"])
