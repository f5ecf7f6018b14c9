"""The API construct: one REST API, its routes (one per path of every registry action), one authorizer.

Everything here is a loop over `backinstock.registry.actions()`: an action added to the registry gets its routes
without a line changing in this file. Its function (built by `action_function`, with the role, grants and
environment its `Access` implies, through `stacks.constructs.functions.FunctionFactory`) lives in the nested stack of
its registry resource (`stacks.action_stacks`). Its routes live where `stacks.constructs.routes` places them: in
that nested stack too, or, for the resources deployed before the nested stacks existed, here in the main stack. The
REST API, its stage, deployment, authorizers and gateway responses are here whatever the routes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aws_cdk import Duration, Size
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from backinstock import infra_spec, registry
from backinstock.api.http import gateway_error_body, method_not_allowed_message, not_found_message
from backinstock.registry import Access, Action, Auth
from stacks.constructs.functions import CHECKOV_LOG_GROUP_REASON, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, FunctionFactory
from stacks.constructs.routes import Route, RoutePlacement
from stacks.nag import acknowledge, checkov_skip

AUTHORIZER_HANDLER = "auth.authorizer"  # functions/auth/authorizer.py, `handler`

STAGE_NAME = "prod"
# The stage's throttle: the outer guard for every shop together (each shop has its own limit in the functions,
# `services/ratelimits.py`: 360 points per 60 s, at most 6 requests/s sustained). 1,000 requests/s is a tenth of the
# account's regional API Gateway quota (10,000 rps, burst 5,000, shared by every API of the account and region)
# and what ~1,000 concurrent Lambda executions (the account's default) serve at up to 1 s a request. See
# docs/DEPLOY.md, "Throttling and rate limits".
THROTTLE_RATE_LIMIT = 1_000  # steady requests per second, whole stage
THROTTLE_BURST_LIMIT = 2_000
ACCESS_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS

# The MCP transport speaks the protocol itself (no SDK import) but may load the handler of every tool it runs,
# in-process: more memory buys CPU for those first imports; the timeout stays under API Gateway's 29 s limit.
RUNS_ACTIONS_MEMORY_MB = 1024
RUNS_ACTIONS_TIMEOUT = Duration.seconds(25)


def effective_access(action: Action, actions: Iterable[Action]) -> frozenset[Access]:
    """What the action's function may touch: its own access, plus, for an action that runs other actions
    in-process (MCP), the union of theirs: the actions it can run are the MCP tools (`mcp_tool`), so the customer
    link pages (not tools) add nothing, and the MCP function never reads the link key. A route limited per shop
    (`rate_limited`) also takes points from the limiter's table (`Access.RATE_LIMIT`)."""
    own = action.access | ({Access.RATE_LIMIT} if action.rate_limited else set())
    if not action.runs_actions:
        return own
    runnable = (other.access for other in actions if other.mcp_tool and other.name != action.name)
    return frozenset().union(own, *runnable)


def construct_name(action_name: str) -> str:
    return "".join(part.capitalize() for part in action_name.split("_"))


def action_function(
    functions: FunctionFactory, scope: Construct, action: Action, actions: Sequence[Action]
) -> lambda_.Function:
    """The function of one registry action, built into `scope`: its `effective_access` (among `actions`), and more
    memory and time for an action that runs others in-process (MCP)."""
    return functions.function(
        scope,
        construct_name(action.name),
        handler=action.handler,
        entry_point=action.entry_point,
        access=effective_access(action, actions),
        description=f"{action.method} {action.gateway_path()}: {action.description}",
        role_description=f"backinstock {action.handler}: least privilege from the action registry",
        memory_size=RUNS_ACTIONS_MEMORY_MB if action.runs_actions else DEFAULT_MEMORY_MB,
        timeout=RUNS_ACTIONS_TIMEOUT if action.runs_actions else DEFAULT_TIMEOUT,
    )


def _construct_path(path: str) -> str:
    """A construct ID for an API path (IDs cannot contain `/`): `/api/v2/x` -> `api.v2.x`."""
    return path.strip("/").replace("/", ".")


