"""POST /back_in_stock/signups/transfer"""

from backinstock import deps
from backinstock.actions.signups import TRANSFER
from backinstock.api.http import Request, route
from backinstock.models.signups import TransferAccepted, TransferBody
from backinstock.services import signups


@route(TRANSFER)
def handler(request: Request[None, TransferBody]) -> TransferAccepted:
    return signups.transfer(deps.waitlist(), request.shop_id, request.body)
