"""PATCH /back_in_stock/settings"""

from pydantic import BaseModel

from backinstock import deps
from backinstock.actions.settings import UPDATE_SETTINGS
from backinstock.api.http import Request, route
from backinstock.models.settings import SettingsPatch
from backinstock.services import settings


@route(UPDATE_SETTINGS)
def handler(request: Request[None, SettingsPatch]) -> BaseModel:
    return settings.update_settings(deps.shops(), request.shop_id, request.body)
