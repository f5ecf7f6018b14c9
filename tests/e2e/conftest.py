"""Local end-to-end: the test session starts `backinstock serve` (moto + HTTP front) and talks HTTP to it (the
`server` fixture, in `tests/local_server.py`: one server per test process, shared with `tests/security/`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytestmark = pytest.mark.e2e
T = TypeVar("T")


def http(
    server: dict[str, Any],
    method: str,
    path: str,
    body: Any = None,
    api_key: str | bool | None = True,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """An HTTP request to the local server. `api_key=True` uses the demo shop's key. Returns (status, json, headers)."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if api_key is True:
        all_headers["X-Auth-Token"] = server["api_key"]
    elif isinstance(api_key, str):
        all_headers["X-Auth-Token"] = api_key
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(server["base_url"] + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None, dict(response.headers)
    except urllib.error.HTTPError as exc:
        text = exc.read()
        return exc.code, json.loads(text) if text else None, dict(exc.headers)


def fetch(url: str, method: str = "GET", data: bytes | None = None) -> tuple[int, str, dict[str, str]]:
    """Any URL (an HTML page a customer's link opens, the local outbox). Returns (status, text, headers)."""
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def cli(server: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    """The admin CLI against the session's local run (`--local --local-info <the session's info file>`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [str(Path(sys.executable).with_name("backinstock")), "--local", "--local-info", server["info_file"], *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 20.0, interval: float = 0.2) -> T:
    """Poll `probe` until it returns something (not None, not False) or `timeout` seconds pass, then fail naming
    `what`. The send worker runs asynchronously (the local run's queue poller), so tests wait on state, not time."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def outbox(server: dict[str, Any], query: str = "") -> dict[str, Any]:
    """What the local run's outbox holds (`/local/outbox`): the emails and SMS sent so far."""
    base = server["base_url"].removesuffix("/api/v2/external")
    status, text, _ = fetch(base + "/local/outbox" + query)
    assert status == 200, text
    return dict(json.loads(text))


def email_to(server: dict[str, Any], address: str, subject_has: str) -> dict[str, Any] | None:
    return next(
        (m for m in reversed(outbox(server)["emails"]) if address in m["to"] and subject_has in m["subject"]), None
    )