def envelope(code: str, message: str | None = None, *, raw: str | None = None) -> str:
    """A gateway response body in the API's error envelope (`api.http.gateway_error_body`: `errors`,
    `error_details`, `request_id`). Gateway response templates are not VTL: `$context` variables are substituted in
    place, nothing else is evaluated. `raw` is inserted unquoted (for `$context.error.messageString`, which API
    Gateway renders as a quoted JSON string)."""
    request_id = "$context.requestId"
    if raw is None:
        return json.dumps(gateway_error_body(code, message or "", request_id), separators=(",", ":"))
    placeholder = "@@messageString@@"
    text = json.dumps(gateway_error_body(code, placeholder, request_id), separators=(",", ":"))
    return text.replace(json.dumps(placeholder), raw)


# API Gateway's own answers, in the API's envelope. MISSING_AUTHENTICATION_TOKEN is what API Gateway answers for a
# route or method it does not have. `$context.path` is the request path as the client sent it: behind a custom
# domain (no base path) it is exactly the path the Lambda side reports; on the execute-api URL it starts with the
# stage (`/prod/api/v2/external/...`).
NOT_FOUND_TEMPLATE = envelope("not_found", not_found_message("$context.httpMethod", "$context.path", nearest=False))
UNAUTHORIZED_TEMPLATE = envelope("unauthorized", infra_spec.UNAUTHORIZED_MESSAGE)
TOO_LARGE_TEMPLATE = envelope("payload_too_large", infra_spec.GATEWAY_TOO_LARGE_MESSAGE)
CLIENT_ERROR_TEMPLATE = envelope("request_rejected", raw="$context.error.messageString")
SERVER_ERROR_TEMPLATE = envelope("gateway_error", raw="$context.error.messageString")
NOT_ALLOWED_REASON = (
    "The 405 answer to a method no action declares on this path: a mock integration that runs nothing and returns "
    "only the error envelope with Allow, whoever asks."
)


def method_not_allowed_template(allowed: list[str]) -> str:
    """The ANY method's answer body (a VTL template: `$context` is evaluated), as the local server's 405."""
    return envelope("method_not_allowed", method_not_allowed_message("$context.httpMethod", allowed))


