"""The API construct: one REST API, one Lambda function per registry action, one authorizer.

Everything here is a loop over `backinstock.registry.actions()`: an action added to the registry gets its function,
its least-privilege role and its routes without a line changing in this file. The functions themselves (role,
grants and environment per `Access`) come from `stacks.constructs.functions.FunctionFactory`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from backinstock import infra_spec, registry
from backinstock.api.http import not_found_message
from backinstock.registry import Access, Action, Auth
from stacks.constructs.functions import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, FunctionFactory
from stacks.nag import acknowledge

AUTHORIZER_HANDLER = "auth.authorizer"  # functions/auth/authorizer.py, `handler`

STAGE_NAME = "prod"
THROTTLE_RATE_LIMIT = 50  # steady requests per second, whole stage
THROTTLE_BURST_LIMIT = 100
ACCESS_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS

# The MCP transport speaks the protocol itself (no SDK import) but may load the handler of every tool it runs,
# in-process: more memory buys CPU for those first imports; the timeout stays under API Gateway's 29 s limit.
RUNS_ACTIONS_MEMORY_MB = 1024
RUNS_ACTIONS_TIMEOUT = Duration.seconds(25)


def effective_access(action: Action, actions: Iterable[Action]) -> frozenset[Access]:
    """What the action's function may touch: its own access, plus, for an action that runs other actions
    in-process (MCP), the union of theirs: the actions it can run are the MCP tools (`mcp_tool`), so the customer
    link pages (not tools) add nothing, and the MCP function never reads the link key."""
    if not action.runs_actions:
        return action.access
    runnable = (other.access for other in actions if other.mcp_tool and other.name != action.name)
    return frozenset().union(action.access, *runnable)


def construct_name(action_name: str) -> str:
    return "".join(part.capitalize() for part in action_name.split("_"))


def envelope(*messages: str, raw: str | None = None) -> str:
    """A gateway response body in the API's error envelope. Gateway response templates are not VTL: `$context`
    variables are substituted in place, nothing else is evaluated. `raw` is inserted unquoted (for
    `$context.error.messageString`, which API Gateway renders as a quoted JSON string)."""
    if raw is not None:
        return '{"errors":[' + raw + '],"request_id":"$context.requestId"}'
    return json.dumps({"errors": list(messages), "request_id": "$context.requestId"}, separators=(",", ":"))


# API Gateway's own answers, in the API's envelope. MISSING_AUTHENTICATION_TOKEN is what API Gateway answers for a
# route or method it does not have. `$context.path` is the request path as the client sent it: behind a custom
# domain (no base path) it is exactly the path the Lambda side reports; on the execute-api URL it starts with the
# stage (`/prod/api/v2/external/...`).
NOT_FOUND_TEMPLATE = envelope(not_found_message("$context.httpMethod", "$context.path"))
UNAUTHORIZED_TEMPLATE = envelope(infra_spec.UNAUTHORIZED_MESSAGE)
GENERIC_TEMPLATE = envelope(raw="$context.error.messageString")
GATEWAY_RESPONSES: tuple[tuple[str, apigw.ResponseType, str | None, str], ...] = (
    ("Unauthorized", apigw.ResponseType.UNAUTHORIZED, "401", UNAUTHORIZED_TEMPLATE),
    ("AccessDenied", apigw.ResponseType.ACCESS_DENIED, "401", UNAUTHORIZED_TEMPLATE),
    ("NotFound", apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", NOT_FOUND_TEMPLATE),
    ("Default4xx", apigw.ResponseType.DEFAULT_4_XX, None, GENERIC_TEMPLATE),
    ("Default5xx", apigw.ResponseType.DEFAULT_5_XX, None, GENERIC_TEMPLATE),
)

ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTimeEpoch",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "path": "$context.path",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "errorType": "$context.error.responseType",
    "errorMessage": "$context.error.message",
    "authorizerError": "$context.authorizer.error",
    "shopId": "$context.authorizer.shop_id",
    "xrayTraceId": "$context.xrayTraceId",
}


class Api(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, functions: FunctionFactory) -> None:
        super().__init__(scope, construct_id)
        self._functions = functions

        access_logs = logs.LogGroup(self, "AccessLogs", retention=ACCESS_LOG_RETENTION)
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name="backinstock",
            description="Back-in-stock API, v2 external surface",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Stage logging needs the account-level CloudWatch role; the stack brings it rather than assuming it.
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                tracing_enabled=True,
                throttling_rate_limit=THROTTLE_RATE_LIMIT,
                throttling_burst_limit=THROTTLE_BURST_LIMIT,
            ),
        )
        for response_id, response_type, status, template in GATEWAY_RESPONSES:
            self.rest_api.add_gateway_response(
                response_id,
                type=response_type,
                status_code=status,
                templates={"application/json": template},
            )

        self.authorizer_function = self._function(
            "Authorizer",
            handler=AUTHORIZER_HANDLER,
            access=frozenset({Access.TABLE_READ}),
            description="Request authorizer: API key (X-Auth-Token or Bearer) -> shop",
        )
        self._authorizers: dict[Auth, apigw.RequestAuthorizer] = {}

        actions = registry.actions()
        self.functions: dict[str, lambda_.Function] = {}
        for action in actions:
            function = self._function(
                construct_name(action.name),
                handler=action.handler,
                entry_point=action.entry_point,
                access=effective_access(action, actions),
                description=f"{action.method} {action.gateway_path()}: {action.description}",
                runs_actions=action.runs_actions,
            )
            self.functions[action.name] = function
            # One permission per function, for this API (any of its routes): one per route and help path would take
            # dozens of the stack's 500 CloudFormation resources. The function serves only its own routes.
            integration = apigw.LambdaIntegration(function, allow_test_invoke=False, scope_permission_to_method=False)
            for path in action.all_paths:
                resource = self.rest_api.root.resource_for_path(action.gateway_path(path))
                resource.add_method(action.method, integration, **self._auth_options(action))

        self._acknowledge()

    def _function(
        self,
        name: str,
        *,
        handler: str,
        access: frozenset[Access],
        description: str,
        runs_actions: bool = False,
        entry_point: str | None = None,
    ) -> lambda_.Function:
        return self._functions.function(
            self,
            name,
            handler=handler,
            entry_point=entry_point,
            access=access,
            description=description,
            role_description=f"backinstock {handler}: least privilege from the action registry",
            memory_size=RUNS_ACTIONS_MEMORY_MB if runs_actions else DEFAULT_MEMORY_MB,
            timeout=RUNS_ACTIONS_TIMEOUT if runs_actions else DEFAULT_TIMEOUT,
        )

    def _auth_options(self, action: Action) -> dict[str, Any]:
        if action.auth is Auth.PUBLIC:
            return {"authorization_type": apigw.AuthorizationType.NONE}
        return {"authorization_type": apigw.AuthorizationType.CUSTOM, "authorizer": self._authorizer(action.auth)}

    def _authorizer(self, auth: Auth) -> apigw.RequestAuthorizer:
        """One RequestAuthorizer per identity header, all backed by the one authorizer function. Created on first
        use: API Gateway rejects an authorizer that no method uses."""
        if auth not in self._authorizers:
            self._authorizers[auth] = apigw.RequestAuthorizer(
                self,
                f"{construct_name(auth.name.lower())}Authorizer",
                handler=self.authorizer_function,
                identity_sources=[apigw.IdentitySource.header(auth.value)],
                results_cache_ttl=Duration.seconds(infra_spec.AUTHORIZER_CACHE_SECONDS),
                authorizer_name=f"backinstock-{auth.name.lower().replace('_', '-')}",
            )
        return self._authorizers[auth]

    def _acknowledge(self) -> None:
        api = self.rest_api
        acknowledge(
            api,
            "AwsSolutions-APIG2",
            "Requests are validated in the function against the action's pydantic models, which report every "
            "problem at once in the API's error envelope (422); API Gateway's validator would answer 400 in its own "
            "shape.",
        )
        acknowledge(
            api,
            "AwsSolutions-COG4",
            "Callers are Shopify shops and their agents authenticating with the shop's API key (X-Auth-Token or "
            "Bearer), checked by the Lambda request authorizer; there are no Cognito users.",
        )
        acknowledge(
            api.deployment_stage,
            "AwsSolutions-APIG3",
            "No WAF web ACL yet: the stage is throttled, and every route requires an API key but the public ones, "
            "which are the OpenAPI document, the customer links (signed, expiring tokens) and Shopify's webhooks "
            "(HMAC-signed bodies). Attach a web ACL when traffic justifies its cost.",
        )
        cloudwatch_role = api.node.try_find_child("CloudWatchRole")
        if cloudwatch_role is not None:
            acknowledge(
                cloudwatch_role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                "The account-level role API Gateway uses to write stage logs; AWS maintains this managed policy for "
                "exactly this purpose.",
            )
        for action in registry.actions():
            if action.auth is not Auth.PUBLIC:
                continue
            for path in action.all_paths:
                resource = api.root.resource_for_path(action.gateway_path(path))
                method = resource.node.find_child(action.method)
                acknowledge(
                    method,
                    "AwsSolutions-APIG4",
                    f"{action.name} is public by design (registry: Auth.PUBLIC): {action.description}.",
                )
