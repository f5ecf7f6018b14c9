"""PATCH /back_in_stock/settings/delivery"""

from pydantic import BaseModel

from backinstock import deps
from backinstock.actions.settings import UPDATE_DELIVERY
from backinstock.api.http import Request, route
from backinstock.models.settings import DeliveryPatch
from backinstock.services import settings


@route(UPDATE_DELIVERY)
def handler(request: Request[None, DeliveryPatch]) -> BaseModel:
    return settings.update_settings(deps.shops(), request.shop_id, request.body, capability="delivery")
