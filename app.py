#!/usr/bin/env python3
"""CDK entry point: `python app.py`, `make synth` or `npx aws-cdk@2 synth`. Offline: no AWS account, no Docker.

Run directly, it writes the cloud assembly to ./cdk.out; under the CDK CLI, wherever the CLI says (CDK_OUTDIR).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Before the first aws_cdk import: the jsii runtime reads its environment when it starts.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from stacks.application import build_app

CDK_OUTDIR = "CDK_OUTDIR"  # set by the CDK CLI


def main() -> None:
    under_cli = CDK_OUTDIR in os.environ
    outdir = None if under_cli else str(Path(__file__).resolve().parent / "cdk.out")
    app, stack = build_app(outdir=outdir)
    assembly = app.synth()
    if not under_cli:
        template = Path(assembly.get_stack_artifact(stack.artifact_id).template_full_path)
        nested = sorted(template.parent.glob("*.nested.template.json"))
        print(f"CloudFormation template: {template}, and {len(nested)} nested stacks' beside it", file=sys.stderr)


if __name__ == "__main__":
    main()
