"""POST /back_in_stock/signups/bulk_notify: 200 when every send queued, 207 (same body) otherwise."""

from backinstock import deps
from backinstock.actions.signups import BULK_NOTIFY
from backinstock.api.http import Reply, Request, route
from backinstock.models.signups import BulkNotifyBody
from backinstock.services import signups


@route(BULK_NOTIFY)
def handler(request: Request[None, BulkNotifyBody]) -> Reply:
    result, all_queued = signups.bulk_notify(deps.waitlist(), request.shop_id, request.body)
    return Reply(result, 200 if all_queued else 207)
