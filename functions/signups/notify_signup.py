"""POST /back_in_stock/signups/:id/notify"""

from backinstock import deps
from backinstock.actions.signups import NOTIFY
from backinstock.api.http import Request, route
from backinstock.models.signups import NotifyBody, Queued
from backinstock.services import signups


@route(NOTIFY)
def handler(request: Request[None, NotifyBody]) -> Queued:
    return signups.notify(deps.waitlist(), request.shop_id, request.path_params["id"], request.body)
