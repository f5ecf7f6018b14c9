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
from backinstock.models.common import ErrorEnvelope

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


def _models() -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {"ErrorEnvelope": ErrorEnvelope}
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


def main() -> None:
    json.dump(document(), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
