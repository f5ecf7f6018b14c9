"""POST /back_in_stock/optin/confirm?token=...: the customer confirms a double opt-in (public, HTML)."""

from backinstock import deps
from backinstock.actions.signups import CONFIRM_OPTIN
from backinstock.api.http import HTML, Reply, Request, route
from backinstock.models.links import LinkQuery
from backinstock.services import customer_links


@route(CONFIRM_OPTIN)
def handler(request: Request[LinkQuery, None]) -> Reply:
    status, page = customer_links.confirm_optin(deps.signups(), deps.link_secret(), request.query.token)
    return Reply(page, status, content_type=HTML)
