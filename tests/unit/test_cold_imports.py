"""Import cost is cold start: read-only actions import no idempotency, batch or Step Functions code, and no handler
creates an AWS client (or touches the network) at import time. Each probe loads an entry point as Lambda does: it
imports the module, then takes the handler attribute (which builds a generic module's per-report handler)."""

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
import importlib
module, _, attribute = {entry_point!r}.rpartition(".")
getattr(importlib.import_module(module), attribute)
heavy = sorted({{m.split('.')[0] + '...' + m for m in sys.modules if m.startswith({heavy!r}) or 'stepfunctions' in m}})
ours = sorted(m for m in sys.modules if m.startswith(("backinstock.services.", "backinstock.actions.")))
print(json.dumps({{"heavy": heavy, "clients": made, "ours": ours}}))
"""


def load(entry_point: str) -> dict[str, list[str]]:
    """Load an entry point in a fresh interpreter: the heavy modules and AWS clients it brought, and which of our
    services and action declarations it imported."""
    code = PROBE.format(functions=str(ROOT / "functions"), entry_point=entry_point, heavy=HEAVY)
    env = {"PATH": "/usr/bin:/bin", "TABLE_NAME": "unit"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    result: dict[str, list[str]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def probe(entry_point: str) -> dict[str, list[str]]:
    result = load(entry_point)
    return {"heavy": result["heavy"], "clients": result["clients"]}


@pytest.mark.parametrize(
    "action", [a for a in registry.actions() if a.read_only and not a.runs_actions], ids=lambda a: a.name
)
def test_read_only_handlers_import_nothing_heavy_and_make_no_client(action: registry.Action) -> None:
    assert probe(action.entry_point) == {"heavy": [], "clients": []}


def test_a_report_handler_imports_its_own_family_and_service_code_only() -> None:
    """The report handlers share generic modules (functions/reports/): each still loads only what its own kind needs.
    A read, the read's service (not the export machinery); an export, the export machinery; none another family."""
    read = load(registry.by_name("summary_report").entry_point)["ours"]
    assert "backinstock.services.reports" in read
    assert not {"backinstock.services.exports", "backinstock.services.waitlist_export"} & set(read)
    assert [m for m in read if m.startswith("backinstock.actions.")] == ["backinstock.actions.reports"]
    export = load(registry.by_name("export_summary_report").entry_point)["ours"]
    assert "backinstock.services.exports" in export and "backinstock.services.waitlist_export" not in export
    manifest = load(registry.by_name("list_reports").entry_point)["ours"]
    assert "backinstock.services.reports" not in manifest


def test_the_mcp_handler_imports_no_mcp_sdk_and_makes_no_client_at_import() -> None:
    assert probe("meta.mcp.handler") == {"heavy": [], "clients": []}


def test_the_authorizer_imports_nothing_heavy_and_makes_no_client() -> None:
    assert probe("auth.authorizer.handler") == {"heavy": [], "clients": []}


GC_PROBE = """
import gc, json, sys
sys.path.insert(0, {functions!r})
paused = []
import backinstock
paused.append(not gc.isenabled())
import importlib
module, _, attribute = {entry_point!r}.rpartition(".")
getattr(importlib.import_module(module), attribute)
after = {{"enabled_after": gc.isenabled(), "frozen": gc.get_freeze_count()}}
print(json.dumps({{"paused_during_import": paused[0], **after}}))
"""


def entry_points() -> list[str]:
    from backinstock.infra_spec import SCHEDULES, STREAM_CONSUMERS, WORKER_HANDLERS, task_handlers

    modules = {"auth.authorizer", *WORKER_HANDLERS, *task_handlers(), *(s.handler for s in SCHEDULES)}
    modules |= {c.handler for c in STREAM_CONSUMERS}
    return sorted({a.entry_point for a in registry.actions()} | {f"{m}.handler" for m in modules})


@pytest.mark.parametrize("entry_point", entry_points())
def test_in_lambda_every_entry_point_pauses_collection_while_importing_and_resumes_it(entry_point: str) -> None:
    """Garbage collection is paused while a Lambda function's code loads (about a third of the import time went to
    collections that free nothing) and must be back on, with the imported objects frozen, once the entry point is
    built: an entry point that forgot `backinstock.loaded()` would run every invocation without a collector."""
    code = GC_PROBE.format(functions=str(ROOT / "functions"), entry_point=entry_point)
    env = {"PATH": "/usr/bin:/bin", "TABLE_NAME": "unit", "AWS_LAMBDA_FUNCTION_NAME": f"probe-{entry_point}"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["paused_during_import"] is True
    assert result["enabled_after"] is True
    assert result["frozen"] > 10_000  # boto3, pydantic and our modules, never traversed again


def test_outside_lambda_nothing_changes_the_collector() -> None:
    code = "import gc, backinstock; print(gc.isenabled(), gc.get_freeze_count())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert out.stdout.split() == ["True", "0"], out.stderr
