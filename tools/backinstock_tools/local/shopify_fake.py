"""A local Shopify Admin GraphQL API over real HTTP: enough of Shopify to tag orders without a shop or a network.

Why a server and not a stub: the client's job is HTTP (headers, status codes, `Retry-After`, JSON bodies, connection
reuse), so its tests and the local run (`backinstock serve` starts one, so tagging works offline) talk to this
server through urllib3 exactly as they would talk to `https://<shop>.myshopify.com`. Stdlib only: it ships in the
package and must not pull test dependencies into the local run.

What it plays:
- `POST /admin/api/<version>/graphql.json` with `X-Shopify-Access-Token`; each token belongs to one shop domain.
  A missing or unknown token gets Shopify's 401 body.
- the `tagsAdd` mutation on `gid://shopify/Order/<n>` with `$id` and `$tags` variables: tags are added to an
  in-memory order of the token's shop (an order of another shop "does not exist", as on Shopify). Unknown orders
  are created on the fly when `auto_create_orders` is on (the default), else answer a `userErrors` entry.
- any other document: a GraphQL error, as Shopify answers a field it does not know.
- scripted failures, consumed one per authenticated request in the order queued: `fail_next("http_429")`,
  `"http_500"`, `"http_403"`, `"throttled"` (HTTP 200 with a `THROTTLED` error and an `extensions.cost` block) and
  `"user_error"` (the next mutation answers a `userErrors` entry).

`requests` (every request: path, lower-cased headers, parsed body, shop) and `orders` (order id -> tags) are there for
assertions; a lock guards them, since the server answers each connection on its own thread.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GRAPHQL_PATH = re.compile(r"^/admin/api/(?P<version>[0-9]{4}-[0-9]{2}|unstable)/graphql\.json$")
ORDER_GID = re.compile(r"^gid://shopify/Order/(?P<id>[0-9]+)$")
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"  # noqa: S105
FAILURE_KINDS = ("http_429", "http_500", "http_403", "throttled", "user_error")
MAXIMUM_AVAILABLE = 2000.0
RESTORE_RATE = 100.0
MUTATION_COST = 10.0


class FakeShopify:
    """`with FakeShopify({"shpat_test": "first-shop.myshopify.com"}) as shopify: ... shopify.base_url ...`"""

    def __init__(
        self,
        tokens: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        auto_create_orders: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.auto_create_orders = auto_create_orders
        self.lock = threading.RLock()
        self.tokens: dict[str, str] = dict(tokens or {})
        self.requests: list[dict[str, Any]] = []
        self.orders: dict[int, set[str]] = {}
        self.order_shops: dict[int, str] = {}
        self._failures: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def start(self) -> FakeShopify:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-shopify", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeShopify:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`: pass it as `ShopifyAdmin(..., base_url=...)`."""
        if self._server is None:
            raise RuntimeError("FakeShopify is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- state ------------------------------------------------------------------------------------------------------

    def add_token(self, token: str, shop: str) -> None:
        """Accept `token` as the offline access token of `shop` (a myshopify domain)."""
        with self.lock:
            self.tokens[token] = shop

    def add_order(self, order_id: int, shop: str | None = None, tags: set[str] | None = None) -> None:
        """An order of `shop` (default: the only shop with a token; required when there are several)."""
        with self.lock:
            if shop is None:
                shops = set(self.tokens.values())
                if len(shops) != 1:
                    raise ValueError("add_order needs shop= when the fake does not know exactly one shop")
                shop = shops.pop()
            self.orders[int(order_id)] = set(tags or ())
            self.order_shops[int(order_id)] = shop

    def fail_next(
        self,
        kind: str,
        times: int = 1,
        *,
        retry_after: str | None = "0",
        requested_cost: float = MUTATION_COST,
        currently_available: float = 9.9,
        restore_rate: float = RESTORE_RATE,
    ) -> None:
        """Answer the next `times` authenticated requests with a failure of `kind` (see `FAILURE_KINDS`).

        `retry_after` is the 429's `Retry-After` header (None: no header). The cost figures shape the `throttled`
        answer; the defaults make the wait they imply tiny (0.001 s)."""
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; one of {', '.join(FAILURE_KINDS)}")
        failure = {
            "kind": kind,
            "retry_after": retry_after,
            "requested_cost": requested_cost,
            "currently_available": currently_available,
            "restore_rate": restore_rate,
        }
        with self.lock:
            self._failures.extend(dict(failure) for _ in range(times))

    def tags(self, order_id: int) -> set[str]:
        with self.lock:
            return set(self.orders.get(int(order_id), set()))

    def reset(self) -> None:
        """Forget requests, orders and queued failures (tokens stay)."""
        with self.lock:
            self.requests.clear()
            self.orders.clear()
            self.order_shops.clear()
            self._failures.clear()

    # -- the API ----------------------------------------------------------------------------------------------------

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
        """One request: (status, extra headers, JSON body). Called by the HTTP handler; usable directly too."""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self.lock:
            shop = self.tokens.get(headers.get("x-shopify-access-token", ""))
            self.requests.append({"path": path, "headers": dict(headers), "body": body, "shop": shop})
            if not GRAPHQL_PATH.match(path):
                return 404, {}, {"errors": "Not Found"}
            if shop is None:
                return 401, {}, {"errors": INVALID_TOKEN}
            failure = self._failures.pop(0) if self._failures else None
            if failure is not None and failure["kind"] != "user_error":
                return _failure_response(failure)
            if not isinstance(body, dict) or not isinstance(body.get("query"), str):
                return 400, {}, {"errors": {"query": "Required parameter missing or invalid"}}
            return self._graphql(shop, body["query"], body.get("variables") or {}, failure)

    def _graphql(
        self, shop: str, query: str, variables: Any, failure: dict[str, Any] | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if not re.search(r"\btagsAdd\s*\(", query):
            field = re.search(r"[{]\s*(\w+)", query)
            name = field.group(1) if field else query.strip()[:40]
            return 200, {}, _errors(f"Field '{name}' doesn't exist on type 'QueryRoot'", "undefinedField")
        if not isinstance(variables, dict):
            return 200, {}, _errors("Variables must be an object", "argumentLiteralsIncompatible")
        gid, tags = variables.get("id"), variables.get("tags")
        if isinstance(tags, str):
            tags = tags.split(",")
        if not isinstance(gid, str) or not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return 200, {}, _errors("Variable $id of type ID! or $tags of type [String!]! was not provided", "INVALID")
        match = ORDER_GID.match(gid)
        if match is None:
            return 200, {}, _errors(f"Invalid global id '{gid}'", "argumentLiteralsIncompatible")
        if failure is not None:  # user_error
            return 200, {}, _mutation(None, [{"field": ["tags"], "message": "Scripted user error (FakeShopify)"}])
        order_id = int(match.group("id"))
        if order_id not in self.orders and self.auto_create_orders:
            self.orders[order_id] = set()
            self.order_shops[order_id] = shop
        if order_id not in self.orders or self.order_shops.get(order_id) != shop:
            return 200, {}, _mutation(None, [{"field": ["id"], "message": "Order does not exist"}])
        self.orders[order_id].update(tag.strip() for tag in tags if tag.strip())
        return 200, {}, _mutation({"id": gid}, [])


def _mutation(node: dict[str, Any] | None, user_errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": {"tagsAdd": {"node": node, "userErrors": user_errors}}, "extensions": _cost(MUTATION_COST, 1990.0)}


def _errors(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def _cost(requested: float, available: float, restore_rate: float = RESTORE_RATE) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": None,
            "throttleStatus": {
                "maximumAvailable": MAXIMUM_AVAILABLE,
                "currentlyAvailable": available,
                "restoreRate": restore_rate,
            },
        }
    }


def _failure_response(failure: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    kind = failure["kind"]
    if kind == "http_429":
        headers = {} if failure["retry_after"] is None else {"Retry-After": str(failure["retry_after"])}
        return 429, headers, {"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume."}
    if kind == "http_500":
        return 500, {}, {"errors": "Internal Server Error"}
    if kind == "http_403":
        return 403, {}, {"errors": "[API] This action requires merchant approval for write_orders scope."}
    body = _errors("Throttled", "THROTTLED")
    body["extensions"] = _cost(failure["requested_cost"], failure["currently_available"], failure["restore_rate"])
    return 200, {}, body


def _handler_for(fake: FakeShopify) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Shopify: the client's connection pool is exercised
        timeout = 30  # an idle kept-alive connection frees its thread
        disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms delayed-ACK stall per request)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length > 0 else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, extra, body = fake.handle(self.path, headers, raw)
            self._send(status, extra, body)

        def do_GET(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._send(405 if GRAPHQL_PATH.match(self.path) else 404, {}, {"errors": "Not Found"})

        def _send(self, status: int, extra: dict[str, str], body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # no access log on stderr
            return

    return Handler
