"""POST /back_in_stock/signups/transfer"""

from backinstock import deps
from backinstock.actions.signups import TRANSFER
from backinstock.api.http import Request, route
from backinstock.services import signups


@route(TRANSFER)
def handler(request: Request) -> object:
    return signups.transfer(deps.waitlist(), request.shop_id, request.body)
