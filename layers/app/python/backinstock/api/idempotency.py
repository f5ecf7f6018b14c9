"""The `Idempotency-Key` header, on Powertools idempotency (DynamoDB persistence, its own table).

The key is scoped to the shop and the action; the request body is the payload Powertools validates: the same key
with the same body replays the first response (status and body) without a second effect, the same key with another
body is refused (422), and a retry while the first request still runs is told so (409). Errors are not stored:
a request that failed can be retried with the same key. Records expire after `EXPIRES_AFTER_SECONDS`.

Imported only by the actions that declare `idempotent=True` (import cost is cold start).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from backinstock import aws, config
from backinstock.errors import Conflict, Problem, ValidationFailed

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
EXPIRES_AFTER_SECONDS = 24 * 3600


def key_from(headers: dict[str, str] | Any) -> str | None:
    for name, value in (headers or {}).items():
        if name.lower() == HEADER and isinstance(value, str):
            value = value.strip()
            if not value or len(value) > MAX_KEY_LENGTH:
                raise ValidationFailed(
                    problems=[
                        Problem(
                            "invalid_idempotency_key", f"must be 1 to {MAX_KEY_LENGTH} characters", "Idempotency-Key"
                        )
                    ]
                )
            return value
    return None


def run_once(
    shop_id: str, action: str, key: str, body: str | None, compute: Callable[[], dict[str, Any]], context: Any = None
) -> tuple[dict[str, Any], bool]:
    """Run `compute` once per (shop, action, key). Returns its JSON-able result and whether it was replayed."""
    persistence = DynamoDBPersistenceLayer(table_name=config.idempotency_table(), boto3_client=aws.client("dynamodb"))
    settings = IdempotencyConfig(
        event_key_jmespath="[shop_id, action, key]",
        payload_validation_jmespath="body_hash",
        expires_after_seconds=EXPIRES_AFTER_SECONDS,
    )
    if context is not None:
        settings.register_lambda_context(context)
    ran = False

    @idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=settings)
    def once(request: dict[str, Any]) -> dict[str, Any]:
        nonlocal ran
        ran = True
        return compute()

    body_hash = hashlib.sha256(_canonical(body).encode()).hexdigest()
    try:
        result = once(request={"shop_id": shop_id, "action": action, "key": key, "body_hash": body_hash})
    except IdempotencyValidationError:
        raise ValidationFailed(
            problems=[
                Problem(
                    "idempotency_key_reused",
                    "was already used with a different request body; use a new key for a new request",
                    "Idempotency-Key",
                )
            ]
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict("A request with this Idempotency-Key is still in progress; retry in a few seconds") from None
    return result, not ran


def _canonical(body: str | None) -> str:
    """The same JSON with other spacing or key order is the same request."""
    if not body:
        return ""
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):
        return body
