"""GET /back_in_stock/unsubscribe?token=...: the unsubscribe page; its button POSTs (public, HTML)."""

from backinstock import deps
from backinstock.actions.signups import UNSUBSCRIBE_PAGE
from backinstock.api.http import HTML, Reply, Request, route
from backinstock.models.links import LinkQuery
from backinstock.services import customer_links


@route(UNSUBSCRIBE_PAGE)
def handler(request: Request[LinkQuery, None]) -> Reply:
    status, page = customer_links.unsubscribe_form(deps.link_secret(), request.query.token)
    return Reply(page, status, content_type=HTML)
