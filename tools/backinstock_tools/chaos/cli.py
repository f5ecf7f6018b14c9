"""`python -m backinstock_tools.chaos` (`make chaos`): the run's options, its report or JSON, exit 1 when an
invariant breaks.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys

from backinstock_tools.chaos.model import Config
from backinstock_tools.chaos.runner import run


# --------------------------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    from backinstock_tools import chaos  # the package's docstring: its first paragraph is the description

    parser = argparse.ArgumentParser(
        prog="chaos", description=chaos.__doc__.split("\n\n")[0] if chaos.__doc__ else None
    )
    parser.add_argument("--seed", type=int, default=int(os.environ.get("CHAOS_SEED") or 1))
    parser.add_argument("--signups", type=int, default=Config.restock_signups)
    parser.add_argument("--ops", type=int, default=Config.client_ops)
    parser.add_argument("--fault-rate", type=float, default=Config.fault_rate)
    parser.add_argument(
        "--provider-rate", type=float, default=Config.provider_rate, help="SES and SNS messages a second (R)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    config = Config(
        seed=args.seed,
        restock_signups=args.signups,
        client_ops=args.ops,
        fault_rate=args.fault_rate,
        provider_rate=args.provider_rate,
    )
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):  # the functions' JSON log lines and metrics
        result = run(config, progress=lambda line: print(line, file=sys.stderr, flush=True))
    if args.json:
        print(
            json.dumps(
                {
                    "ok": result.ok,
                    "faults": result.faults,
                    "seconds": round(result.seconds, 1),
                    "cpu_seconds": round(result.cpu_seconds, 1),
                    "invariants": [vars(i) for i in result.invariants],
                    "dead_letters": result.dead_letters,
                    "figures": result.figures,
                },
                indent=2,
            )
        )
    else:
        print(result.report())
    return 0 if result.ok else 1
