"""POST /back_in_stock/signups"""

from backinstock import deps
from backinstock.actions.signups import CREATE
from backinstock.api.http import Request, route
from backinstock.models.signups import Signup, SignupCreate
from backinstock.services import signups


@route(CREATE)
def handler(request: Request[None, SignupCreate]) -> Signup:
    return signups.create_signup(deps.waitlist(), request.shop_id, request.body)
