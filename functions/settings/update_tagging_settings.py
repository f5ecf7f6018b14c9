"""PATCH /back_in_stock/settings/tagging"""

from backinstock import deps
from backinstock.actions.settings import UPDATE_TAGGING
from backinstock.api.http import Request, route
from backinstock.services import settings


@route(UPDATE_TAGGING)
def handler(request: Request) -> object:
    return settings.update_settings(deps.shops(), request.shop_id, request.body, capability="tagging")
