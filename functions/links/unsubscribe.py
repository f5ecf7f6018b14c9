"""POST /back_in_stock/unsubscribe?token=...: unsubscribe the signup (public, HTML; RFC 8058 one-click too)."""

from backinstock import deps
from backinstock.actions.signups import UNSUBSCRIBE
from backinstock.api.http import HTML, Reply, Request, route
from backinstock.models.links import LinkQuery
from backinstock.services import customer_links


@route(UNSUBSCRIBE)
def handler(request: Request[LinkQuery, None]) -> Reply:
    status, page = customer_links.unsubscribe(deps.signups(), deps.link_secret(), request.query.token)
    return Reply(page, status, content_type=HTML)
