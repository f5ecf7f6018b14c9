"""The key that signs and verifies customers' opt-in and unsubscribe links (`services.links`): one Secrets Manager
secret the stack generates. Read once per container (the factory caches it)."""

from __future__ import annotations

from typing import Any

from backinstock import aws


def read_link_secret(secret_arn: str, client: Any = None) -> bytes:
    secret = (client or aws.client("secretsmanager")).get_secret_value(SecretId=secret_arn)
    return str(secret["SecretString"]).encode()
