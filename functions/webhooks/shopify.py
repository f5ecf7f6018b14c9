"""POST /webhooks/shopify (public: authenticated by the webhook's HMAC signature)"""

from backinstock import deps
from backinstock.actions.webhooks import SHOPIFY_WEBHOOK
from backinstock.api.http import Request, route
from backinstock.api.validation import MAX_BODY_BYTES
from backinstock.services import webhooks


@route(SHOPIFY_WEBHOOK)
def handler(request: Request[None, None]) -> object:
    return webhooks.receive(deps.intake(), dict(request.headers), request.raw_body, max_bytes=MAX_BODY_BYTES)
