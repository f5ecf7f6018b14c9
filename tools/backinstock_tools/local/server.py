"""The local HTTP front: plays API Gateway in front of the very handlers Lambda runs.

Each request is matched against the registry (the same routing table CDK builds), authenticated by the same
authorizer code (API Gateway's identity-source rule included: a route's auth header must be present), turned into
the REST proxy event production sends, and handed to the action's handler. Unknown routes and failed
authentication answer exactly what the stack's gateway responses answer.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from backinstock import deps, dispatch, registry
from backinstock.api.auth import identity_for, shop_for
from backinstock.api.http import dump, gateway_error_body, method_not_allowed_message, not_found_message
from backinstock.infra_spec import (
    GATEWAY_MAX_BODY_BYTES,
    GATEWAY_TOO_LARGE_MESSAGE,
    JSON_HEADERS,
    UNAUTHORIZED_MESSAGE,
)
from backinstock_tools.local import outbox

logger = logging.getLogger(__name__)

MAX_BODY = GATEWAY_MAX_BODY_BYTES  # API Gateway's payload limit

# One invocation at a time: every function shares this process, and Powertools' logger and metrics keep
# per-process state that a Lambda container never shares between concurrent invocations. The queue pollers
# (`backinstock_tools.local.pollers`) hold it too while a worker runs.
invocation_lock = threading.RLock()


def gateway_error(status: int, code: str, message: str) -> dict[str, Any]:
    """What API Gateway's gateway responses answer (see stacks/constructs/api.py): the API's error envelope."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **JSON_HEADERS},
        "body": dump(gateway_error_body(code, message, str(uuid.uuid4()))),  # compact, as every other answer
    }


def outbox_response(
    method: str, query: dict[str, str], headers: dict[str, str] | None = None, *, open_to_all: bool = True
) -> dict[str, Any]:
    """`GET /local/outbox[?limit=N]`: the local run's delivered messages. Not an API action (outside the base path,
    not in the registry): it exists only here, for a developer looking at what customers would have received.

    Its messages carry working links (unsubscribe, opt-in). On loopback (the default bind) it shows every shop's;
    a server told to listen beyond loopback (`--host`) asks for a shop's key and shows only that shop's."""
    if method != "GET":
        response = gateway_error(405, "method_not_allowed", f"{outbox.OUTBOX_PATH} answers GET only")
        response["headers"]["Allow"] = "GET"
        return response
    shop = None
    if not open_to_all:
        with invocation_lock:
            shop_id = shop_for(headers or {})
            shop = deps.shops().get(shop_id) if shop_id else None
        if shop is None:
            return gateway_error(401, "unauthorized", UNAUTHORIZED_MESSAGE)
    limit = query.get("limit")
    if limit is not None and not limit.isdigit():
        return gateway_error(400, "validation_failed", f"limit must be a non-negative integer (got {limit!r})")
    body = outbox.read(
        int(limit) if limit is not None else None, shop=(shop.shop_id, shop.domain) if shop is not None else None
    )
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": dump(body)}


