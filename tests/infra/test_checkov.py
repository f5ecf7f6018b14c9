"""checkov, a well-kept scanner for CloudFormation, on the synthesized templates (the main stack and the nested
ones): no failed check. A check that does not apply is acknowledged with its reason on the construct it concerns
(`stacks.nag.checkov_skip`, the resource's `Metadata.checkov.skip`), and docs/DEPLOY.md lists every such check.
checkov runs from its own environment (`make checkov-install`: its pins conflict with requirements.lock's)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.template import Synth

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


@pytest.fixture(scope="module")
def scan(synth: Synth, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    assert CHECKOV.exists(), "checkov is not installed: run `make checkov-install` (make test does)"
    templates = tmp_path_factory.mktemp("checkov")
    for template in synth.outdir.glob("*.template.json"):
        (templates / template.name).write_text(template.read_text())
    result = subprocess.run(
        [str(CHECKOV), "-d", str(templates), "--framework", "cloudformation", "-o", "json", "--compact"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.stdout.strip(), result.stderr
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


def test_checkov_finds_nothing_unacknowledged(scan: list[dict[str, Any]]) -> None:
    failed = [
        f"{f['check_id']} {f['resource']} ({f['file_path']}): {f['check_name']}"
        for report in scan
        for f in report.get("results", {}).get("failed_checks", [])
    ]
    assert failed == [], "\n".join(failed)
    assert sum(report.get("summary", {}).get("passed", 0) for report in scan) > 100


def test_every_acknowledged_check_has_a_reason_and_is_listed_in_deploy_md(scan: list[dict[str, Any]]) -> None:
    skipped = [f for report in scan for f in report.get("results", {}).get("skipped_checks", [])]
    assert skipped
    rows = [line for line in (ROOT / "docs" / "DEPLOY.md").read_text().splitlines() if line.startswith("| `CKV_")]
    listed = {check for row in rows for check in re.findall(r"`(CKV_AWS_\d+)`", row.split("|")[1])}
    for finding in skipped:
        assert len(finding.get("check_result", {}).get("suppress_comment", "")) > 40, finding["check_id"]
    assert {f["check_id"] for f in skipped} == listed
