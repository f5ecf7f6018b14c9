"""GET /back_in_stock/unsubscribe?token=...: the unsubscribe page; its button POSTs (public, HTML)."""

from backinstock.actions.signups import UNSUBSCRIBE_PAGE
from backinstock.api.http import HTML, Reply, Request, route
from backinstock.services import customer_links, links


@route(UNSUBSCRIBE_PAGE)
def handler(request: Request) -> Reply:
    token = request.query.token
    status, page = customer_links.unsubscribe_form(links.signing_key(), token, f"?token={token}")
    return Reply(page, status, content_type=HTML)
