"""boto3 clients, created lazily and once per container.

Nothing here runs at import time: a client made at import escapes moto in tests and costs every cold start.
`AWS_ENDPOINT_URL` (honoured by boto3 itself) points the clients at the local backend in the local run.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        config=Config(
            connect_timeout=2,
            read_timeout=5,
            retries={"mode": "standard", "max_attempts": 3},
            # S3: SigV4 pre-signed URLs (X-Amz-Expires), the only kind that works in every region.
            signature_version="s3v4" if service == "s3" else None,
        ),
    )


def reset() -> None:
    """Forget cached clients (tests switch endpoints and credentials between sessions)."""
    client.cache_clear()
