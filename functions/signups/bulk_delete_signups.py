"""POST /back_in_stock/signups/bulk_delete"""

from backinstock import deps
from backinstock.actions.signups import BULK_DELETE
from backinstock.api.http import Request, route
from backinstock.models.signups import BulkDeleteBody, BulkDeleted
from backinstock.services import signups


@route(BULK_DELETE)
def handler(request: Request[None, BulkDeleteBody]) -> BulkDeleted:
    return signups.bulk_delete(deps.waitlist(), request.shop_id, request.body)
