"""Import cost is cold start: read-only actions import no idempotency, batch or Step Functions code, and no handler
creates an AWS client (or touches the network) at import time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from backinstock import registry

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("aws_lambda_powertools.utilities.idempotency", "aws_lambda_powertools.utilities.batch", "mcp")
PROBE = """
import json, sys
sys.path.insert(0, {functions!r})
import botocore.client
made = []
original = botocore.client.BaseClient.__init__
def spy(self, *a, **k):
    made.append(type(self).__name__)
    original(self, *a, **k)
botocore.client.BaseClient.__init__ = spy
import {module}
heavy = sorted({{m.split('.')[0] + '...' + m for m in sys.modules if m.startswith({heavy!r}) or 'stepfunctions' in m}})
print(json.dumps({{"heavy": heavy, "clients": made}}))
"""


def probe(module: str) -> dict[str, list[str]]:
    code = PROBE.format(functions=str(ROOT / "functions"), module=module, heavy=HEAVY)
    env = {"PATH": "/usr/bin:/bin", "TABLE_NAME": "unit"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    result: dict[str, list[str]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    "action", [a for a in registry.actions() if a.read_only and not a.runs_actions], ids=lambda a: a.name
)
def test_read_only_handlers_import_nothing_heavy_and_make_no_client(action: registry.Action) -> None:
    assert probe(action.handler) == {"heavy": [], "clients": []}


def test_the_authorizer_imports_nothing_heavy_and_makes_no_client() -> None:
    assert probe("auth.authorizer") == {"heavy": [], "clients": []}
