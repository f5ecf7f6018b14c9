"""DELETE /back_in_stock/signups/:id"""

from backinstock import deps
from backinstock.actions.signups import DELETE
from backinstock.api.http import Request, route
from backinstock.models.signups import Deleted
from backinstock.services import signups


@route(DELETE)
def handler(request: Request[None, None]) -> Deleted:
    return signups.delete_signup(deps.waitlist(), request.shop_id, request.path_params["id"])
