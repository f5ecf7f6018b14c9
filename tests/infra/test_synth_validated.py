"""The one full synth: aws-cdk-lib's CloudFormation validation and the cdk-nag AWS Solutions pack on, then cfn-lint
on the template. Bundling stays skipped (no pip, no network); `make synth` is the real thing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.template import SKIP_BUNDLING

pytestmark = pytest.mark.infra

CFN_LINT = Path(sys.executable).with_name("cfn-lint")
# W3005 (DependsOn already implied by a reference) is how CDK writes templates: noise, not a finding.
CFN_LINT_IGNORED = "W3005"


def test_validated_synth_passes_cdk_nag_and_cfn_lint(tmp_path: Path) -> None:
    assert os.environ.get("CDK_VALIDATION") != "false", "this test is the validated synth: unset CDK_VALIDATION"
    from stacks.application import build_app

    app, stack = build_app(outdir=str(tmp_path), validation=True, checks=True, context=SKIP_BUNDLING)
    # Raises ValidationFailed on any unacknowledged cdk-nag finding or CloudFormation validation error.
    app.synth()

    template = tmp_path / f"{stack.artifact_id}.template.json"
    result = subprocess.run(
        [str(CFN_LINT), "--ignore-checks", CFN_LINT_IGNORED, "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
