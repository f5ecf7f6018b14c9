"""A chaos seed replays in another process: the same faults, figures, dead letters and invariants, whatever the
process's string hashing (`PYTHONHASHSEED`) and whatever the operating system's random bits and the wall clock
(`backinstock_tools/chaos/seeded.py`; docs/RELIABILITY.md, "Replaying a seed").

Two processes run the same tiny configuration with different `PYTHONHASHSEED`s. Before the harness seeded every id,
key and path-steering clock, two runs of one seed gave 23 and 19 faults.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.integration

# test_chaos.TINY, seed 2: small enough for two processes in `make test`
CONFIG = {
    "seed": 2,
    "restock_signups": 8,
    "side_signups": 3,
    "client_ops": 10,
    "fault_rate": 4.0,
    "provider_rate": 4.0,
}

SCRIPT = """
import contextlib, io, json, sys
from backinstock_tools import chaos

config = chaos.Config(**json.loads(sys.argv[1]))
with contextlib.redirect_stdout(io.StringIO()):  # the functions' log lines and metrics
    result = chaos.run(config)
print(json.dumps({
    "faults": dict(result.faults),
    "figures": result.figures,
    "dead_letters": result.dead_letters,
    "stream_failures": result.stream_failures,
    "invariants": [vars(i) for i in result.invariants],
}, sort_keys=True, default=str))
"""


def _run_in_a_process(hash_seed: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, json.dumps(CONFIG)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-2000:]
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def test_a_seed_replays_in_another_process_whatever_its_string_hashing() -> None:
    first, second = _run_in_a_process("1"), _run_in_a_process("2")
    one, two = _result(first), _result(second)
    assert sum(one["faults"].values()) > 0, one  # faults fired: there was a schedule to replay
    assert one["faults"] == two["faults"]
    assert one["figures"] == two["figures"]
    assert one["dead_letters"] == two["dead_letters"]  # moto's message ids come from the seed too
    assert one["stream_failures"] == two["stream_failures"]
    assert one["invariants"] == two["invariants"]
