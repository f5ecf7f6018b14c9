"""GET /back_in_stock/optin/confirm?token=...: the opt-in page; its button POSTs the confirmation (public, HTML)."""

from backinstock import deps
from backinstock.actions.signups import OPTIN_PAGE
from backinstock.api.http import HTML, Reply, Request, route
from backinstock.models.links import LinkQuery
from backinstock.services import customer_links


@route(OPTIN_PAGE)
def handler(request: Request[LinkQuery, None]) -> Reply:
    status, page = customer_links.optin_form(deps.link_secret(), request.query.token)
    return Reply(page, status, content_type=HTML)
