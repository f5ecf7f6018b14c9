"""The served OpenAPI document is the API's contract, and an independent property-based fuzzer proves it: Schemathesis
generates requests from the document (valid ones and invalid ones), sends them to a fresh local run, and runs every
check on the answers: no server error, every status and body as documented, valid requests accepted, invalid ones
refused, undeclared methods answered 405 with Allow, missing auth refused. Any failure fails the test.

Bounded for `make test` (a fixed seed, FUZZ_MAX_EXAMPLES examples per operation, a time budget, FUZZ_MAX_TIME);
`make fuzz` runs it alone with more. Exclusions are in `schemathesis.toml`, each named per operation and check with
its reason; the rules JSON Schema cannot state are followed by the valid requests through `hooks.py`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backinstock import registry
from backinstock.models.reports import MAX_WINDOW_DAYS
from tests.contract import hooks

pytestmark = pytest.mark.contract

HERE = Path(__file__).parent
CONFIG = HERE / "schemathesis.toml"
SEED = os.environ.get("FUZZ_SEED", "20261203")
MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "5")
# Seconds the whole run may take: past it the run is stopped and the test fails. (Not `st run --max-time`, which
# makes the fuzzing phase repeat until the time is spent: pass it in FUZZ_ARGS for an open-ended run.)
MAX_TIME = int(os.environ.get("FUZZ_MAX_TIME", "1200"))
# More of `st run`'s options, e.g. FUZZ_ARGS='--include-operation-id-regex signup' to fuzz a few operations.
EXTRA = shlex.split(os.environ.get("FUZZ_ARGS", ""))


def test_the_served_document_holds_under_the_fuzzer(fuzz_run: tuple[dict[str, Any], dict[str, str]]) -> None:
    server, values = fuzz_run
    origin = server["base_url"].removesuffix(registry.BASE_PATH)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **values,
        "SCHEMATHESIS_HOOKS": "tests.contract.hooks",
        "PYTHONPATH": str(HERE.parent.parent),
    }
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{server['base_url']}/openapi.json",
        "--url",
        origin,
        "--seed",
        SEED,
        "--max-examples",
        MAX_EXAMPLES,
        *EXTRA,
    ]
    report = Path(server["log_file"]).with_name("schemathesis.txt")  # run where its cache (.schemathesis/) can go
    try:
        run = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=MAX_TIME, check=False, cwd=report.parent
        )
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"the fuzzer did not finish within FUZZ_MAX_TIME={MAX_TIME} s (seed {SEED}, {MAX_EXAMPLES} examples)"
        )
    output = run.stdout + run.stderr
    report.write_text(output)
    summary = re.search(r"Test cases:\s*\n\s*(.+)", output)
    print(f"schemathesis: {summary.group(1).strip() if summary else 'no summary'}")  # shown with -rA / -s
    assert run.returncode == 0, (
        f"the fuzzer found contract failures (seed {SEED}; all of it in {report}):\n{output[-20000:]}"
    )
    assert "API Operations" in output, output[-5000:]


def test_the_hooks_know_the_window_limit() -> None:
    assert hooks.MAX_WINDOW_DAYS == MAX_WINDOW_DAYS
