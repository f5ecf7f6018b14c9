"""Shapes of the AWS resources that both the CDK stack and the local backend create from one definition.

The CDK data construct and `backinstock.local.backend` both read these, so the local run's tables are the tables
that production has. See docs/DATA_MODEL.md for the access patterns behind the keys and indexes.
"""

from __future__ import annotations

from dataclasses import dataclass

PK = "PK"
SK = "SK"
TTL_ATTRIBUTE = "expires_at"


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str
    sort_key: str


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    partition_key: str
    sort_key: str
    indexes: tuple[Index, ...]
    ttl_attribute: str | None
    stream: bool


MAIN_TABLE = TableSpec(
    logical_id="MainTable",
    partition_key=PK,
    sort_key=SK,
    indexes=(
        Index("GSI1", "GSI1PK", "GSI1SK"),
        Index("GSI2", "GSI2PK", "GSI2SK"),
    ),
    ttl_attribute=TTL_ATTRIBUTE,
    stream=True,  # NEW_AND_OLD_IMAGES: feeds the report rollups
)

TABLES = (MAIN_TABLE,)

# Authorizer results are cached by API Gateway per token for this long: a rotated key stops working in AWS
# within this many seconds (immediately in the local run, which does not cache).
AUTHORIZER_CACHE_SECONDS = 60

# The one 401 message: the authorizer's, and API Gateway's own when the identity header is missing.
UNAUTHORIZED_MESSAGE = (
    "Missing, invalid or revoked API key: send the shop's key in the X-Auth-Token header "
    "(for MCP: Authorization: Bearer <key>)"
)
