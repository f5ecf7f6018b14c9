"""PATCH /back_in_stock/settings/tagging"""

from pydantic import BaseModel

from backinstock import deps
from backinstock.actions.settings import UPDATE_TAGGING
from backinstock.api.http import Request, route
from backinstock.models.settings import TaggingPatch
from backinstock.services import settings


@route(UPDATE_TAGGING)
def handler(request: Request[None, TaggingPatch]) -> BaseModel:
    return settings.update_settings(deps.shops(), request.shop_id, request.body, capability="tagging")