GATEWAY_RESPONSES: tuple[tuple[str, apigw.ResponseType, str | None, str], ...] = (
    ("Unauthorized", apigw.ResponseType.UNAUTHORIZED, "401", UNAUTHORIZED_TEMPLATE),
    ("AccessDenied", apigw.ResponseType.ACCESS_DENIED, "401", UNAUTHORIZED_TEMPLATE),
    ("NotFound", apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", NOT_FOUND_TEMPLATE),
    ("TooLarge", apigw.ResponseType.REQUEST_TOO_LARGE, "413", TOO_LARGE_TEMPLATE),
    ("Default4xx", apigw.ResponseType.DEFAULT_4_XX, None, CLIENT_ERROR_TEMPLATE),
    ("Default5xx", apigw.ResponseType.DEFAULT_5_XX, None, SERVER_ERROR_TEMPLATE),
)

COG4_REASON = (
    "Callers are Shopify shops and their agents authenticating with the shop's API key (X-Auth-Token or Bearer), "
    "checked by the Lambda request authorizer; there are no Cognito users."
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
    """`action_functions`: action name -> its function, for every registry action (wherever it is built).
    `route_stacks`: registry resource -> the nested stack its routes go in (when `routes.stack_of` says they leave
    the main stack)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        action_functions: Mapping[str, lambda_.Function],
        route_stacks: Mapping[str, Construct],
    ) -> None:
        super().__init__(scope, construct_id)
        self._route_stacks = route_stacks

        access_logs = logs.LogGroup(self, "AccessLogs", retention=ACCESS_LOG_RETENTION)
        checkov_skip(access_logs, "CKV_AWS_158", CHECKOV_LOG_GROUP_REASON)
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name="backinstock",
            description="Back-in-stock API, v2 external surface",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # gzip (for a client that sends Accept-Encoding) above 10 KB: the public openapi.json (~560 KB), long
            # pages and reports; small answers stay as they are.
            min_compression_size=Size.kibibytes(10),
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
                # the functions' headers on API Gateway's own answers too (401, 403, 404, 429, 5xx: all JSON)
                response_headers={name: f"'{value}'" for name, value in infra_spec.JSON_HEADERS.items()},
            )

        self.authorizer_function = functions.function(
            self,
            "Authorizer",
            handler=AUTHORIZER_HANDLER,
            access=frozenset({Access.TABLE_READ}),
            description="Request authorizer: API key (X-Auth-Token or Bearer) -> shop",
            role_description=f"backinstock {AUTHORIZER_HANDLER}: least privilege from the action registry",
        )
        self._authorizers: dict[Auth, apigw.RequestAuthorizer] = {}

        missing = [a.name for a in registry.actions() if a.name not in action_functions]
        if missing:
            raise RuntimeError(f"no function for the registry actions {missing}")
        self.functions: dict[str, lambda_.Function] = {a.name: action_functions[a.name] for a in registry.actions()}
        integrations = {name: self._integration(function) for name, function in self.functions.items()}

        self.placement = RoutePlacement(registry.actions())
        self._paths: dict[str, apigw.IResource] = {}
        self._routes_scopes: dict[str, Construct] = {}
        # (method, path) -> its Method, wherever it lives.
        self.methods: dict[tuple[str, str], apigw.Method] = {
            (route.method, route.path): self._method(route, integrations[route.action.name])
            for route in self.placement.routes
        }
        # A method no action declares, on a path that has some: API Gateway would answer 403 (its "missing
        # authentication token" for an unknown route, which the NotFound gateway response turns into a 404). An ANY
        # method answers it instead, as the local server does: 405, the envelope, and `Allow` (API Gateway prefers a
        # path's declared methods to ANY). Unknown paths keep the 404.
        declared: dict[str, set[str]] = {}
        for route in self.placement.routes:
            declared.setdefault(route.path, set()).add(route.method)
        self.not_allowed: dict[str, apigw.Method] = {
            path: self._not_allowed(path, sorted(methods)) for path, methods in sorted(declared.items())
        }
        self._acknowledge()

    def _not_allowed(self, path: str, allowed: list[str]) -> apigw.Method:
        """The path's ANY method: a mock integration that answers 405 with `Allow` and the API's error envelope."""
        headers = {"Allow": ", ".join(allowed), **infra_spec.JSON_HEADERS}
        integration = apigw.MockIntegration(
            request_templates={"application/json": '{"statusCode": 405}'},
            passthrough_behavior=apigw.PassthroughBehavior.WHEN_NO_MATCH,
            integration_responses=[
                apigw.IntegrationResponse(  # no selection pattern: whatever the mock answers
                    status_code="405",
                    response_templates={"application/json": method_not_allowed_template(allowed)},
                    response_parameters={f"method.response.header.{k}": f"'{v}'" for k, v in headers.items()},
                )
            ],
        )
        options: dict[str, Any] = {
            "authorization_type": apigw.AuthorizationType.NONE,
            "method_responses": [
                apigw.MethodResponse(
                    status_code="405", response_parameters={f"method.response.header.{k}": True for k in headers}
                )
            ],
        }
        # On the path resource, in its stack: the main stack's, or the nested stack whose routes alone are under it.
        method = self._path(path).add_method("ANY", integration, **options)
        acknowledge(method, "AwsSolutions-APIG4", NOT_ALLOWED_REASON)
        checkov_skip(method, "CKV_AWS_59", NOT_ALLOWED_REASON)
        return method

    def _method(self, route: Route, integration: apigw.Integration) -> apigw.Method:
        """The route's method, in its stack. On a path resource of the same stack, the usual `add_method` (in the
        main stack this keeps the logical IDs methods always had); on a path resource the main stack shares with
        other stacks, a Method built in the route's nested stack."""
        resource = self._path(route.path)
        options = self._auth_options(route.action)
        stack = self.placement.route_stack(route)
        if stack == self.placement.path_stack(route.path):
            return resource.add_method(route.method, integration, **options)
        return apigw.Method(
            self._routes_scope(stack),
            f"{route.method}.{_construct_path(route.path)}",
            resource=resource,
            http_method=route.method,
            integration=integration,
            options=apigw.MethodOptions(**options),
        )

    def _path(self, path: str) -> apigw.IResource:
        """The path resource of `path`, created (parents first) in the stack `RoutePlacement` gives it: under its
        parent when both are in the same stack (as `resource_for_path` does, so main-stack path resources keep their
        logical IDs), else, for the top of a nested stack's subtree, in that stack's `Routes` construct."""
        if path not in self._paths:
            parent_path, part = path.rsplit("/", 1)
            parent = self._path(parent_path) if parent_path else self.rest_api.root
            stack = self.placement.path_stack(path)
            if stack == (self.placement.path_stack(parent_path) if parent_path else None):
                self._paths[path] = parent.add_resource(part)
            else:
                self._paths[path] = apigw.Resource(
                    self._routes_scope(stack), _construct_path(path), parent=parent, path_part=part
                )
        return self._paths[path]

    def _routes_scope(self, resource: str | None) -> Construct:
        """The `Routes` construct of a registry resource's nested stack (created on first use)."""
        if resource is None:
            raise RuntimeError("main-stack routes are built on their path resources")
        if resource not in self._routes_scopes:
            scope = Construct(self._route_stacks[resource], "Routes")
            # The same reason as on the REST API (acknowledgments apply to a construct and what is under it).
            acknowledge(scope, "AwsSolutions-COG4", COG4_REASON)
            self._routes_scopes[resource] = scope
        return self._routes_scopes[resource]

    def _integration(self, function: lambda_.IFunction) -> apigw.Integration:
        """The Lambda proxy integration `LambdaIntegration` builds, and one permission per function for this API
        (any of its routes): one per route and help path would take dozens of CloudFormation's 500 resources a
        stack, and the function serves only its own routes anyway. The permission is added on the function, so it
        lives in the function's stack: `LambdaIntegration` would put it here, in the API's (main) stack."""
        function.add_permission(
            "ApiPermission",
            principal=iam.ServicePrincipal("apigateway.amazonaws.com"),
            source_arn=self.rest_api.arn_for_execute_api(),
        )
        return apigw.AwsIntegration(
            proxy=True,
            service="lambda",
            path=f"2015-03-31/functions/{function.function_arn}/invocations",
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
        acknowledge(api, "AwsSolutions-COG4", COG4_REASON)
        acknowledge(
            api.deployment_stage,
            "AwsSolutions-APIG3",
            "No WAF web ACL yet: the stage is throttled, and every route requires an API key but the public ones, "
            "which are the OpenAPI document, the customer links (signed, expiring tokens) and Shopify's webhooks "
            "(HMAC-signed bodies). Attach a web ACL when traffic justifies its cost.",
        )
        checkov_skip(
            api.deployment_stage,
            "CKV_AWS_120",
            "No API Gateway cache: answers are per shop and change with every write (a cache keyed on the path would "
            "serve one shop's answer to another unless keyed on the API key); report reads are already O(buckets).",
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
        for route in self.placement.routes:
            if route.action.auth is Auth.PUBLIC:
                acknowledge(
                    self.methods[(route.method, route.path)],
                    "AwsSolutions-APIG4",
                    f"{route.action.name} is public by design (registry: Auth.PUBLIC): {route.action.description}.",
                )
                checkov_skip(
                    self.methods[(route.method, route.path)],
                    "CKV_AWS_59",
                    f"{route.action.name} is public by design (registry: Auth.PUBLIC): a signed token, an HMAC or "
                    "nothing secret (the OpenAPI document) stands in for the API key.",
                )
