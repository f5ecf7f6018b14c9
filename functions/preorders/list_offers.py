"""GET /preorders/offers"""

from backinstock import deps
from backinstock.actions.preorders import LIST_OFFERS
from backinstock.api.http import Request, route
from backinstock.models.preorders import OfferList, OfferListQuery
from backinstock.services import offers


@route(LIST_OFFERS)
def handler(request: Request[OfferListQuery, None]) -> OfferList:
    return offers.list_offers(deps.offers(), request.shop_id, request.query)