def handle(
    method: str, raw_path: str, headers: dict[str, str], body: str | None, *, outbox_open: bool = True
) -> dict[str, Any]:
    """One request through gateway routing, the authorizer and the action's handler. Returns the proxy response.
    `outbox_open`: whether `/local/outbox` shows every shop's messages (a loopback server) or asks for a key."""
    split = urlsplit(raw_path)
    path = split.path.rstrip("/") or "/"
    repeated: dict[str, list[str]] = {}
    for name, value in parse_qsl(split.query, keep_blank_values=True):
        repeated.setdefault(name, []).append(value)
    query: dict[str, str | list[str]] | None = {k: v if len(v) > 1 else v[0] for k, v in repeated.items()} or None
    if path == outbox.OUTBOX_PATH:
        return outbox_response(method, {k: v[-1] for k, v in repeated.items()}, headers, open_to_all=outbox_open)
    v1 = path.startswith(registry.V1_BASE_PATH + "/")
    base = registry.V1_BASE_PATH if v1 else registry.BASE_PATH
    relative = path.removeprefix(base) if v1 or path.startswith(base) else None
    if relative is None:
        found = None
    elif v1:  # a deprecated v1 route runs its v2 action (`registry.V1`)
        found = registry.match_v1(method, relative)
    else:
        found = registry.match(method, relative)
    if found is None:
        allowed = registry.allowed_methods(relative, v1=v1) if relative is not None else []
        if allowed:
            # As the stack's mock integration answers a method no action declares on an existing resource.
            response = gateway_error(405, "method_not_allowed", method_not_allowed_message(method, allowed))
            response["headers"]["Allow"] = ", ".join(allowed)
            return response
        return gateway_error(404, "not_found", not_found_message(method, path))
    action, raw_params = found
    params = {name: unquote(value) for name, value in raw_params.items()}  # as API Gateway's pathParameters
    shop_id: str | None = None
    plan: str | None = None
    if action.auth is not registry.Auth.PUBLIC:
        lowered = {k.lower() for k, v in headers.items() if v}
        if action.auth.value.lower() not in lowered:
            return gateway_error(401, "unauthorized", UNAUTHORIZED_MESSAGE)
        with invocation_lock:
            identity = identity_for(headers)
        if identity is None:
            return gateway_error(401, "unauthorized", UNAUTHORIZED_MESSAGE)
        shop_id, plan = identity
    origin = f"http://{headers['Host']}" if headers.get("Host") else None
    event = dispatch.proxy_event(
        action,
        method,
        path,
        path_params=params,
        headers=headers,
        query=query,
        body=body,
        shop_id=shop_id,
        origin=origin,
        plan=plan,
    )
    with invocation_lock:
        return dispatch.invoke(action, event)


class _Handler(BaseHTTPRequestHandler):
    server_version = "backinstock-local"
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(gateway_error(413, "payload_too_large", GATEWAY_TOO_LARGE_MESSAGE))
            return
        raw = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        try:
            body = raw.decode("utf-8") if raw else None
        except UnicodeDecodeError:
            self._send(gateway_error(400, "validation_failed", "request body must be UTF-8"))
            return
        try:
            response = handle(self.command, self.path, headers, body, outbox_open=self._loopback())
        except Exception:
            # A crash outside the handler's own error handling: Lambda would fail the invocation and API Gateway
            # answer 502. Answer that, with the traceback on stderr, rather than drop the connection.
            logger.exception("local API: %s %s failed", self.command, urlsplit(self.path).path)
            response = gateway_error(
                502, "gateway_error", "Internal server error: the action failed; see the server's log"
            )
        self._send(response)

    def _loopback(self) -> bool:
        try:
            host = self.server.server_address[0] if isinstance(self.server.server_address, tuple) else ""
            return ipaddress.ip_address(str(host)).is_loopback
        except ValueError:
            return False

    def _send(self, response: dict[str, Any]) -> None:
        body = (response.get("body") or "").encode()
        self.send_response(int(response["statusCode"]))
        headers = {**(response.get("headers") or {})}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has the headers of the body it does not send
            self.wfile.write(body)

    def __getattr__(self, name: str) -> Any:
        # Every method goes through the gateway's routing (`do_TRACE`, `do_OPTIONS`, `do_FOO`): one that no action
        # declares on an existing path is the enveloped 405 API Gateway answers, never the stdlib's HTML 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the handlers log structured JSON through Powertools; no second access log


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) resets connections under a burst of simultaneous clients.
    request_queue_size = 128


class LocalApi:
    def __init__(self, host: str = "127.0.0.1", port: int = 4280) -> None:
        self.httpd = _Server((host, port), _Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="local-api", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}{registry.BASE_PATH}"

    def start(self) -> LocalApi:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
