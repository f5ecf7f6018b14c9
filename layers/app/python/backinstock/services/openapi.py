"""The OpenAPI 3.1 document, generated from the registry.

Not Powertools' `get_openapi_json_schema`: that one is built from the routes of one resolver, while each of our
actions runs in its own Lambda with its own resolver; the registry is the one place that knows every route, so the
document is generated from it (pydantic makes the schemas). `make openapi` writes it to docs/openapi.json, and a test
fails when the committed file drifts from the registry.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from backinstock import __version__, registry
from backinstock.models.common import ErrorEnvelope, RateLimitedEnvelope

_REF = "#/components/schemas/{model}"
_ERRORS = {
    "401": "Missing, invalid or revoked API key",
    "404": "Not found (another shop's ids are not found either)",
    "409": "Conflict with the current state",
    "422": "Validation failed: every problem is listed; nothing was written",
}
# Only for actions that take a body.
_BODY_ERRORS = {
    "400": "The request body is not UTF-8 text: nothing was written",
    "413": "Request body too large: nothing was written",
    "415": "The body was not sent as JSON (Content-Type: application/json): nothing was written",
}


# Every answer of a route limited per shop (`Action.rate_limited`) carries these; a 429 adds Retry-After.
_RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "The shop's points per rolling 60 seconds (its plan's; a GET costs 1 point, a write 2)",
    "X-RateLimit-Remaining": "Points left now",
    "X-RateLimit-Reset": "Seconds until all the points are back",
}
_RETRY_AFTER = {"Retry-After": "Seconds until the refused request would pass (as `retry_after` in the body)"}
_RATE_LIMITED = "Rate limit exceeded: nothing was executed; retry after `Retry-After` seconds"


def _header_refs(names: dict[str, str]) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _with_rate_limit(operation: dict[str, Any], ref: Any) -> None:
    """The headers on every response of a limited operation, and its 429."""
    operation["responses"]["429"] = {
        "description": _RATE_LIMITED,
        "content": {"application/json": {"schema": ref(RateLimitedEnvelope)}},
    }
    for code, response in operation["responses"].items():
        response["headers"] = _header_refs({**_RATE_LIMIT_HEADERS, **(_RETRY_AFTER if code == "429" else {})})


def _models() -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {"ErrorEnvelope": ErrorEnvelope, "RateLimitedEnvelope": RateLimitedEnvelope}
    for action in registry.actions():
        for model in (action.body_model, action.query_model, action.response_model):
            if model is not None:
                seen.setdefault(model.__name__, model)
    return list(seen.values())


CACHE_CONTROL = "public, max-age=300"  # a public document that changes only with a deployment


@cache
def _served_text() -> tuple[str, str]:
    """The document as served (compact JSON) and its ETag, built once per container."""
    text = json.dumps(document(), separators=(",", ":"))
    return text, '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def served(headers: Mapping[str, str]) -> tuple[int, str | None, dict[str, str]]:
    """`GET /openapi.json` as (status, body, headers): the document with an ETag and `Cache-Control: public,
    max-age=300`; a request whose `If-None-Match` names the current ETag (or `*`) gets 304 with no body. (API
    Gateway gzips it for a client that asks: the stage's minimum compression size.)"""
    text, etag = _served_text()
    sent = next((v for k, v in headers.items() if k.lower() == "if-none-match"), "")
    cached = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    tags = {t.strip().removeprefix("W/") for t in sent.split(",")}
    if etag in tags or "*" in tags:
        return 304, None, cached
    return 200, text, cached


def document() -> dict[str, Any]:
    models = _models()
    modes: tuple[Literal["validation"], Literal["serialization"]] = ("validation", "serialization")
    keys = [(m, mode) for mode in modes for m in models]
    refs, top = models_json_schema(keys, ref_template=_REF)
    schemas = top.get("$defs", {})

    def ref(model: type[BaseModel] | None, mode: str = "serialization") -> dict[str, Any]:
        return refs[(model, mode)] if model is not None else {"type": "object"}  # type: ignore[index]

    paths: dict[str, dict[str, Any]] = {}
    for action in registry.actions():
        for path in action.all_paths:
            paths.setdefault(action.gateway_path(path), {})[action.method.lower()] = _operation(action, path, ref)
    for action in registry.v1_actions():
        assert action.v1 is not None
        for v1_path in action.v1.all_paths:
            operation = _v1_operation(action, ref, v1_path)
            paths.setdefault(action.v1.gateway_path(v1_path), {})[action.v1.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Back in Stock API (v2 external)",
            "version": __version__,
            "description": "Restock alerts for Shopify: the waitlist, sends, settings and reports.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "headers": {
                name: {"description": text, "schema": {"type": "integer", "minimum": 0}}
                for name, text in {**_RATE_LIMIT_HEADERS, **_RETRY_AFTER}.items()
            },
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
        "paths": dict(sorted(paths.items())),
    }


# A customer link's page (`Action.html`) answers HTML: its page, or the page saying the link is invalid.
_HTML = {"text/html": {"schema": {"type": "string"}}}
_HTML_ERRORS = {"400": "The link is invalid or has expired (missing, altered or too old): a page that says so"}


