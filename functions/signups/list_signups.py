"""GET /back_in_stock/signups"""

from backinstock import deps
from backinstock.actions.signups import LIST
from backinstock.api.http import Request, route
from backinstock.models.signups import SignupList, SignupListQuery
from backinstock.services import signups


@route(LIST)
def handler(request: Request[SignupListQuery, None]) -> SignupList:
    return signups.list_signups(deps.waitlist(), request.shop_id, request.query)
