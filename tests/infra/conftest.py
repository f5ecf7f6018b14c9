"""One synth for every assertion test: built-in CloudFormation validation off, cdk-nag off, bundling skipped (so
no pip run and no network). The one fully validated synth lives in `test_synth_validated.py`."""

from __future__ import annotations

import os

import pytest

from tests.infra.template import SKIP_BUNDLING, Synth, load_synth

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    from stacks.application import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = build_app(outdir=str(outdir), validation=False, checks=False, context=SKIP_BUNDLING)
    app.synth()
    return load_synth(outdir, stack.artifact_id)