_JSON_RPC_ERROR = {
    "type": "object",
    "required": ["jsonrpc", "id", "error"],
    "properties": {
        "jsonrpc": {"const": "2.0"},
        "id": {"type": ["string", "integer", "null"]},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}},
        },
    },
}
# The MCP transport (api/mcp.py): JSON-RPC answers, and JSON-RPC errors for a message it cannot take.
_MCP_RESPONSES = {
    "200": {
        "description": "The JSON-RPC response (or the batch of them); a failed tool call is a result with isError",
        "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
    },
    "202": {"description": "Accepted: the message was a notification, which gets no response"},
    "400": {
        "description": "Parse error or invalid JSON-RPC request, or an unsupported MCP-Protocol-Version",
        "content": {"application/json": {"schema": _JSON_RPC_ERROR}},
    },
    "401": {
        "description": _ERRORS["401"],
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorEnvelope")}}},
    },
    "406": {
        "description": "Not Acceptable: the Accept header does not allow application/json",
        "content": {"application/json": {"schema": _JSON_RPC_ERROR}},
    },
    "413": {"description": _BODY_ERRORS["413"], "content": {"application/json": {"schema": _JSON_RPC_ERROR}}},
    "415": {"description": _BODY_ERRORS["415"], "content": {"application/json": {"schema": _JSON_RPC_ERROR}}},
}


def _responses(action: registry.Action, ref: Any) -> dict[str, Any]:
    """Every status the action answers, each with its body: its success, its own (`Action.statuses`), and the errors
    of its kind (a page for a customer link; the error envelope otherwise, the JSON-RPC error for MCP)."""
    success: dict[str, Any]
    if action.html:
        success = {"description": "Success", "content": _HTML}
        errors = {code: {"description": text, "content": _HTML} for code, text in _HTML_ERRORS.items()}
        return {str(action.success_status): success, **errors}
    if action.runs_actions:
        return _MCP_RESPONSES
    if action.success_status == 302:
        success = {"description": "Found: Location is where the file is (a pre-signed URL)"}
    else:
        success = {"description": "Success", "content": {"application/json": {"schema": ref(action.response_model)}}}
    out = {str(action.success_status): success}
    for status, meaning in action.statuses:
        if status == 304:  # Not Modified: never a body
            out[str(status)] = {"description": meaning}
        elif status >= 400:
            envelope = {"application/json": {"schema": ref(ErrorEnvelope)}}
            out[str(status)] = {"description": meaning, "content": envelope}
        else:
            out[str(status)] = {"description": meaning, "content": success.get("content", {})}
    for code, text in {**_ERRORS, **(_BODY_ERRORS if action.body_model else {})}.items():
        out.setdefault(code, {"description": text, "content": {"application/json": {"schema": ref(ErrorEnvelope)}}})
    return dict(sorted(out.items()))


def _operation(action: registry.Action, path: str, ref: Any) -> dict[str, Any]:
    extra = path != action.path
    rules = [rule for model in (action.query_model, action.body_model) for rule in getattr(model, "contract_rules", ())]
    operation: dict[str, Any] = {
        "operationId": action.name if not extra else f"{action.name}__{path.strip('/').replace('/', '_')}",
        "summary": action.description,
        "tags": [action.resource],
        "description": "\n\n".join(
            [*action.notes, *rules, *([f"Aliases: {', '.join(action.aliases)}."] if action.aliases else [])]
        ),
        "responses": _responses(action, ref),
    }
    # The parameters of this path (an extra path, e.g. /help at a resource path, has its own: /signups/:id/help)
    names = registry._PARAM.findall(path)
    params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in names]
    if action.query_model is not None:
        schema = action.query_model.model_json_schema(ref_template=_REF)
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in schema.get("required", []), "schema": prop})
    if action.rate_limited:
        _with_rate_limit(operation, ref)
    if params:
        operation["parameters"] = params
    if action.body_model is not None:
        operation["requestBody"] = {
            "required": not (action.body_optional and _takes_empty(action.body_model)),
            "content": {"application/json": {"schema": ref(action.body_model, "validation")}},
        }
    elif action.runs_actions:  # MCP: a JSON-RPC message (or a batch of them), read by the transport itself
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
        }
    auth = registry.Auth
    if action.auth is auth.API_KEY:
        operation["security"] = [{"apiKey": []}]
    elif action.auth is auth.BEARER:
        operation["security"] = [{"bearer": []}]
    else:
        operation["security"] = []
    return operation


_V1_HEADERS = {
    "Deprecation": "RFC 9745: when v1 was deprecated, `@<unix seconds>`",
    "Sunset": "RFC 8594: the HTTP date after which v1 may stop answering",
    "Link": 'The v2 successor: `<path>; rel="successor-version"`',
}


def _v1_operation(action: registry.Action, ref: Any, path: str | None = None) -> dict[str, Any]:
    """A deprecated v1 route (reference 002): its v2 action's operation, marked deprecated, naming its successor."""
    operation = _operation(action, action.path, ref)
    successor = f"{action.method} {registry.BASE_PATH}{action.path}"
    assert action.v1 is not None
    suffix = f"__{path.strip('/').replace('/', '_')}" if path is not None and path != action.v1.path else ""
    operation["operationId"] = f"v1_{action.name}{suffix}"
    operation["deprecated"] = True
    operation["tags"] = ["v1"]
    operation["description"] = "\n\n".join(
        [f"Deprecated v1 route: runs `{successor}` and answers what it answers.", operation["description"]]
    ).strip()
    for response in operation["responses"].values():
        response.setdefault("headers", {}).update(
            {name: {"description": text, "schema": {"type": "string"}} for name, text in _V1_HEADERS.items()}
        )
    return operation


def _takes_empty(model: type[BaseModel]) -> bool:
    """Whether an empty body (read as `{}`) passes the model: an optional body whose model requires something (a
    by-variant export's offer scope) is, in the end, required."""
    try:
        model.model_validate_json("{}", strict=True)
    except ValidationError:
        return False
    return True


def main() -> None:
    json.dump(document(), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
