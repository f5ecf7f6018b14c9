"""PATCH /back_in_stock/settings/alerts"""

from pydantic import BaseModel

from backinstock import deps
from backinstock.actions.settings import UPDATE_ALERTS
from backinstock.api.http import Request, route
from backinstock.models.settings import AlertsPatch
from backinstock.services import settings


@route(UPDATE_ALERTS)
def handler(request: Request[None, AlertsPatch]) -> BaseModel:
    return settings.update_settings(deps.shops(), request.shop_id, request.body, capability="alerts")
