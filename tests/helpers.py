"""Builders for API Gateway events, the local request path and Lambda contexts: one place for tests to get them."""

from __future__ import annotations

import json
from typing import Any

from backinstock import dispatch, registry
from backinstock_tools.local.server import handle


def call(
    method: str,
    path: str,
    api_key: str | None = None,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One request through the local gateway (routing, authorizer, handler), in process. Returns (status, json)."""
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


def event_for(action_name: str, shop_id: str | None = "shop-1", body: Any = None, **kwargs: Any) -> dict[str, Any]:
    action = registry.by_name(action_name)
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    return dispatch.proxy_event(action, action.method, action.gateway_path(), shop_id=shop_id, body=text, **kwargs)


def context(name: str = "test") -> dispatch.LambdaContext:
    return dispatch.LambdaContext(name)


def receive_all(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message visible on the queue now (moto answers at once; no long polling)."""
    out: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])
        messages = batch.get("Messages", [])
        if not messages:
            return out
        out.extend(messages)
