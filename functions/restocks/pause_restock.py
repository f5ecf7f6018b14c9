"""POST /back_in_stock/restocks/:id/pause"""

from backinstock import deps
from backinstock.actions.restocks import PAUSE
from backinstock.api.http import Request, route
from backinstock.models.restocks import Restock
from backinstock.services import restocks


@route(PAUSE)
def handler(request: Request[None, None]) -> Restock:
    return restocks.pause_restock(deps.restock_book(), request.shop_id, request.path_params["id"])
