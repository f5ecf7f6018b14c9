"""Find and run an action's Lambda handler in-process: the local server and the MCP endpoint both use it, so a
request reaches exactly the code that API Gateway would invoke.

Handler modules live under `functions/` and are imported by the name Lambda uses (`settings.get_settings`), then the
handler is the module's attribute of the entry point (`handler`, or a generic module's per-report handler): in Lambda
the code asset is the root of `sys.path`; locally `ensure_functions_on_path()` puts `functions/` there.
"""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from backinstock.registry import BASE_PATH, V1, V1_BASE_PATH, Action, match_path

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def ensure_functions_on_path() -> None:
    """Locally (repo checkout): make `functions/` importable the way Lambda sees it. No-op in Lambda."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "functions"
        if (candidate / "settings").is_dir():
            if str(candidate) not in sys.path:
                sys.path.insert(0, str(candidate))
            return


@cache
def handler_for(module: str, attribute: str = "handler") -> Handler:
    """`module.attribute` as Lambda resolves an entry point (`getattr` on the imported module, so a module's PEP 562
    `__getattr__` builds the handlers it serves)."""
    ensure_functions_on_path()
    handler: Handler = getattr(importlib.import_module(module), attribute)
    return handler


class LambdaContext:
    """The attributes of a Lambda context that our handlers and Powertools read."""

    def __init__(self, function_name: str, memory_mb: int = 256) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def proxy_event(
    action: Action,
    method: str,
    path: str,
    *,
    path_params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str | list[str]] | None = None,
    body: str | None = None,
    shop_id: str | None = None,
    request_id: str | None = None,
    origin: str | None = None,
    plan: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event, as production sends it to the action's Lambda.

    `origin` is where the client reached the API (`http://127.0.0.1:4280`, or `https://<host>/<stage>` for a call
    made in process on behalf of a request that came through API Gateway): it becomes the Host and
    X-Forwarded-Proto headers and the request context's path, as API Gateway sets them (`api.http.origin_of`).
    A query value may be a list (a repeated parameter, `offer_ids[]=a&offer_ids[]=b`): as in API Gateway, the
    single-value map holds the last one and the multi-value map all of them."""
    request_id = request_id or str(uuid.uuid4())
    v1 = action.v1 is not None and path.startswith(V1_BASE_PATH + "/")
    resource = (
        action.v1.gateway_path(_v1_pattern_for(action.v1, path))
        if v1 and action.v1
        else action.gateway_path(_pattern_for(action, path))
    )
    headers = dict(headers or {})
    prefix = ""
    if origin:
        scheme, _, rest = origin.partition("://")
        host, slash, prefix = rest.partition("/")
        prefix = slash + prefix.rstrip("/") if prefix else ""
        headers.update({"Host": host, "X-Forwarded-Proto": scheme})
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] if isinstance(v, list) else v for k, v in query.items()} if query else None,
        "multiValueQueryStringParameters": (
            {k: list(v) if isinstance(v, list) else [v] for k, v in query.items()} if query else None
        ),
        "pathParameters": dict(path_params) if path_params else None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": prefix + path,
            "stage": "local",
            "requestId": request_id,
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": {"shop_id": shop_id, "principalId": shop_id, "plan": plan or ""} if shop_id else None,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def _v1_pattern_for(v1: V1, path: str) -> str:
    relative = path.removeprefix(V1_BASE_PATH)
    return next((p for p in v1.all_paths if match_path(p, relative) is not None), v1.path)


def _pattern_for(action: Action, path: str) -> str:
    relative = path.removeprefix(BASE_PATH)
    for pattern in action.all_paths:
        if match_path(pattern, relative) is not None:
            return pattern
    return action.path


def invoke(action: Action, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return handler_for(action.handler, action.handler_attribute)(event, context or LambdaContext(action.name))
