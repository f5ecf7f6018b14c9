"""GET /back_in_stock/reports/notifications"""

from backinstock import deps
from backinstock.actions.reports import NOTIFICATIONS
from backinstock.api.http import Request, route
from backinstock.models.reports import NotificationsReport, SeriesQuery
from backinstock.services import reports


@route(NOTIFICATIONS)
def handler(request: Request[SeriesQuery, None]) -> NotificationsReport:
    return reports.notifications(deps.reports(), request.shop_id, request.query)
