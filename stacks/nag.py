"""cdk-nag (3.x) wiring: the AWS Solutions rule pack as a CDK validation plugin, and acknowledgments.

A finding fails the synth unless it is fixed or acknowledged on the construct it concerns, with a reason that says
why. docs/DEPLOY.md lists every acknowledgment.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def add_checks(app: IConstruct) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one rule (or one finding, `Rule[Finding]`) on `scope` and everything under it."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))
