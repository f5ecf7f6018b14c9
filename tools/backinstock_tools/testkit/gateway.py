"""Requests to the API in process: through the local gateway (routing, authorizer, handler) or to an action's
handler alone, and the events and contexts Lambda hands a handler."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol

# A way to send one API request: (method, path relative to BASE_PATH, API key, JSON body) -> (status, json). `call`
# is one; an HTTP client against a running server is another (tests/e2e).
Send = Callable[..., tuple[int, Any]]


class Counted(Protocol):
    def update(self, names: list[str]) -> None: ...


def call(
    method: str,
    path: str,
    api_key: str | None = None,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One request through the local gateway (routing, authorizer, handler), in process. Returns (status, json)."""
    from backinstock import registry
    from backinstock_tools.local.server import handle

    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if api_key is not None:
        all_headers["X-Auth-Token"] = api_key
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    response = handle(method, registry.BASE_PATH + path, all_headers, text)
    payload = response.get("body")
    if not payload:
        return int(response["statusCode"]), None
    try:
        return int(response["statusCode"]), json.loads(payload)
    except ValueError:  # an HTML page (the customer-facing links)
        return int(response["statusCode"]), payload


def wait_for_export(api_key: str, job_id: str, timeout: float = 30) -> dict[str, Any]:
    """An export job's status (`GET /back_in_stock/reports/exports/{job_id}`) once it is no longer running, or as it
    is after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = call("GET", f"/back_in_stock/reports/exports/{job_id}", api_key)
        assert status == 200, body
        if body["status"] != "running" or time.monotonic() > deadline:
            return dict(body)
        time.sleep(0.1)


def invoke(
    name: str,
    shop_id: str,
    path_params: dict[str, str] | None = None,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """The action's Lambda handler, in process, as API Gateway calls it once the authorizer has answered."""
    from backinstock import dispatch, registry

    action = registry.by_name(name)
    path = action.path
    for param, value in (path_params or {}).items():
        path = path.replace(f":{param}", value)
    event = dispatch.proxy_event(
        action,
        action.method,
        registry.BASE_PATH + path,
        path_params=path_params,
        query=query,
        body=json.dumps(body) if body is not None else None,
        shop_id=shop_id,
    )
    response = dispatch.invoke(action, event)
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def event_for(action_name: str, shop_id: str | None = "shop-1", body: Any = None, **kwargs: Any) -> dict[str, Any]:
    """The API Gateway proxy event of the action at its declared path."""
    from backinstock import dispatch, registry

    action = registry.by_name(action_name)
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    return dispatch.proxy_event(action, action.method, action.gateway_path(), shop_id=shop_id, body=text, **kwargs)


def context(name: str = "test") -> Any:
    """A Lambda context (`dispatch.LambdaContext`)."""
    from backinstock import dispatch

    return dispatch.LambdaContext(name)


def count_calls(client: Any, service: str, counted: Counted, name: Callable[[str], str] | None = None) -> None:
    """Count the AWS calls made on `client`, by `name(event_name)` (default: the operation), leaving out the rate
    limiter's (its table, `services/ratelimits.py`): what an action itself costs. The limiter's one UpdateItem per
    request is counted on its own in tests/integration/test_rate_limits.py."""
    from backinstock_tools.local.backend import RATE_LIMIT_TABLE_NAME

    def count(params: dict[str, Any], event_name: str, **_: Any) -> None:
        if params.get("TableName") != RATE_LIMIT_TABLE_NAME:
            counted.update([name(event_name) if name else event_name.rsplit(".", 1)[-1]])

    client.meta.events.register(f"provide-client-params.{service}", count)
