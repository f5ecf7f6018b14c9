"""The OpenAPI 3.1 document, generated from the registry.

Not Powertools' `get_openapi_json_schema`: that one is built from the routes of one resolver, while each of our
actions runs in its own Lambda with its own resolver; the registry is the one place that knows every route, so the
document is generated from it (pydantic makes the schemas). `make openapi` writes it to docs/openapi.json, and a test
fails when the committed file drifts from the registry.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Literal

from pydantic import BaseModel
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
        paths.setdefault(action.v1.gateway_path(), {})[action.v1.method.lower()] = _v1_operation(action, ref)
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


def _operation(action: registry.Action, path: str, ref: Any) -> dict[str, Any]:
    extra = path != action.path
    operation: dict[str, Any] = {
        "operationId": action.name if not extra else f"{action.name}__{path.strip('/').replace('/', '_')}",
        "summary": action.description,
        "tags": [action.resource],
        "description": "\n\n".join(
            [*action.notes, *([f"Aliases: {', '.join(action.aliases)}."] if action.aliases else [])]
        ),
        "responses": {
            str(action.success_status): {
                "description": "Success",
                "content": {"application/json": {"schema": ref(action.response_model)}},
            },
            **{
                code: {"description": text, "content": {"application/json": {"schema": ref(ErrorEnvelope)}}}
                for code, text in sorted({**_ERRORS, **(_BODY_ERRORS if action.body_model else {})}.items())
            },
        },
    }
    params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in action.path_params]
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
            "required": True,
            "content": {"application/json": {"schema": ref(action.body_model, "validation")}},
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


def _v1_operation(action: registry.Action, ref: Any) -> dict[str, Any]:
    """A deprecated v1 route (reference 002): its v2 action's operation, marked deprecated, naming its successor."""
    operation = _operation(action, action.path, ref)
    successor = f"{action.method} {registry.BASE_PATH}{action.path}"
    operation["operationId"] = f"v1_{action.name}"
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


def main() -> None:
    json.dump(document(), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
