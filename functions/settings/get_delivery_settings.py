"""GET /back_in_stock/settings/delivery"""

from pydantic import BaseModel

from backinstock import deps
from backinstock.actions.settings import GET_DELIVERY
from backinstock.api.http import Request, route
from backinstock.services import settings


@route(GET_DELIVERY)
def handler(request: Request[None, None]) -> BaseModel:
    return settings.get_settings(deps.shops(), request.shop_id, "delivery")
