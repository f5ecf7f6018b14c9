"""The API-key authorizer: an API Gateway Lambda REQUEST authorizer in AWS, and the same code in front of every
action in the local run.

API Gateway caches the result per token (see `infra_spec.AUTHORIZER_CACHE_SECONDS`), so the policy allows every
route of the API and carries the shop id in its context; actions read it from `requestContext.authorizer.shop_id`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
    parse_api_gateway_arn,
)

from backinstock import deps, observability
from backinstock.services.shops import identify

logger = observability.root_logger()


def shop_for(headers: dict[str, Any] | None) -> str | None:
    found = identity_for(headers)
    return found[0] if found else None


def identity_for(headers: dict[str, Any] | None) -> tuple[str, str | None] | None:
    """(shop id, plan) of the request's key: the context the authorizer passes to the action (the plan sets the
    shop's rate limit)."""
    return identify(deps.shops(), dict(headers or {}))


@logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = APIGatewayAuthorizerRequestEvent(event)
    found = identity_for(request.headers)
    if found is None:
        logger.info("rejected an API key")
        # API Gateway turns exactly this message into its UNAUTHORIZED gateway response (our 401 envelope).
        raise Exception("Unauthorized")
    shop_id, plan = found
    arn = parse_api_gateway_arn(request.method_arn)
    policy = APIGatewayAuthorizerResponse(
        principal_id=shop_id,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context={"shop_id": shop_id, "plan": plan or ""},
    )
    policy.allow_all_routes()
    return policy.asdict()
