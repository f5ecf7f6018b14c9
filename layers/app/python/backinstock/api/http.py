"""The HTTP face of an action: turns one registry entry plus one endpoint function into a Lambda handler.

A function's entry point is a few lines:

    from backinstock.actions.settings import GET_SETTINGS
    from backinstock.api.http import Request, route

    @route(GET_SETTINGS)
    def handler(request: Request[None, None]) -> Settings:
        return settings.get_settings(deps.shops(), request.shop_id)

`route` registers the action's path(s) on a Powertools REST resolver, validates the query and body against the
action's models (every problem reported at once), hands the endpoint a `Request`, and turns the result or a domain
error into the response. Errors leave through `error_response`, the only place the envelope is produced.

The seam is typed: `Request[Query, Body]` names the action's query and body models (`None` where it has none), so
mypy checks that the endpoint hands a service what it expects, and `route` refuses, when the module is imported, an
endpoint whose annotation disagrees with the registry (`check_endpoint`).
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel

import backinstock
from backinstock import observability, registry
from backinstock.api.validation import parse_body, parse_query, refuse_query
from backinstock.errors import AppError, Problem, RateLimited, UnsupportedMediaType
from backinstock.infra_spec import security_headers
from backinstock.registry import BASE_PATH, Action

if typing.TYPE_CHECKING:
    from backinstock.services.ratelimits import Decision

logger = observability.root_logger()
metrics = observability.metrics()

JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"
LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


Q = TypeVar("Q")
B = TypeVar("B")


@dataclass
class Request(Generic[Q, B]):
    """What an endpoint gets: the validated query (`Q`, the action's `query_model`) and body (`B`, its `body_model`),
    each `None` when the action declares none."""

    action: Action
    shop_id: str
    path: str
    path_params: dict[str, str]
    query: Q
    body: B
    headers: Mapping[str, str]
    request_id: str
    raw_body: str | None = None  # the body as sent, for an action without a body model (MCP's JSON-RPC)
    origin: str = ""  # where the client reached the API: `https://<host>[/<stage>]` (see `origin_of`)
    plan: str = ""  # the shop's plan, from the authorizer's context (its rate limit)

    @property
    def base_url(self) -> str:
        """The API's base URL as this client reaches it (for links in responses), or the bare base path when the
        request says nothing of its host."""
        return self.origin + BASE_PATH


@dataclass
class Reply:
    """An endpoint's result when it needs a status other than the action's `success_status` (e.g. 207)."""

    payload: Any
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"


def dump(payload: Any) -> str:
    if isinstance(payload, BaseModel):
        # Settings leave unset optional blocks out; representations that show `null` (the reference's signups and
        # notifications) say so with `keep_nulls`.
        return payload.model_dump_json(exclude_none=not getattr(payload, "keep_nulls", False))
    return json.dumps(payload, default=str, separators=(",", ":"))


def error_body(problems: list[Problem], request_id: str | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "errors": [p.text() for p in problems],
        "error_details": [{"code": p.code, "field": p.field, "message": p.message} for p in problems],
        **extra,
    }
    if request_id:
        body["request_id"] = request_id
    return body


def gateway_error_body(code: str, message: str, request_id: str) -> dict[str, Any]:
    """The envelope of an answer made in front of the functions (API Gateway's gateway responses, the local
    server's routing and authentication): the same keys as every other error."""
    return error_body([Problem(code, message)], request_id)


def error_response(status: int, problems: list[Problem], request_id: str | None, **extra: Any) -> Response:
    return Response(
        status_code=status,
        content_type=JSON,
        body=dump(error_body(problems, request_id, **extra)),
        headers=security_headers(JSON),
    )


def html_error_page(request_id: str | None) -> Response:
    """What a customer link page answers a browser whatever is wrong with its token (missing, too short, too long):
    the page that says the link is invalid, never a JSON envelope."""
    from backinstock.services.customer_links import INVALID, page

    headers = {**security_headers(HTML), **({"X-Request-Id": request_id} if request_id else {})}
    return Response(status_code=400, content_type=HTML, body=page(*INVALID), headers=headers)


def _jsonable(reply: Reply) -> dict[str, Any]:
    """A reply as the idempotency store keeps it: the body as the text that was sent, replayed byte for byte."""
    body = (
        (reply.payload if isinstance(reply.payload, str) else dump(reply.payload))
        if reply.payload is not None
        else None
    )
    return {"status": reply.status, "body": body, "headers": reply.headers, "content_type": reply.content_type}


def require_json(headers: Mapping[str, str] | None) -> None:
    """A request body is JSON: a `Content-Type` other than `application/json` (or a `+json` type) is a 415 naming
    the expected type. A body sent without any `Content-Type` is read as JSON."""
    sent = next((v for k, v in (headers or {}).items() if k.lower() == "content-type" and v), None)
    if sent is None:
        return
    media = sent.split(";")[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return
    raise UnsupportedMediaType(
        problems=[
            Problem(
                "unsupported_media_type",
                f"the request body must be JSON sent with Content-Type: application/json (got {sent.strip()[:80]!r})",
            )
        ]
    )


def not_found_message(method: str, path: str, nearest: bool = True) -> str:
    """A 404's message: the method and path, the nearest routes the registry declares (a typo's fix) and where every
    route is listed. `nearest=False` for API Gateway's template, which only knows `$context` variables."""
    message = f"No v2 action registered for {method} {path}"
    near = nearest_routes(path) if nearest else []
    if near:
        message += f"; nearest: {', '.join(near)}"
    return f"{message}; every route: GET {BASE_PATH}/help"


def nearest_routes(path: str, limit: int = 3) -> list[str]:
    """The registry's routes closest to `path`, with their methods (`GET, POST /api/v2/external/back_in_stock/
    signups`): a typo in the path (difflib's ratio over the whole path at least 0.85), or the right last two
    segments under a missing or wrong prefix (`/reports/sumary`: ratio over the last two at least 0.8)."""
    from difflib import SequenceMatcher

    relative = path.removeprefix(BASE_PATH) if path.startswith(BASE_PATH + "/") else path
    methods: dict[str, list[str]] = {}
    for action in registry.actions():
        methods.setdefault(action.path, []).append(action.method)

    def tail(route: str) -> str:
        return "/".join(route.rstrip("/").split("/")[-2:])

    scored = []
    for route in methods:
        whole = SequenceMatcher(None, relative, route).ratio()
        end = SequenceMatcher(None, tail(relative), tail(route)).ratio()
        if whole >= 0.85 or end >= 0.8:
            scored.append((max(whole, end), route))
    close = [route for _, route in sorted(scored, key=lambda pair: (-pair[0], pair[1]))[:limit]]
    return [f"{', '.join(sorted(methods[route]))} {BASE_PATH}{route}" for route in close]


def method_not_allowed_message(method: str, allowed: list[str]) -> str:
    """A 405's message, the same from the local server and from API Gateway's mock integration (stacks/constructs/
    api.py fills `method` with `$context.httpMethod`)."""
    return f"{method} is not allowed on this path; allowed: {', '.join(allowed)}"


def _rule(path: str, base: str = BASE_PATH) -> str:
    # `:id` (the reference's notation) -> `<id>` (Powertools' route syntax).
    return base + re.sub(r":([a-z_]+)", r"<\1>", path)


def origin_of(event: Mapping[str, Any]) -> str:
    """`https://<host>[/<stage or custom domain base path>]`: what precedes the base path in the URL the client
    used. API Gateway passes the Host header, `X-Forwarded-Proto`, and the request context's path, which keeps the
    stage (`/prod/api/v2/...`) or a custom domain's base path where the event's `path` does not."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items() if v}
    host = headers.get("host")
    if not host:
        return ""
    scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip()
    seen = str((event.get("requestContext") or {}).get("path") or "")
    path = str(event.get("path") or "")
    prefix = seen[: -len(path)] if path and seen.endswith(path) else ""
    return f"{scheme}://{host}{prefix}"


def shop_id_of(event: Mapping[str, Any]) -> str:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    return str(authorizer.get("shop_id") or "")


def plan_of(event: Mapping[str, Any]) -> str:
    """The shop's plan, as the authorizer put it in its context (it sets the shop's rate limit)."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    return str(authorizer.get("plan") or "")


# The rate-limit decisions of the invocations in progress, newest last: an MCP tool call runs its action's handler
# inside the MCP one, and the MCP answer's headers report the latest decision (after its tool calls).
_decisions: list[Decision] = []
_depth: list[str] = []  # the actions whose handlers are running, outermost first


def take_points(action: Action, event: Mapping[str, Any]) -> None:
    """Take the action's points from the shop's bucket before anything else runs (validation included): refused,
    `RateLimited` (429, nothing executed). A store failure lets the request through (fail open), counted by the
    `RateLimitStoreErrors` metric that the stack alarms on."""
    charge(action, shop_id_of(event), plan_of(event), action.points)


def charge(action: Action, shop_id: str, plan: str, points: int) -> None:
    """Take `points` from the shop's bucket (`take_points`' rule; MCP charges per message of a batch with it)."""
    from backinstock import deps

    if not action.rate_limited or not shop_id or points <= 0:
        return
    decision = deps.rate_limiter().check(shop_id, plan, points)
    _decisions.append(decision)
    if decision.failed_open:
        from aws_lambda_powertools.metrics import single_metric

        logger.warning("rate limiter store failed: request allowed unlimited", extra={"action": action.name})
        with single_metric(name="RateLimitStoreErrors", unit=MetricUnit.Count, value=1, namespace=metrics.namespace):
            pass
    if not decision.allowed:
        raise RateLimited(
            f"rate limit exceeded: {decision.limit} points per 60 seconds (a GET costs 1, a write 2); "
            f"retry after {decision.retry_after} s",
            retry_after=decision.retry_after,
        )


def with_rate_limit_headers(response: dict[str, Any], decision: Decision) -> dict[str, Any]:
    headers = decision.headers()
    if int(response.get("statusCode") or 0) != 429:
        headers.pop("Retry-After", None)
    return with_headers(response, headers)


def with_headers(response: dict[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
    """Headers added to a proxy response, wherever Powertools keeps them (single or multi-value)."""
    multi = response.get("multiValueHeaders")
    if multi is not None:
        for name, value in headers.items():
            multi[name] = [value]
    else:
        response.setdefault("headers", {}).update(headers)
    return response


def check_endpoint(action: Action, endpoint: Callable[..., Any]) -> None:
    """The endpoint's `request` annotation must be `Request[<query_model>, <body_model>]` of its action (`None` for
    a model the action does not declare): a handler cannot read a field its action does not validate."""
    annotation = typing.get_type_hints(endpoint).get("request")
    want = tuple(model if model is not None else type(None) for model in (action.query_model, action.body_model))
    if typing.get_origin(annotation) is not Request or typing.get_args(annotation) != want:
        names = ", ".join("None" if t is type(None) else t.__name__ for t in want)
        raise TypeError(
            f"{endpoint.__module__}.{endpoint.__name__}: annotate `request: Request[{names}]` (the models of action "
            f"{action.name}), not {annotation}"
        )


def route(action: Action) -> Callable[[Callable[[Request[Any, Any]], Any]], LambdaHandler]:
    if action.help_suffix:
        # Its `<prefix>/help` paths are derived from the whole registry (see `registry.actions()`).
        action = registry.by_name(action.name)

    def decorate(endpoint: Callable[[Request[Any, Any]], Any]) -> LambdaHandler:
        check_endpoint(action, endpoint)
        app = APIGatewayRestResolver()

        def request_id() -> str:
            return app.current_event.request_context.request_id or ""

        def call(**raw_params: str) -> Response:
            event = app.current_event
            take_points(action, event.raw_event)
            # The resolver matches the path as sent (`%C3%A9`): a parameter is its decoded value (`é`).
            path_params = {name: unquote(value) for name, value in raw_params.items()}
            query = (
                parse_query(
                    action.query_model, event.query_string_parameters, event.multi_value_query_string_parameters
                )
                if action.query_model
                else None
            )
            if action.export is not None and event.query_string_parameters:
                refuse_query(event.query_string_parameters)
            raw = event.decoded_body
            if action.body_model and raw and raw.strip():
                require_json(event.headers)
            if action.body_optional and (raw is None or not raw.strip()):
                raw = "{}"
            body = parse_body(action.body_model, raw) if action.body_model else None
            shop_id = shop_id_of(event.raw_event)
            logger.append_keys(action=action.name, shop_id=shop_id or None)
            request: Request[Any, Any] = Request(
                action,
                shop_id,
                event.path,
                path_params,
                query,
                body,
                event.headers,
                request_id(),
                raw,
                origin_of(event.raw_event),
                plan_of(event.raw_event),
            )
            reply = run_endpoint(request)
            metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
            has_body = reply.payload is not None
            return Response(
                status_code=reply.status,
                content_type=reply.content_type if has_body else None,  # None: no body (e.g. 202)
                body=(reply.payload if isinstance(reply.payload, str) else dump(reply.payload)) if has_body else None,
                headers={
                    "X-Request-Id": request_id(),
                    **security_headers(reply.content_type if has_body else None),
                    **reply.headers,
                },
            )

        def run_endpoint(request: Request[Any, Any]) -> Reply:
            if action.idempotent:
                from backinstock.api import idempotency

                key = idempotency.key_from(request.headers)
                if key is not None:
                    stored, replayed = idempotency.run_once(
                        request.shop_id,
                        action.name,
                        key,
                        request.raw_body,
                        lambda: _jsonable(as_reply(endpoint(request))),
                        app.lambda_context,
                    )
                    headers = {**stored["headers"], "Idempotent-Replayed": "true" if replayed else "false"}
                    return Reply(stored["body"], stored["status"], headers, stored["content_type"])
            return as_reply(endpoint(request))

        def as_reply(result: Any) -> Reply:
            return result if isinstance(result, Reply) else Reply(result, action.success_status)

        for path in action.all_paths:
            app.route(rule=_rule(path), method=action.method)(call)
        if action.v1 is not None:  # the deprecated v1 route runs this same endpoint (`registry.V1`)
            for v1_path in action.v1.all_paths:
                app.route(rule=_rule(v1_path, registry.V1_BASE_PATH), method=action.v1.method)(call)

        @app.exception_handler(AppError)
        def app_error(exc: AppError) -> Response:
            # Codes and fields only: a message may quote what the client sent (an email address, a phone number).
            logger.info(
                "request rejected",
                extra={
                    "status": exc.status,
                    "codes": [p.code for p in exc.problems],
                    "fields": [p.field for p in exc.problems if p.field],
                },
            )
            metrics.add_metric(name="ClientErrors", unit=MetricUnit.Count, value=1)
            if action.html:
                return html_error_page(request_id())
            if isinstance(exc, RateLimited):
                return error_response(exc.status, exc.problems, request_id(), retry_after=exc.retry_after)
            return error_response(exc.status, exc.problems, request_id())

        @app.exception_handler(Exception)
        def unexpected(exc: Exception) -> Response:
            logger.exception("unhandled error")
            metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)
            problem = Problem("internal_error", "Internal error: the request was not completed; retry later")
            return error_response(500, [problem], request_id())

        @app.not_found
        def unknown(_exc: Exception) -> Response:
            event = app.current_event
            problem = Problem("not_found", not_found_message(event.http_method, event.path))
            metrics.add_metric(name="ClientErrors", unit=MetricUnit.Count, value=1)
            return error_response(404, [problem], request_id())

        @metrics.log_metrics
        @logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST)
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            metrics.add_dimension(name="action", value=action.name)
            mark = len(_decisions)
            _depth.append(action.name)
            try:
                response = app.resolve(event, context)
                if action.v1 is not None and str(event.get("path") or "").startswith(registry.V1_BASE_PATH):
                    params = {k: unquote(v) for k, v in (event.get("pathParameters") or {}).items()}
                    with_headers(response, registry.deprecation_headers(action, params))
                # The latest decision: this invocation's, or a tool call's that ran inside it (MCP).
                return with_rate_limit_headers(response, _decisions[-1]) if len(_decisions) > mark else response
            finally:
                _depth.pop()
                if not _depth:  # the outermost invocation (an MCP tool call runs inside the MCP one)
                    _decisions.clear()

        handler.action = action  # type: ignore[attr-defined]
        backinstock.loaded()  # the entry point is built: resume garbage collection (see backinstock/__init__.py)
        return handler

    return decorate
