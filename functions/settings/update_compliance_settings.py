"""PATCH /back_in_stock/settings/compliance"""

from pydantic import BaseModel

from backinstock import deps
from backinstock.actions.settings import UPDATE_COMPLIANCE
from backinstock.api.http import Request, route
from backinstock.models.settings import CompliancePatch
from backinstock.services import settings


@route(UPDATE_COMPLIANCE)
def handler(request: Request[None, CompliancePatch]) -> BaseModel:
    return settings.update_settings(deps.shops(), request.shop_id, request.body, capability="compliance")
