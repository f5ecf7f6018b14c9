"""Builds the CDK app: `app.py` and the infrastructure tests go through `build_app`, so what the tests synthesize
is what `cdk synth` and `make synth` synthesize.

No side effects: no AWS calls, no git, no clock. Account and region come from the environment the CDK CLI sets
(CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION); without them the stack is environment-agnostic.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import aws_cdk as cdk
from pydantic import TypeAdapter, ValidationError

from backinstock import config
from stacks import nag
from stacks.backinstock_stack import DEFAULT_SENDER_EMAIL, BackInStockStack

REPO_ROOT = Path(__file__).resolve().parents[1]
STACK_ID = "BackInStock"

# Context keys this app reads (`cdk synth -c alarm_email=ops@example.com`).
CTX_LOG_LEVEL = "log_level"
CTX_ALARM_EMAIL = "alarm_email"
CTX_SENDER_EMAIL = "sender_email"
CTX_UPGRADE_INDEXES = "upgrade_indexes"  # `-c upgrade_indexes=1`: an upgrade's first deploy (docs/DEPLOY.md)


def sender_email(value: Any) -> str:
    """The `sender_email` context: the From address of customer mail (an SES-verified identity in the account).
    Checked at synth with the worker's own rule (`backinstock.config.WorkerEnv`), so a typo fails the synth, not
    the worker's cold start."""
    address = str(value or DEFAULT_SENDER_EMAIL)
    field = config.WorkerEnv.model_fields["SENDER_EMAIL"]
    try:
        TypeAdapter(Annotated[str, field]).validate_python(address)
    except ValidationError:
        raise ValueError(f"context {CTX_SENDER_EMAIL}: not an e-mail address: {address!r}") from None
    return address


def upgrade_indexes(value: Any) -> bool:
    """The `upgrade_indexes` context: `1` synthesizes the main table with one new index beyond those a stack made
    before issue 23 has (the first of two deploys: CloudFormation adds one global secondary index per table
    update); absent or `0`, every index (a new stack, or the second deploy). Anything else fails the synth."""
    text = "" if value is None else str(value).strip().lower()
    if text in ("", "0", "false"):
        return False
    if text in ("1", "true"):
        return True
    raise ValueError(f"context {CTX_UPGRADE_INDEXES}: 1 (an upgrade's first deploy) or 0, not {value!r}")


def cdk_json_context() -> dict[str, Any]:
    """The `context` of cdk.json: feature flags and defaults. The CDK CLI passes it to the app itself; a plain
    `python app.py` would not see it, so the app loads it as defaults (the CLI's values still win)."""
    return dict(json.loads((REPO_ROOT / "cdk.json").read_text()).get("context", {}))


def build_app(
    *,
    outdir: str | None = None,
    validation: bool = True,
    checks: bool = True,
    context: Mapping[str, Any] | None = None,
) -> tuple[cdk.App, BackInStockStack]:
    """`validation`: aws-cdk-lib's built-in CloudFormation validation (also off with CDK_VALIDATION=false).
    `checks`: the cdk-nag AWS Solutions pack. `context` overrides everything else, CLI context included (tests
    pass `{"aws:cdk:bundling-stacks": []}` to skip bundling)."""
    app = cdk.App(
        outdir=outdir,
        context=cdk_json_context(),
        post_cli_context=dict(context or {}),
        builtin_cloud_formation_validation=validation,
    )
    if checks:
        nag.add_checks(app)
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=os.environ.get("CDK_DEFAULT_REGION"),
    )
    stack = BackInStockStack(
        app,
        STACK_ID,
        env=env,
        description=(
            "Back-in-stock API (v2 external): API Gateway, one Lambda per action, DynamoDB, SQS send and webhook "
            "workers, Step Functions workflows"
        ),
        log_level=str(app.node.try_get_context(CTX_LOG_LEVEL) or "INFO"),
        alarm_email=app.node.try_get_context(CTX_ALARM_EMAIL) or None,
        sender_email=sender_email(app.node.try_get_context(CTX_SENDER_EMAIL)),
        upgrade_indexes=upgrade_indexes(app.node.try_get_context(CTX_UPGRADE_INDEXES)),
    )
    cdk.Tags.of(app).add("app", "backinstock")
    return app, stack
