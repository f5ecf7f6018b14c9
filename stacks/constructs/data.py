"""The data construct: the main DynamoDB table, built from `backinstock.infra_spec.MAIN_TABLE`.

The local backend creates its tables from the same spec, so the keys and indexes the code queries locally are the
ones production has.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from backinstock.infra_spec import MAIN_TABLE, TableSpec


def _key(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


class Data(Construct):
    """Single-table design: on-demand, point-in-time recovery, TTL, a NEW_AND_OLD_IMAGES stream for the report
    rollups, encrypted with the AWS managed key, retained (and deletion-protected) when the stack goes away."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: TableSpec = MAIN_TABLE) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.table = dynamodb.Table(
            self,
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
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for index in spec.indexes:
            self.table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_key(index.partition_key),
                sort_key=_key(index.sort_key),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        # A stateful resource keeps its logical ID whatever the construct tree looks like: moving this construct
        # must never make CloudFormation create a second table.
        cfn_table = self.table.node.default_child
        assert isinstance(cfn_table, dynamodb.CfnTable)
        cfn_table.override_logical_id(spec.logical_id)

    def index_names(self) -> list[str]:
        return [index.name for index in self.spec.indexes]
