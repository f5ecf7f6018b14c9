"""docs/RELIABILITY.md describes the chaos run's fault kinds and invariants: every kind the run injects has its row,
and the numbered invariants are the run's `INVARIANTS`, one for one (CONTRIBUTING.md, "A new fault kind")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backinstock_tools import chaos
from backinstock_tools.chaos.invariants import INVARIANTS

pytestmark = pytest.mark.unit

RELIABILITY = (Path(__file__).resolve().parents[2] / "docs" / "RELIABILITY.md").read_text()


def _section(title: str) -> str:
    return RELIABILITY.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_every_fault_kind_has_its_row_in_the_fault_tables() -> None:
    rows = [line for line in _section("Faults").splitlines() if line.startswith("| `")]
    documented = {kind for row in rows for kind in re.findall(r"`([a-z0-9_]+)`", row.split(" | ")[0])}
    assert set(chaos.BASE_RATES) == documented


def test_the_numbered_invariants_are_the_runs() -> None:
    numbers = [int(n) for n in re.findall(r"^(\d+)\. ", _section("Invariants"), re.M)]
    assert [c.number for c in INVARIANTS] == list(range(1, len(INVARIANTS) + 1))
    assert numbers == [c.number for c in INVARIANTS]
    assert all(c.name and c.check.__doc__ for c in INVARIANTS)
