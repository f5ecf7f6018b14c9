"""A shop's Shopify secrets in Secrets Manager: the webhook signing secret and the Admin API access token.

One secret per shop, `backinstock/shops/<shop_id>/shopify` (JSON), encrypted with the account's Secrets Manager KMS
key; never in the table, never in a log line or an exception message (`ShopifyCredentials` hides them from repr).
Reads are cached per container for `CACHE_SECONDS`: webhook intake verifies a signature without a Secrets Manager
call on the hot path. A webhook whose signature does not match a cached secret older than `REFRESH_AFTER_SECONDS`
is checked once more against a fresh read, so a rotated secret is picked up at once.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backinstock import aws

SECRET_PREFIX = "backinstock/shops/"  # noqa: S105 (a name prefix, not a secret)
CACHE_SECONDS = 300
REFRESH_AFTER_SECONDS = 30


def secret_name(shop_id: str) -> str:
    return f"{SECRET_PREFIX}{shop_id}/shopify"


@dataclass(frozen=True)
class ShopifyCredentials:
    webhook_secret: str = field(repr=False)
    access_token: str = field(repr=False)


class ShopSecrets:
    def __init__(self, client: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._clock = clock
        self._cache: dict[str, tuple[float, ShopifyCredentials | None]] = {}

    @property
    def client(self) -> Any:
        return self._client or aws.client("secretsmanager")

    def put(self, shop_id: str, credentials: ShopifyCredentials) -> None:
        value = json.dumps({"webhook_secret": credentials.webhook_secret, "access_token": credentials.access_token})
        try:
            self.client.create_secret(
                Name=secret_name(shop_id),
                SecretString=value,
                Description="Shopify webhook secret and Admin API access token of one shop (backinstock)",
            )
        except self.client.exceptions.ResourceExistsException:
            self.client.put_secret_value(SecretId=secret_name(shop_id), SecretString=value)
        self._cache.pop(shop_id, None)

    def get(self, shop_id: str, max_age: float = CACHE_SECONDS) -> ShopifyCredentials | None:
        cached = self._cache.get(shop_id)
        if cached is not None and self._clock() - cached[0] < max_age:
            return cached[1]
        try:
            value = json.loads(self.client.get_secret_value(SecretId=secret_name(shop_id))["SecretString"])
            credentials: ShopifyCredentials | None = ShopifyCredentials(value["webhook_secret"], value["access_token"])
        except self.client.exceptions.ResourceNotFoundException:
            credentials = None
        self._cache[shop_id] = (self._clock(), credentials)
        return credentials

    def age(self, shop_id: str) -> float | None:
        cached = self._cache.get(shop_id)
        return None if cached is None else self._clock() - cached[0]

    def delete(self, shop_id: str) -> None:
        """Delete at once, no recovery window (`shop/redact`: the shop's data must go)."""
        with contextlib.suppress(self.client.exceptions.ResourceNotFoundException):
            self.client.delete_secret(SecretId=secret_name(shop_id), ForceDeleteWithoutRecovery=True)
        self._cache.pop(shop_id, None)
