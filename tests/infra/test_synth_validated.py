"""The one full synth: aws-cdk-lib's CloudFormation validation and the cdk-nag AWS Solutions pack on (both walk
every stack, nested ones included), then cfn-lint on every template: the main one and each nested stack's. Bundling
stays skipped (no pip, no network); `make synth` is the real thing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.infra.template import SKIP_BUNDLING, cfn_lint, load_synth

pytestmark = pytest.mark.infra


def test_validated_synth_passes_cdk_nag_and_cfn_lint(tmp_path: Path) -> None:
    assert os.environ.get("CDK_VALIDATION") != "false", "this test is the validated synth: unset CDK_VALIDATION"
    from stacks.application import build_app

    app, stack = build_app(outdir=str(tmp_path), validation=True, checks=True, context=SKIP_BUNDLING)
    # Raises ValidationFailed on any unacknowledged cdk-nag finding or CloudFormation validation error.
    app.synth()

    synth = load_synth(tmp_path, stack.artifact_id)
    # cfn-lint gets every template of the app, and there is no other: the main stack's and each nested stack's.
    assert {t.name for t in tmp_path.glob("*.template.json")} == set(synth.stacks)
    assert len(synth.stacks) > 1, "the action functions live in nested stacks"
    result = cfn_lint(synth)
    assert result.returncode == 0, result.stdout + result.stderr
