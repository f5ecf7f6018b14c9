"""GET /back_in_stock/notifications"""

from backinstock import deps
from backinstock.actions.notifications import LIST
from backinstock.api.http import Request, route
from backinstock.models.signups import NotificationList, NotificationListQuery
from backinstock.services import notifications


@route(LIST)
def handler(request: Request[NotificationListQuery, None]) -> NotificationList:
    return notifications.list_notifications(
        deps.notifications(), request.shop_id, request.query, rollups=deps.rollups()
    )
