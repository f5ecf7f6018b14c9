"""A small client for the Shopify Admin GraphQL API: the one call the app makes (tag an order), with Shopify's rules.

Why a hand-written client: the worker that tags orders is a Lambda, so its imports are its cold start; urllib3 ships
in the layer already (botocore needs it), and the Shopify SDKs bring a dependency tree for one mutation. What the
client owes Shopify is its throttling contract, which this module follows:

- HTTP 429 (the REST-style limit, also seen on GraphQL under load): wait `Retry-After` seconds (1 s when absent).
- GraphQL cost throttling: HTTP 200 with an error whose `extensions.code` is `THROTTLED`; the response's
  `extensions.cost` says how much the query needs and how fast the bucket refills, so the client waits exactly
  `(requestedQueryCost - currentlyAvailable) / restoreRate` seconds (at least 0.5 s) instead of guessing.
- HTTP 5xx and connection errors: exponential backoff 0.5, 1, 2, ... seconds by attempt, capped at 8 s.
- HTTP 401/403: the token is revoked or lacks a scope; retrying cannot help, so the error says how to reconnect.

The access token is a credential: it goes in one header and nowhere else (no exception message, no log line; text
that comes back from Shopify is scrubbed of it before it is quoted). The sleep function and the urllib3 pool are
injectable, so tests run against `backinstock_tools.local.shopify_fake.FakeShopify` over real HTTP without waiting.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import urllib3
from urllib3.exceptions import HTTPError, LocationValueError

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

DEFAULT_API_VERSION = "2025-07"
RECONNECT_HINT = "run `backinstock shops connect-shopify` to reconnect the shop"
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
DEFAULT_RETRY_AFTER_SECONDS = 1.0
MIN_THROTTLE_WAIT_SECONDS = 0.5

ADD_TAGS_MUTATION = """
mutation AddOrderTags($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) {
    node { id }
    userErrors { field message }
  }
}
""".strip()

_ORDER_GID = "gid://shopify/Order/"


class ShopifyError(Exception):
    """Any failure of a Shopify Admin API call. `status` is the last HTTP status seen (None: no response)."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class ShopifyAuthError(ShopifyError):
    """HTTP 401/403: the access token was rejected (revoked, uninstalled, or missing a scope). Never retried."""


class ShopifyThrottled(ShopifyError):
    """Still rate-limited (HTTP 429 or GraphQL THROTTLED) after every attempt."""


class ShopifyUserError(ShopifyError):
    """The mutation ran and Shopify refused it (`userErrors`): bad input, not a transient failure."""

    def __init__(self, message: str, user_errors: list[dict[str, Any]]) -> None:
        super().__init__(message, status=200)
        self.user_errors = user_errors
        self.messages = [str(error.get("message", "")) for error in user_errors]


