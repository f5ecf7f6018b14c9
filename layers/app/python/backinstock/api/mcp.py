"""The Model Context Protocol endpoint: JSON-RPC 2.0 over MCP Streamable HTTP, stateless, JSON responses only.

Every action of the registry with `mcp_tool=True` is a tool of the same name whose `inputSchema` is the action's
`input_schema()` (the `request_schema` that /help shows). A tool call builds the API Gateway proxy event that the
HTTP route would receive, for the shop the authorizer resolved from the Bearer key, and runs the action's own handler
in-process (`backinstock.dispatch`): same validation, same domain rules, same error envelope.

Protocol decisions (see docs/MCP.md):
- Stateless: no `Mcp-Session-Id`, no server-to-client messages, so no GET (SSE) and no DELETE on the endpoint: the
  gateway answers those with 404, and the official client never sends them because we never hand out a session id.
- `initialize` echoes the client's protocolVersion when it is one of `PROTOCOL_VERSIONS`, else offers our latest.
  A request whose `MCP-Protocol-Version` header names an unsupported version is refused with HTTP 400 (the
  transport spec's rule); a missing header is accepted (2025-03-26 clients do not send it).
- Requests answer HTTP 200 with a JSON-RPC result or error; notifications and client responses answer 202 with no
  body; an unparseable body is -32700 with HTTP 400, a malformed envelope -32600 with HTTP 400.
- JSON-RPC batches (arrays) are accepted, as 2025-03-26 requires of servers; later revisions removed them and no
  current client sends one. At most `MAX_BATCH` messages, `initialize` not among them.
- Every message pays: before anything runs, the POST takes 1 rate-limit point per message that is not a
  `tools/call` (`initialize`, `ping`, `tools/list`, notifications; each one of a batch), and each tool call then
  takes its route's points as it runs. A shop out of points gets HTTP 429 for a message or a batch that holds any
  such message; a tool call past the limit is a tool result with `isError` and status 429.
- A tool call whose HTTP status is >= 400 is a tool result with `isError: true` carrying the API's error envelope
  plus `status`, not a JSON-RPC error: the model sees the same messages an HTTP caller does and can correct itself.
  An unknown tool, or `arguments` that are not an object, is JSON-RPC -32602.

Why not the `mcp` SDK's server: it needs an ASGI runtime (Starlette, anyio), imports in ~1.2 s (cold start is import
time) and its DNS-rebinding protection rejects API Gateway's Host header unless configured. The surface we serve is
five methods, so it is written here with pydantic; the SDK's *client* is what the e2e tests drive this endpoint with.
Nothing here imports the `mcp` package.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, model_validator

from backinstock import dispatch, registry
from backinstock.api.http import error_body, logger, metrics
from backinstock.api.validation import MAX_BODY_BYTES, Repeated, loads_once, problems_text
from backinstock.errors import Problem

# Newest first. Streamable HTTP exists since 2025-03-26; 2024-11-05 clients speak the older HTTP+SSE transport.
PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
LATEST_PROTOCOL_VERSION = PROTOCOL_VERSIONS[0]
PROTOCOL_VERSION_HEADER = "mcp-protocol-version"
SERVER_NAME = "backinstock"
MAX_BATCH = 20

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

INSTRUCTIONS = (
    "Back-in-stock API (v2 external) of a Shopify restock-alert app, acting for the one shop whose API key "
    "authenticates this connection. Each tool is one API action, named as in the API reference and in /help. "
    "A tool's arguments are the action's path parameters, query parameters and JSON body fields, flattened into one "
    "object and described by its inputSchema; PATCH tools are deep-partial: send only the keys to change. "
    "A result carries the action's JSON response (text and structuredContent). Errors come back as results with "
    "isError true and the API's error envelope: status, errors (readable messages) and error_details "
    "(code, field, message); fix the named fields and retry. Nothing is written when a call fails validation. "
    "Tools with readOnlyHint only read. Call the `help` tool for paths, aliases and notes of every action."
)

_GET_LIKE = frozenset({"GET", "DELETE"})


# --- The HTTP answer --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What the endpoint sends back: a status and a JSON payload (None: no body, e.g. 202 for a notification)."""

    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Invoke = Callable[[registry.Action, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Caller:
    """Who is calling: the shop the authorizer resolved, and the request id the gateway gave this POST."""

    shop_id: str
    request_id: str = ""
    origin: str = ""  # where the client reached the API (`api.http.origin_of`): tools' links point there too
    plan: str = ""  # the shop's plan (the authorizer's context): a tool call takes its points from the same limit


# --- The JSON-RPC envelope --------------------------------------------------------------------------------------


class Message(BaseModel):
    """One JSON-RPC 2.0 message as MCP uses it: a request (method + id), a notification (method, no id) or a
    response to a server request (result or error + id). MCP forbids a null id and takes params as an object."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    jsonrpc: Literal["2.0"]
    id: StrictInt | StrictStr | None = None
    method: StrictStr | None = None
    params: dict[str, Any] | None = None
    result: Any = None
    error: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Message:
        present = self.model_fields_set
        if self.method is not None:
            if present & {"result", "error"}:
                raise ValueError("a request or notification carries method and params, not result or error")
            if "id" in present and self.id is None:
                raise ValueError("id must be a string or an integer (MCP forbids null)")
        elif present & {"result", "error"}:
            if self.id is None:
                raise ValueError("a response needs the id of the request it answers")
        else:
            raise ValueError("a message needs a method (request or notification) or a result or error (response)")
        return self

    @property
    def is_request(self) -> bool:
        return self.method is not None and "id" in self.model_fields_set


class _Params(BaseModel):
    # `_meta` and fields of later revisions are ignored, not rejected: they are the client's business.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


P = TypeVar("P", bound=_Params)


class InitializeParams(_Params):
    protocol_version: StrictStr = Field(alias="protocolVersion")
    capabilities: dict[str, Any] = Field(default_factory=dict)
    client_info: dict[str, Any] | None = Field(default=None, alias="clientInfo")


class CallToolParams(_Params):
    name: StrictStr
    arguments: dict[str, Any] | None = None


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def _error(message_id: Any, code: int, text: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": text}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": message_id, "error": error}


def _result(message_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message_id, "result": result}


def _salvaged_id(raw: Any) -> Any:
    """The id of a malformed message when it is usable (string or integer), so the client can correlate."""
    value = raw.get("id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)) else None


# --- The HTTP entry ---------------------------------------------------------------------------------------------


def handle(
    body: str | None,
    headers: Mapping[str, str] | None,
    caller: Caller,
    invoke: Invoke | None = None,
    charge: Callable[[int], None] | None = None,
) -> Answer:
    """One POST to the MCP endpoint: the raw body and headers in, the HTTP status and JSON payload out. `charge`
    takes rate-limit points (raising `RateLimited` when the shop has none left): `points_of` the messages."""
    lowered = {k.lower(): v for k, v in (headers or {}).items() if isinstance(v, str)}
    if not _accepts_json(lowered.get("accept")):
        text = "Not Acceptable: the Accept header must allow application/json"
        return Answer(406, _error(None, INVALID_REQUEST, text))
    version = lowered.get(PROTOCOL_VERSION_HEADER, "").strip()
    if version and version not in PROTOCOL_VERSIONS:
        text = (
            f"Unsupported MCP-Protocol-Version {version!r}: this server speaks {', '.join(PROTOCOL_VERSIONS)} "
            "(negotiate one with initialize)"
        )
        return Answer(400, _error(None, INVALID_REQUEST, text, {"supported": list(PROTOCOL_VERSIONS)}))
    media = lowered.get("content-type", "").split(";")[0].strip().lower()
    if media and media != "application/json":
        text = f"Unsupported Media Type: send the JSON-RPC message with Content-Type: application/json (got {media!r})"
        return Answer(415, _error(None, INVALID_REQUEST, text))
    if body is None or not body.strip():
        return Answer(400, _error(None, PARSE_ERROR, "Parse error: the request body is empty; send a JSON-RPC message"))
    if len(body) > MAX_BODY_BYTES:
        return Answer(413, _error(None, INVALID_REQUEST, f"request body exceeds {MAX_BODY_BYTES} bytes"))
    try:
        raw = loads_once(body)
    except Repeated as exc:
        text = f"Parse error: the body names {exc.key[:60]!r} more than once in one object; send each member once"
        return Answer(400, _error(None, PARSE_ERROR, text))
    except ValueError as exc:
        return Answer(400, _error(None, PARSE_ERROR, f"Parse error: the body is not valid JSON ({exc})"))
    except RecursionError:  # nested deeper than the parser goes (a thousand levels): not a message we can read
        return Answer(400, _error(None, PARSE_ERROR, "Parse error: the body's JSON is nested too deeply"))

    run = invoke or invoke_action
    if isinstance(raw, list) and len(raw) > MAX_BATCH:
        text = f"Invalid Request: a batch holds at most {MAX_BATCH} messages (got {len(raw)})"
        return Answer(400, _error(None, INVALID_REQUEST, text))
    if charge is not None:
        charge(points_of(raw))
    if isinstance(raw, list):
        return _handle_batch(raw, caller, run)
    try:
        message = Message.model_validate(raw)
    except ValidationError as exc:
        return Answer(
            400,
            _error(_salvaged_id(raw), INVALID_REQUEST, f"Invalid Request: {problems_text(exc, Message, 'message')}"),
        )
    response = _respond(message, caller, run)
    return Answer(202) if response is None else Answer(200, response)


def points_of(raw: Any) -> int:
    """What the transport charges for a message or a batch: 1 per message that is not a `tools/call` (a tool call
    takes its own route's points when it runs)."""
    messages = raw if isinstance(raw, list) else [raw]
    return sum(1 for m in messages if not (isinstance(m, dict) and m.get("method") == "tools/call"))


def _accepts_json(accept: str | None) -> bool:
    """Lenient: a missing Accept header is fine; one that is present must allow application/json."""
    if accept is None or not accept.strip():
        return True
    types = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(types & {"application/json", "application/*", "*/*"})


def _handle_batch(raw: list[Any], caller: Caller, run: Invoke) -> Answer:
    if not raw:
        return Answer(400, _error(None, INVALID_REQUEST, "Invalid Request: an empty batch"))
    if len(raw) > MAX_BATCH:
        text = f"Invalid Request: a batch holds at most {MAX_BATCH} messages (got {len(raw)})"
        return Answer(400, _error(None, INVALID_REQUEST, text))
    responses: list[dict[str, Any]] = []
    for item in raw:
        try:
            message = Message.model_validate(item)
        except ValidationError as exc:
            responses.append(
                _error(
                    _salvaged_id(item), INVALID_REQUEST, f"Invalid Request: {problems_text(exc, Message, 'message')}"
                )
            )
            continue
        if message.method == "initialize":
            if message.is_request:
                responses.append(_error(message.id, INVALID_REQUEST, "initialize must not be part of a batch"))
            continue
        response = _respond(message, caller, run)
        if response is not None:
            responses.append(response)
    return Answer(200, responses) if responses else Answer(202)


def _respond(message: Message, caller: Caller, run: Invoke) -> dict[str, Any] | None:
    """The response to one message; None for notifications and client responses (nothing to answer)."""
    if not message.is_request:
        return None
    method = message.method or ""
    params = message.params or {}
    try:
        if method == "initialize":
            return _result(message.id, initialize(params))
        if method == "ping":
            return _result(message.id, {})
        if method == "tools/list":
            return _result(message.id, {"tools": tools()})
        if method == "tools/call":
            return _result(message.id, call_tool(params, caller, run))
        raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")
    except RpcError as exc:
        return _error(message.id, exc.code, exc.message, exc.data)
    except Exception:
        logger.exception("MCP request failed", extra={"method": method})
        text = f"Internal error: the request was not completed; retry later (request id {caller.request_id})"
        return _error(message.id, INTERNAL_ERROR, text)


def _params(model: type[P], params: dict[str, Any]) -> P:
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise RpcError(INVALID_PARAMS, f"Invalid params: {problems_text(exc, model, 'params')}") from None


# --- Methods ----------------------------------------------------------------------------------------------------


def initialize(params: dict[str, Any]) -> dict[str, Any]:
    requested = _params(InitializeParams, params).protocol_version
    return {
        "protocolVersion": requested if requested in PROTOCOL_VERSIONS else LATEST_PROTOCOL_VERSION,
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": {"name": SERVER_NAME, "title": "Back in Stock API", "version": registry.API_VERSION},
        "instructions": INSTRUCTIONS,
    }


@cache
def _tool_actions() -> dict[str, registry.Action]:
    return {a.name: a for a in registry.actions() if a.mcp_tool}


def tools() -> list[dict[str, Any]]:
    """Every registry action with `mcp_tool=True`, in registry order."""
    return [tool_for(action) for action in _tool_actions().values()]


def tool_for(action: registry.Action) -> dict[str, Any]:
    return {
        "name": action.name,
        "description": describe(action),
        "inputSchema": action.input_schema(),
        "annotations": {"readOnlyHint": action.method == "GET" and action.read_only},
    }


def describe(action: registry.Action) -> str:
    lines = [action.description.rstrip(".") + "."]
    if action.aliases:
        lines.append("Also known as: " + ", ".join(action.aliases) + ".")
    lines.append(f"HTTP: {action.method} {registry.BASE_PATH}{action.path}")
    lines.extend(f"- {note}" for note in action.notes)
    return "\n".join(lines)


def call_tool(params: dict[str, Any], caller: Caller, run: Invoke) -> dict[str, Any]:
    call = _params(CallToolParams, params)
    action = _tool_actions().get(call.name)
    if action is None:
        raise RpcError(INVALID_PARAMS, f"Unknown tool: {call.name}; tools/list names the available tools")
    built = build_event(action, call.arguments or {}, caller)
    if isinstance(built, list):
        return tool_result(422, json.dumps(error_body(built, caller.request_id or None)))
    response = run(action, built)
    return tool_result(int(response.get("statusCode", 500)), response.get("body") or "")


def build_event(action: registry.Action, arguments: dict[str, Any], caller: Caller) -> dict[str, Any] | list[Problem]:
    """The proxy event the action's HTTP route would receive for these tool arguments, or the problems that stop
    it: path parameters by name; for GET/DELETE everything else is the query (values as strings, null omitted);
    otherwise query-model fields go to the query and the rest is the JSON body. Arguments that no model would
    check (an action without a query or body model) are refused here, as the inputSchema says."""
    problems: list[Problem] = []
    path_values: dict[str, str] = {}
    for name in action.path_params:
        value = arguments.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem("missing" if value is None else "string_type", "is required: a string", name))
        else:
            path_values[name] = value
    rest = {k: v for k, v in arguments.items() if k not in action.path_params}
    if action.method in _GET_LIKE:
        query_args, body_args = rest, {}
    else:
        query_names = _field_names(action.query_model)
        query_args = {k: v for k, v in rest.items() if k in query_names}
        body_args = {k: v for k, v in rest.items() if k not in query_names}
    unchecked = [
        *(query_args if action.query_model is None else ()),
        *(body_args if action.body_model is None else ()),
    ]
    if unchecked:
        allowed = sorted(action.input_schema()["properties"])
        hint = f"; allowed: {', '.join(allowed)}" if allowed else "; this tool takes no arguments"
        problems.extend(Problem("extra_forbidden", f"is not a known field{hint}", name) for name in unchecked)
    if problems:
        return problems

    path = registry.BASE_PATH + action.path
    for name, value in path_values.items():
        path = path.replace(f":{name}", quote(value, safe=""))
    query = {k: _query_value(v) for k, v in query_args.items() if v is not None}
    has_body = action.body_model is not None or bool(body_args)
    headers = {"Accept": "application/json", "User-Agent": "backinstock-mcp"}
    if has_body:
        headers["Content-Type"] = "application/json"
    return dispatch.proxy_event(
        action,
        action.method,
        path,
        path_params=path_values,
        headers=headers,
        query=query or None,
        body=json.dumps(body_args) if has_body else None,
        shop_id=caller.shop_id or None,
        request_id=caller.request_id or None,
        origin=caller.origin or None,
        plan=caller.plan or None,
    )


def _field_names(model: type[BaseModel] | None) -> set[str]:
    return set(model.model_json_schema().get("properties", {})) if model is not None else set()


def _query_value(value: Any) -> str | list[str]:
    """A query parameter as HTTP sends it; an array is the parameter repeated (`offer_ids[]=a&offer_ids[]=b`)."""
    if isinstance(value, list):
        return [v if isinstance(v, str) else json.dumps(v) for v in value]
    return value if isinstance(value, str) else json.dumps(value)


def tool_result(status: int, body: str) -> dict[str, Any]:
    """A CallToolResult from the action's HTTP response: the body as text, the object as structuredContent, and
    for a status >= 400 `isError` with the error envelope plus its `status`."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    is_error = status >= 400
    if is_error:
        envelope = parsed if isinstance(parsed, dict) else {"errors": [body or f"HTTP {status}"]}
        parsed = {"status": status, **envelope}
        body = json.dumps(parsed, separators=(",", ":"))
    result: dict[str, Any] = {"content": [{"type": "text", "text": body}], "isError": is_error}
    if isinstance(parsed, dict):
        result["structuredContent"] = parsed
    return result


# --- Running another action in this process ----------------------------------------------------------------------


def invoke_action(action: registry.Action, event: dict[str, Any]) -> dict[str, Any]:
    """Run the action's Lambda handler in-process, as its own container would run it.

    Powertools keeps the logger's keys and the pending metrics per process, and the nested handler's decorators
    clear the former and flush the latter. So the MCP invocation's state is set aside first (the nested action's
    metrics go out under its own `action` dimension) and put back afterwards."""
    with _set_aside_observability():
        return dispatch.invoke(action, event)


@contextmanager
def _set_aside_observability() -> Iterator[None]:
    keys = logger.get_current_keys()
    saved = (dict(metrics.metric_set), dict(metrics.dimension_set), dict(metrics.metadata_set))
    metrics.clear_metrics()
    try:
        yield
    finally:
        metrics.clear_metrics()
        targets = (metrics.metric_set, metrics.dimension_set, metrics.metadata_set)
        for target, values in zip(targets, saved, strict=True):
            target.update(values)
        logger.clear_state()
        logger.append_keys(**keys)
