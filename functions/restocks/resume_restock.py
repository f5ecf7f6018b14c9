"""POST /back_in_stock/restocks/:id/resume"""

from backinstock import deps
from backinstock.actions.restocks import RESUME
from backinstock.api.http import Request, route
from backinstock.models.restocks import Restock
from backinstock.services import restocks


@route(RESUME)
def handler(request: Request[None, None]) -> Restock:
    return restocks.resume_restock(deps.restock_book(), request.shop_id, request.path_params["id"])
