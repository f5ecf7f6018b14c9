"""The data construct: the DynamoDB tables, built from `backinstock.infra_spec` (`MAIN_TABLE`, `IDEMPOTENCY_TABLE`).

The local backend creates its tables from the same specs, so the keys and indexes the code queries locally are the
ones production has.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from backinstock.infra_spec import (
    IDEMPOTENCY_TABLE,
    MAIN_TABLE,
    MAIN_TABLE_INDEXES_BEFORE_23,
    RATE_LIMIT_TABLE,
    Index,
    TableSpec,
    upgrade_step_indexes,
)
from stacks.nag import checkov_skip


def _key(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


def _table(
    scope: Construct, spec: TableSpec, *, retain: bool, indexes: tuple[Index, ...] | None = None
) -> dynamodb.Table:
    """On-demand, point-in-time recovery, encrypted with the AWS managed key, keys/indexes/TTL/stream from the
    spec. `retain`: kept (and deletion-protected) when the stack goes away, or deleted with it. `indexes`: the
    global secondary indexes to synthesize when not all of the spec's (an upgrade's first step)."""
    table = dynamodb.Table(
        scope,
        spec.logical_id,
        partition_key=_key(spec.partition_key),
        sort_key=_key(spec.sort_key) if spec.sort_key else None,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        time_to_live_attribute=spec.ttl_attribute,
        stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES if spec.stream else None,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        deletion_protection=retain,
        removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
    )
    for index in spec.indexes if indexes is None else indexes:
        table.add_global_secondary_index(
            index_name=index.name,
            partition_key=_key(index.partition_key),
            sort_key=_key(index.sort_key),
            projection_type=dynamodb.ProjectionType(index.projection),
        )
    # A stateful resource keeps its logical ID whatever the construct tree looks like: moving this construct
    # must never make CloudFormation create a second table.
    cfn_table = table.node.default_child
    assert isinstance(cfn_table, dynamodb.CfnTable)
    cfn_table.override_logical_id(spec.logical_id)
    checkov_skip(
        table,
        "CKV_AWS_119",
        "Encrypted at rest with the AWS managed key (aws/dynamodb): access is governed by IAM on the table (one "
        "least-privilege role per function); a customer-managed key would add a key policy to every role and cost "
        "per request for no access the IAM grants do not already limit.",
    )
    return table


class Data(Construct):
    """`table`: the single table (shops, keys, settings, signups, sends), with a NEW_AND_OLD_IMAGES stream for the
    report rollups; retained and deletion-protected: it is the customers' data.

    `idempotency_table`: the `Idempotency-Key` records (Powertools persistence), key `id`, expiring through
    `expiration` after 24 hours. Deleted with the stack, not retained: every record is a replay cache of at most a
    day, worth nothing once the API that reads it is gone, and a retained copy would only be an orphan (a replaced
    table starts empty whatever its removal policy, because the functions point at the new one).

    `rate_limit_table`: the per-shop rate-limit buckets (`services/ratelimits.py`), key `id`, idle ones expiring
    through `expires_at`; not retained for the same reason (a bucket is a minute of state)."""

    def __init__(self, scope: Construct, construct_id: str, *, upgrade_indexes: bool = False) -> None:
        """`upgrade_indexes`: the first deploy of a stack made before issue 23 (the main table has GSI1 and GSI2):
        only one new index (GSI3), as CloudFormation creates one global secondary index per table update; the next
        plain deploy adds GSI4 (docs/DEPLOY.md). The functions' grants name every index of the spec either way."""
        super().__init__(scope, construct_id)
        self.spec = MAIN_TABLE
        self.indexes = (
            upgrade_step_indexes(MAIN_TABLE, MAIN_TABLE_INDEXES_BEFORE_23) if upgrade_indexes else MAIN_TABLE.indexes
        )
        self.table = _table(self, MAIN_TABLE, retain=True, indexes=self.indexes)
        self.idempotency_table = _table(self, IDEMPOTENCY_TABLE, retain=False)
        self.rate_limit_table = _table(self, RATE_LIMIT_TABLE, retain=False)

    def index_names(self) -> list[str]:
        return [index.name for index in self.spec.indexes]
