"""GET /back_in_stock/signups/:id"""

from backinstock import deps
from backinstock.actions.signups import GET
from backinstock.api.http import Request, route
from backinstock.models.signups import Signup
from backinstock.services import signups


@route(GET)
def handler(request: Request[None, None]) -> Signup:
    return signups.get_signup(deps.waitlist(), request.shop_id, request.path_params["id"])
