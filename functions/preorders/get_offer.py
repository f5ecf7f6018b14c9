"""GET /preorders/offers/:id"""

from backinstock import deps
from backinstock.actions.preorders import GET_OFFER
from backinstock.api.http import Request, route
from backinstock.models.preorders import Offer
from backinstock.services import offers


@route(GET_OFFER)
def handler(request: Request[None, None]) -> Offer:
    return offers.get_offer(deps.offers(), request.shop_id, request.path_params["id"])
