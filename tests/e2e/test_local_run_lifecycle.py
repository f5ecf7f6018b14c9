"""The local run's own behaviour, on a server of its own: the console shows the banner and the demo history's
progress while the logs go to the log file; a burst of simultaneous clients is answered in full; SIGTERM stops it at
once, even while the history is still being written and the stream consumer is busy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.local_server import _free_port

pytestmark = pytest.mark.e2e

BURST = 100


def _get(url: str, key: str) -> int:
    request = urllib.request.Request(url, headers={"X-Auth-Token": key})
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
        return int(response.status)


def test_console_burst_and_stop(tmp_path: Path) -> None:
    info_file = tmp_path / "server.json"
    log_file = tmp_path / "server.log"
    console = tmp_path / "console.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    command = [str(Path(sys.executable).with_name("backinstock")), "serve", "--port", str(_free_port())]
    command += ["--aws-port", str(_free_port()), "--info-file", str(info_file), "--log-file", str(log_file)]
    command += ["--seed-signups", "40", "--seed-preorders", "5"]
    with console.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 90
        while not info_file.exists():
            assert proc.poll() is None and time.monotonic() < deadline, console.read_text()
            time.sleep(0.1)
        info = json.loads(info_file.read_text())

        # Given 100 clients that connect at the same moment (while the history is being written)
        gate = threading.Barrier(BURST)
        statuses: list[int | str] = []

        def client() -> None:
            gate.wait()
            try:
                statuses.append(_get(info["base_url"] + "/back_in_stock/settings/channels", info["api_key"]))
            except OSError as exc:  # a reset or refused connection
                statuses.append(repr(exc))

        threads = [threading.Thread(target=client) for _ in range(BURST)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Then every one of them is answered
        assert statuses.count(200) == BURST, [s for s in statuses if s != 200][:3]

        # When it is stopped while the history is being written (its first progress line is out)
        deadline = time.monotonic() + 180
        while "demo history: signups" not in console.read_text():
            assert time.monotonic() < deadline, console.read_text()
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        # Then it exits at once (5 s: a hang detector on a loaded machine; it used to take half a minute)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    shown = console.read_text()
    # The console: the banner with the commands as they run from the repository root, the log's path, progress
    assert ".venv/bin/backinstock outbox" in shown and str(log_file) in shown
    assert shown.rstrip().endswith("stopped")
    assert not [line for line in shown.splitlines() if line.startswith("{")], "a JSON log line on the console"
    # The log file: what the functions logged, and not the banner's API key
    logged = log_file.read_text().splitlines()
    assert any(line.startswith("{") and '"level"' in line for line in logged)
    assert info["api_key"] in shown and not [line for line in logged if info["api_key"] in line]


@pytest.mark.parametrize("taken", ["--port", "--aws-port"])
def test_a_busy_port_stops_the_run_at_once_saying_how_to_choose_others(taken: str) -> None:
    """Given another program listening on one of the two ports, `serve` exits before starting anything (moto's
    server thread would die and leave the run waiting forever), naming the ports and the options."""
    import socket

    ports = {"--port": _free_port(), "--aws-port": _free_port()}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports[taken]))
        holder.listen()
        command = [str(Path(sys.executable).with_name("backinstock")), "serve", "--log-file", os.devnull]
        command += [arg for option, port in ports.items() for arg in (option, str(port))]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert f"port {ports[taken]} (" in line and "in use by another program" in line
    assert str(ports["--port"]) in line and str(ports["--aws-port"]) in line
    assert "PORT=" in line and "--port <n> --aws-port <m>" in line