class _Retry(Exception):
    """One failed attempt that may succeed later: why, how long to wait, and which error to raise at the end."""

    def __init__(self, reason: str, wait: float | None, *, status: int | None, throttled: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait  # None: exponential backoff by attempt
        self.status = status
        self.throttled = throttled


@functools.cache
def _logger() -> Logger:
    """Powertools' child logger, created on first use: importing this module costs a cold start nothing more."""
    from aws_lambda_powertools import Logger

    return Logger(child=True)


def order_gid(order_id: int | str) -> str:
    """`gid://shopify/Order/<id>` for a numeric order id; an order gid is returned as is."""
    text = str(order_id).strip()
    if text.startswith(_ORDER_GID) and text[len(_ORDER_GID) :].isdigit():
        return text
    if isinstance(order_id, bool) or not text.isdigit():
        raise ValueError(f"not a Shopify order id: {order_id!r}")
    return f"{_ORDER_GID}{text}"


class ShopifyAdmin:
    """The Admin GraphQL API of one shop, authenticated with its offline access token."""

    def __init__(
        self,
        domain: str,
        access_token: str,
        *,
        base_url: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        max_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 10.0,
        http: urllib3.PoolManager | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.domain = domain
        self.api_version = api_version
        self.max_attempts = max_attempts
        self.url = f"{(base_url or 'https://' + domain).rstrip('/')}/admin/api/{api_version}/graphql.json"
        self._token = access_token
        self._sleep = sleep
        self._timeout = urllib3.Timeout(total=timeout)
        self._http = http

    def __repr__(self) -> str:  # the token stays out of tracebacks and debug output
        return f"ShopifyAdmin(domain={self.domain!r}, url={self.url!r})"

    def add_order_tags(self, order_id: int | str, tags: list[str]) -> list[str]:
        """Add tags to an order (existing tags stay). Returns the tags sent: stripped, deduplicated, in order.

        No request is made when there is nothing to add. Raises `ShopifyUserError` when Shopify refuses the
        mutation (for example an unknown order)."""
        gid = order_gid(order_id)
        wanted = list(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))
        if not wanted:
            return []
        data = self.graphql(ADD_TAGS_MUTATION, {"id": gid, "tags": wanted})
        result = data.get("tagsAdd")
        if not isinstance(result, dict):
            raise ShopifyError(f"Shopify answered tagsAdd for {gid} without a result")
        user_errors = [error for error in result.get("userErrors") or [] if isinstance(error, dict)]
        if user_errors:
            messages = "; ".join(self._scrub(str(error.get("message", ""))) for error in user_errors)
            raise ShopifyUserError(f"Shopify refused to tag {gid} on {self.domain}: {messages}", user_errors)
        return wanted

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one GraphQL document and return its `data`, retrying what Shopify says is worth retrying."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        last: _Retry | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._attempt(body)
            except _Retry as retry:
                last = retry
                if attempt == self.max_attempts:
                    break
                wait = retry.wait
                if wait is None:
                    wait = min(BACKOFF_BASE_SECONDS * 2 ** (attempt - 1), BACKOFF_MAX_SECONDS)
                _logger().warning(
                    "Shopify request failed, retrying",
                    extra={
                        "shop": self.domain,
                        "attempt": attempt,
                        "max_attempts": self.max_attempts,
                        "reason": retry.reason,
                        "wait_seconds": wait,
                    },
                )
                self._sleep(wait)
        assert last is not None
        error = ShopifyThrottled if last.throttled else ShopifyError
        raise error(
            f"Shopify Admin API call for {self.domain} failed after {self.max_attempts} attempts (last: {last.reason})",
            status=last.status,
            attempts=self.max_attempts,
        )

    def _attempt(self, body: bytes) -> dict[str, Any]:
        http = self._http
        if http is None:
            http = self._http = urllib3.PoolManager()
        try:
            response = http.request(
                "POST",
                self.url,
                body=body,
                headers={
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "X-Shopify-Access-Token": self._token,
                },
                timeout=self._timeout,
                retries=False,  # this class owns the retry policy
                redirect=False,
            )
        except LocationValueError as exc:
            raise ShopifyError(f"bad Shopify Admin API URL for {self.domain}: {self._scrub(str(exc))}") from None
        except HTTPError as exc:
            reason = f"connection error: {type(exc).__name__}: {self._scrub(str(exc))}"
            raise _Retry(reason, None, status=None, throttled=False) from None

        status = response.status
        if status in (401, 403):
            scope = (
                " (a 403 can also mean the app lacks a scope it needs, such as write_orders)" if status == 403 else ""
            )
            raise ShopifyAuthError(
                f"Shopify rejected the access token for {self.domain} (HTTP {status}): {RECONNECT_HINT}{scope}",
                status=status,
            )
        if status == 429:
            wait = _retry_after(response.headers.get("Retry-After"))
            raise _Retry("HTTP 429 Too Many Requests", wait, status=status, throttled=True)
        if status >= 500:
            raise _Retry(f"HTTP {status}", None, status=status, throttled=False)
        if status != 200:
            raise ShopifyError(
                f"Shopify Admin API answered HTTP {status} for {self.domain}: {self._snippet(response.data)}",
                status=status,
            )

        try:
            payload = json.loads(response.data)
        except ValueError:
            raise ShopifyError(
                f"Shopify Admin API answered non-JSON for {self.domain}: {self._snippet(response.data)}", status=status
            ) from None
        if not isinstance(payload, dict):
            raise ShopifyError(f"Shopify Admin API answered an unexpected document for {self.domain}", status=status)

        errors = payload.get("errors")
        if errors:
            if isinstance(errors, list) and any(_error_code(error) == "THROTTLED" for error in errors):
                wait = _throttle_wait(payload, errors)
                raise _Retry("GraphQL THROTTLED", wait, status=status, throttled=True)
            raise ShopifyError(
                f"Shopify GraphQL errors for {self.domain}: {self._scrub(_error_messages(errors))}", status=status
            )
        data = payload.get("data")
        if not isinstance(data, dict):
            raise ShopifyError(f"Shopify Admin API answered without data for {self.domain}", status=status)
        return data

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "[redacted]") if self._token else text

    def _snippet(self, data: bytes) -> str:
        return self._scrub(data[:300].decode("utf-8", "replace")) or "(empty body)"


def _retry_after(value: str | None) -> float:
    try:
        seconds = float(value) if value is not None else DEFAULT_RETRY_AFTER_SECONDS
    except ValueError:
        return DEFAULT_RETRY_AFTER_SECONDS
    return max(seconds, 0.0) if seconds == seconds else DEFAULT_RETRY_AFTER_SECONDS  # NaN -> default


def _error_code(error: Any) -> str | None:
    if isinstance(error, dict) and isinstance(error.get("extensions"), dict):
        code = error["extensions"].get("code")
        return str(code) if code is not None else None
    return None


def _throttle_wait(payload: dict[str, Any], errors: list[Any]) -> float:
    """Seconds until the bucket holds the query's cost. Shopify puts `cost` in the response's `extensions`;
    an error's own `extensions.cost` is read as a fallback. Without usable figures: 1 s."""
    candidates = [payload.get("extensions")] + [error.get("extensions") for error in errors if isinstance(error, dict)]
    for extensions in candidates:
        cost = extensions.get("cost") if isinstance(extensions, dict) else None
        if not isinstance(cost, dict):
            continue
        status = cost.get("throttleStatus")
        status = status if isinstance(status, dict) else {}
        try:
            requested = float(cost["requestedQueryCost"])
            available = float(status["currentlyAvailable"])
            restore_rate = float(status["restoreRate"])
        except (KeyError, TypeError, ValueError):
            continue
        if restore_rate > 0:
            return max((requested - available) / restore_rate, MIN_THROTTLE_WAIT_SECONDS)
    return DEFAULT_RETRY_AFTER_SECONDS


def _error_messages(errors: Any) -> str:
    if isinstance(errors, list):
        messages = [str(error.get("message", error)) if isinstance(error, dict) else str(error) for error in errors]
        return "; ".join(messages)
    return str(errors)
