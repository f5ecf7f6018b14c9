"""The local run under test: one `backinstock serve` (moto + HTTP front) per test session, shared by the local
end-to-end tests (`tests/e2e/`) and the security suite (`tests/security/`). Registered in `tests/conftest.py`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


def aws_client(server: dict[str, Any], service: str) -> Any:
    """A boto3 client on the local run's embedded AWS (moto accepts any credentials)."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=server["aws_endpoint"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_run(directory: Path) -> Iterator[dict[str, Any]]:
    """A fresh `backinstock serve` (its own moto, its own ports) whose files go in `directory`; yields its info file
    (`base_url`, `aws_endpoint`, the demo shop's `shop_id` and `api_key`, ...) and stops it on exit. The one way tests
    start a local run: the session's `server` and the contract fuzzer's (`tests/contract/`)."""
    info_file = directory / "server.json"
    log_file = info_file.with_suffix(".log")
    cli = Path(sys.executable).with_name("backinstock")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with log_file.open("w") as log:
        proc = subprocess.Popen(
            [
                str(cli),
                "serve",
                "--port",
                str(_free_port()),
                "--aws-port",
                str(_free_port()),
                "--info-file",
                str(info_file),
                "--verbose",  # the logs with the banner, in the session's log file (tests read both)
                # The suites drive hundreds of requests a minute through the demo shop: the high-limit plan. The
                # default plan's limit over HTTP is proven with a shop of its own (tests/e2e/test_rate_limits.py).
                "--demo-plan",
                "enterprise",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 60
    while not info_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"backinstock serve did not start:\n{log_file.read_text()}")
        time.sleep(0.1)
    info = json.loads(info_file.read_text())
    info["log_file"] = str(log_file)
    info["info_file"] = str(info_file)
    try:
        yield info
    finally:
        # SIGTERM, not SIGINT: serve installs its own SIGTERM handler, while SIGINT is ignored in a process started
        # from a background job of a non-interactive shell (`make test &`), which would leave the server running.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=45)  # the pollers finish the batch in hand first; a loaded CI machine is slow at it
        except subprocess.TimeoutExpired:
            proc.kill()
            raise


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with local_run(tmp_path_factory.mktemp("serve")) as info:
        yield info
