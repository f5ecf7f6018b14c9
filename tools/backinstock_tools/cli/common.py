"""What every command group shares: the local run's info file, the one-line mistakes, JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# The root's subcommands, which each command group's `register` adds its own to.
Commands = argparse._SubParsersAction

DEFAULT_INFO_FILE = ".local/server.json"


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


class Stop(Exception):
    """A user's mistake found while a command runs: `main` prints it as one line in the error envelope, exit 2."""


def find_info_file(info_file: str, start: Path | None = None) -> Path | None:
    """The info file: as given when it exists; the default one (a relative path) is also looked for in each parent
    folder, so a command run from a sub-folder of the repository finds the local run that `make run` started at its
    root."""
    path = Path(info_file)
    if path.exists():
        return path
    if info_file != DEFAULT_INFO_FILE:
        return None
    folder = (start or Path.cwd()).resolve()
    for parent in (folder, *folder.parents):
        if (parent / info_file).exists():
            return parent / info_file
    return None


def _read_info(info_file: str) -> dict[str, Any]:
    found = find_info_file(info_file)
    if found is None:
        where = f"{info_file} in this folder or its parents" if info_file == DEFAULT_INFO_FILE else f"{info_file}"
        raise Stop(
            f"no local server info at {where}: start the local run with `make run` from the repository root, or pass "
            f"--local-info PATH (the info file `backinstock serve --info-file PATH` writes)"
        )
    info: dict[str, Any] = json.loads(found.read_text())
    return info


def _use_local(info_file: str) -> None:
    from backinstock_tools.local import backend

    info = _read_info(info_file)
    env = backend.local_environment(info["aws_endpoint"], public_base_url=info["base_url"])
    # The resources' own variables (queue URLs, the link secret, state machines), as `serve` created them.
    env.update(info.get("environment", {}))
    backend.apply_environment(env)


def _fail(message: str) -> int:
    """A user's mistake (or an unreachable backend) as one line on stderr, in the API's envelope: no traceback."""
    print(json.dumps({"errors": [message]}), file=sys.stderr)
    return 2
