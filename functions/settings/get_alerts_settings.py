"""GET /back_in_stock/settings/alerts"""

from backinstock import deps
from backinstock.actions.settings import GET_ALERTS
from backinstock.api.http import Request, route
from backinstock.services import settings


@route(GET_ALERTS)
def handler(request: Request) -> object:
    return settings.get_settings(deps.shops(), request.shop_id, "alerts")
