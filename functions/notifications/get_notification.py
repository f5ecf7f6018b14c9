"""GET /back_in_stock/notifications/:id"""

from backinstock import deps
from backinstock.actions.notifications import GET
from backinstock.api.http import Request, route
from backinstock.models.signups import Notification
from backinstock.services import notifications


@route(GET)
def handler(request: Request[None, None]) -> Notification:
    return notifications.get_notification(deps.notifications(), request.shop_id, request.path_params["id"])
