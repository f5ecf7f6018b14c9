"""The API construct: one REST API, one Lambda function per registry action, one authorizer.

Everything here is a loop over `backinstock.registry.actions()`: an action added to the registry gets its function,
its least-privilege role and its routes without a line changing in this file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from backinstock import config, infra_spec, registry
from backinstock.api.http import not_found_message
from backinstock.registry import Access, Action, Auth
from stacks.constructs.layers import ARCHITECTURE, REPO_ROOT, RUNTIME, Layers
from stacks.nag import acknowledge

FUNCTIONS_DIR = REPO_ROOT / "functions"
FUNCTION_EXCLUDES = ["**/__pycache__", "**/*.pyc"]
AUTHORIZER_HANDLER = "auth.authorizer"  # functions/auth/authorizer.py, `handler`

STAGE_NAME = "prod"
THROTTLE_RATE_LIMIT = 50  # steady requests per second, whole stage
THROTTLE_BURST_LIMIT = 100
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
ACCESS_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS

DEFAULT_MEMORY_MB = 512
DEFAULT_TIMEOUT = Duration.seconds(10)
# The MCP transport speaks the protocol itself (no SDK import) but may load the handler of every tool it runs,
# in-process: more memory buys CPU for those first imports; the timeout stays under API Gateway's 29 s limit.
RUNS_ACTIONS_MEMORY_MB = 1024
RUNS_ACTIONS_TIMEOUT = Duration.seconds(25)

# Least privilege on the table, per `Access`. Never Scan. TransactWriteItems needs no action of its own: DynamoDB
# authorizes each item of a transaction against the per-item action (PutItem, UpdateItem, DeleteItem,
# ConditionCheckItem).
TABLE_ACTIONS: Mapping[Access, tuple[str, ...]] = {
    Access.TABLE_READ: (
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:ConditionCheckItem",
    ),
    Access.TABLE_WRITE: (
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    ),
}


def effective_access(action: Action, actions: Iterable[Action]) -> frozenset[Access]:
    """What the action's function may touch: its own access, plus, for an action that runs other actions
    in-process (MCP), the union of theirs."""
    if not action.runs_actions:
        return action.access
    return frozenset().union(action.access, *(other.access for other in actions if other.name != action.name))


def table_actions(access: frozenset[Access]) -> list[str]:
    """IAM actions for an access set. Writing implies reading (conditional writes, read-modify-write)."""
    if Access.TABLE_WRITE in access:
        access = access | {Access.TABLE_READ}
    return [name for kind in (Access.TABLE_READ, Access.TABLE_WRITE) if kind in access for name in TABLE_ACTIONS[kind]]


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
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        index_names: Iterable[str],
        layers: Layers,
        log_level: str = "INFO",
    ) -> None:
        super().__init__(scope, construct_id)
        self._table = table
        self._index_arns = [f"{table.table_arn}/index/{name}" for name in index_names]
        self._layers = layers
        self._base_env = config.BaseEnv(LOG_LEVEL=log_level).model_dump()
        self._code = lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=FUNCTION_EXCLUDES)

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
                access=effective_access(action, actions),
                description=f"{action.method} {action.gateway_path()}: {action.description}",
                runs_actions=action.runs_actions,
            )
            self.functions[action.name] = function
            integration = apigw.LambdaIntegration(function, allow_test_invoke=False)
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
    ) -> lambda_.Function:
        log_group = logs.LogGroup(self, f"{name}Logs", retention=LOG_RETENTION)
        role = iam.Role(
            self,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"backinstock {handler}: least privilege from the action registry",
        )
        log_group.grant_write(role)
        environment = dict(self._base_env)
        if access:
            environment["TABLE_NAME"] = self._table.table_name
            self._grant_table(role, access)
        function = lambda_.Function(
            self,
            f"{name}Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=f"{handler}.handler",
            code=self._code,
            layers=self._layers.all,
            environment=environment,
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            memory_size=RUNS_ACTIONS_MEMORY_MB if runs_actions else DEFAULT_MEMORY_MB,
            timeout=RUNS_ACTIONS_TIMEOUT if runs_actions else DEFAULT_TIMEOUT,
            description=description[:256],
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) supports no resource-level "
            "permissions; it is the only wildcard in this role.",
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Pinned to Python 3.12: the dependencies layer is built for cp312 (pip --python-version 3.12) and the "
            "code is tested on it; moving runtime is a deliberate change of both.",
        )
        return function

    def _grant_table(self, role: iam.Role, access: frozenset[Access]) -> None:
        reads = [a for a in table_actions(access) if a in TABLE_ACTIONS[Access.TABLE_READ]]
        writes = [a for a in table_actions(access) if a in TABLE_ACTIONS[Access.TABLE_WRITE]]
        # Reads (Query) reach the indexes; writes only ever address the base table.
        role.add_to_policy(iam.PolicyStatement(actions=reads, resources=[self._table.table_arn, *self._index_arns]))
        if writes:
            role.add_to_policy(iam.PolicyStatement(actions=writes, resources=[self._table.table_arn]))

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
            "No WAF web ACL yet: the stage is throttled and every route but the public OpenAPI document requires an "
            "API key. Attach a web ACL when traffic justifies its cost.",
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
