"""GET /back_in_stock/optin/confirm?token=...: the customer confirms a double opt-in (public, HTML)."""

from backinstock import deps
from backinstock.actions.signups import CONFIRM_OPTIN
from backinstock.api.http import HTML, Reply, Request, route
from backinstock.services import customer_links, links


@route(CONFIRM_OPTIN)
def handler(request: Request) -> Reply:
    status, page = customer_links.confirm_optin(deps.signups(), links.signing_key(), request.query.token)
    return Reply(page, status, content_type=HTML)
