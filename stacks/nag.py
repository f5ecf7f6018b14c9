"""cdk-nag (3.x) wiring: the AWS Solutions rule pack as a CDK validation plugin, and acknowledgments (cdk-nag's
and checkov's).

A finding fails the synth unless it is fixed or acknowledged on the construct it concerns, with a reason that says
why. docs/DEPLOY.md lists every acknowledgment.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, CfnResource, Names, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def add_checks(app: IConstruct) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one rule (or one finding, `Rule[Finding]`) on `scope` and everything under it."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def finding_reference(consumer: IConstruct, target: CfnElement, attribute: str = "Ref") -> str:
    """How a finding on a resource of `consumer`'s stack names `target` (`attribute`: "Ref" or a `Fn::GetAtt`
    attribute): `<LogicalId>` or `<LogicalId.Arn>` in the same stack. From a nested stack the value arrives as the
    parameter CDK creates for it, `referenceto<target's unique id><attribute>`, and that is the name cdk-nag sees,
    so an acknowledgment of the finding must use it (tests/infra reads it back as the parent's name)."""
    consumer_stack, producer = Stack.of(consumer), Stack.of(target)
    if consumer_stack is producer:
        logical_id = producer.resolve(target.logical_id)
        return f"<{logical_id}>" if attribute == "Ref" else f"<{logical_id}.{attribute}>"
    if consumer_stack.nested_stack_parent is not producer:
        raise ValueError(f"{consumer.node.path} is not a nested stack of {target.node.path}'s stack")
    return f"<referenceto{Names.node_unique_id(target.node)}{attribute}>"


def checkov_skip(scope: IConstruct, check_id: str, reason: str) -> None:
    """Acknowledge one checkov check (`CKV_AWS_...`) on `scope`'s CloudFormation resource (the construct's default
    child, or `scope` itself), with the reason, in the resource's `Metadata.checkov.skip` where checkov reads it.
    `tests/infra/test_checkov.py` runs checkov on the synthesized templates; docs/DEPLOY.md lists every skip."""
    resource = scope if isinstance(scope, CfnResource) else scope.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{scope.node.path} has no CloudFormation resource to acknowledge {check_id} on")
    metadata = resource.get_metadata("checkov") or {"skip": []}
    metadata["skip"] = [*metadata["skip"], {"id": check_id, "comment": reason}]
    resource.add_metadata("checkov", metadata)
