"""Builders for API Gateway events, the local request path and Lambda contexts: one place for tests to get them."""

from __future__ import annotations

import json
import string
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


# The placeholders an action's `Sample` may use, and what the test that runs every action fills in for each.
SAMPLE_PLACEHOLDERS = {
    "api_key": "the shop's API key (for a header other than X-Auth-Token, e.g. MCP's Bearer)",
    "shop_domain": "the shop's myshopify domain",
    "shopify_hmac": "Shopify's signature of the request body, with the shop's webhook secret",
    "signup_id": "a signup of variant 101, notified once",
    "pending_signup_id": "a pending signup of variant 201 (deleted by delete_signup)",
    "spare_signup_id": "a pending signup of variant 102 (deleted by bulk_delete_signups)",
    "notification_id": "the notification of `signup_id`",
    "optin_token": "an opt-in link token of `signup_id`",
    "unsubscribe_token": "an unsubscribe link token of `signup_id`",
    "job_id": "a running export job of the shop",
    "download_token": "a download link token of `job_id` (as if it were ready)",
    "offer_id": "a preorder offer of the shop (selling plan 7001 on variant 101)",
    "restock_id": "a restock campaign of the shop (started by hand on variant 101)",
    "from": "the first day of a report window (ISO date)",
    "to": "the last day of a report window (ISO date)",
}


def placeholders(sample: registry.Sample) -> set[str]:
    """Every `{name}` a sample uses, in its path, body strings and header values."""
    texts = [sample.path, *sample.headers.values(), *_strings(sample.body)]
    return {name for text in texts for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def sample_request(
    action: registry.Action, values: dict[str, str], webhook_secret: str | None = None
) -> tuple[str, Any, dict[str, str]]:
    """The action's declared sample (path, body, headers) with its placeholders filled from `values`. The body is
    filled first: `{shopify_hmac}` signs it as sent (`json.dumps`, as `call` sends it) with `webhook_secret`."""
    sample = action.sample
    assert sample is not None, (
        f"action {action.name} declares no sample request: add `sample=Sample(...)` to its declaration "
        f"(backinstock/actions/{action.resource}.py), a valid request the tests that run every action can send"
    )
    body = _fill(sample.body, values)
    if webhook_secret is not None:
        from backinstock.services.webhooks import signature

        values = {**values, "shopify_hmac": signature(webhook_secret, json.dumps(body).encode())}
    return sample.path.format_map(values), body, {k: v.format_map(values) for k, v in sample.headers.items()}


def v1_sample_request(action: registry.Action, values: dict[str, str]) -> tuple[str, Any, dict[str, str]]:
    """The action's sample sent to its deprecated v1 route (`Action.v1`): the path relative to V1_BASE_PATH, its
    parameters and query taken from the filled v2 sample."""
    assert action.v1 is not None, f"{action.name} has no v1 route"
    path, body, headers = sample_request(action, values)
    v2_path, _, query = path.partition("?")
    v1_path = action.v1.path
    for name, value in (registry.match_path(action.path, v2_path) or {}).items():
        v1_path = v1_path.replace(f":{name}", value)
    return v1_path + (f"?{query}" if query else ""), body, headers


def v1_base(shop: dict[str, Any]) -> dict[str, Any]:
    """A shop (or server) dict whose `base_url` is the v1 base: `tests/e2e` and `tests/security` helpers then send
    their paths to the v1 routes."""
    return {**shop, "base_url": shop["base_url"].replace(registry.BASE_PATH, registry.V1_BASE_PATH)}


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format_map(values)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


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


def count_calls(client: Any, service: str, counted: Any, name: Any = None) -> None:
    """Count the AWS calls made on `client`, by `name(event_name)` (default: the operation), leaving out the rate
    limiter's (its table, `services/ratelimits.py`): what an action itself costs. The limiter's one UpdateItem per
    request is counted on its own in tests/integration/test_rate_limits.py."""
    from backinstock_tools.local.backend import RATE_LIMIT_TABLE_NAME

    def count(params: dict[str, Any], event_name: str, **_: Any) -> None:
        if params.get("TableName") != RATE_LIMIT_TABLE_NAME:
            counted.update([name(event_name) if name else event_name.rsplit(".", 1)[-1]])

    client.meta.events.register(f"provide-client-params.{service}", count)


class MemoryRateLimitStore:
    """The limiter's store in memory, answering as the table's conditional updates would (one call a take): for
    unit tests, which reach no AWS. The table's behaviour itself is tests/integration/test_rate_limits.py's."""

    def __init__(self) -> None:
        self.tat: dict[str, int] = {}

    def take(self, key: str, *, now: int, inc: int, latest: int, expires_at: int, busy: bool) -> Any:
        from backinstock.repositories.ratelimits import Taken

        tat = max(self.tat.get(key, now), now)
        if tat > latest:
            return Taken(False, tat, 1)
        self.tat[key] = tat + inc
        return Taken(True, tat + inc, 1)


def running_campaign(shop_id: str, variant_id: int = 103, product_id: int = 10) -> str:
    """A running restock campaign of the shop (its record and the variant's lock, as a start writes them), with no
    workflow execution behind it: it stays running, so pause, resume and cancel all apply. Returns its id."""
    from backinstock import deps, ids

    campaign_id = ids.uuid7(ids.now())
    campaign = {
        "campaign_id": campaign_id,
        "shop_id": shop_id,
        "variant_id": variant_id,
        "product_id": product_id,
        "restocked_quantity": 5,
        "episode": 1,
        "started_at": ids.iso(ids.now()),
        "batches": 0,
        "queued": 0,
        "trigger": "webhook",
    }
    assert deps.restocks().restocks.claim_campaign(shop_id, variant_id, campaign)
    return campaign_id
