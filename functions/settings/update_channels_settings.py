"""PATCH /back_in_stock/settings/channels"""

from pydantic import BaseModel

from backinstock import deps
from backinstock.actions.settings import UPDATE_CHANNELS
from backinstock.api.http import Request, route
from backinstock.models.settings import ChannelsPatch
from backinstock.services import settings


@route(UPDATE_CHANNELS)
def handler(request: Request[None, ChannelsPatch]) -> BaseModel:
    return settings.update_settings(deps.shops(), request.shop_id, request.body, capability="channels")
