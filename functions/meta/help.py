"""GET /help and GET <resource path>/help"""

from backinstock.actions.meta import HELP
from backinstock.api.http import Request, route
from backinstock.models.meta import HelpQuery, HelpResponse
from backinstock.services import help as help_service


@route(HELP)
def handler(request: Request[HelpQuery, None]) -> HelpResponse:
    if help_service.is_v1(request.path):
        return help_service.v1_help(request.query.prefix or help_service.prefix_of(request.path))
    prefix = request.query.prefix or help_service.prefix_of(request.path)
    return help_service.help_for(prefix)
