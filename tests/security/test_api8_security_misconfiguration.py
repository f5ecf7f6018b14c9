"""API8:2023 Security Misconfiguration. Every answer of every route (from the registry) carries the security
headers; no error body shows a stack trace, an ARN or the store's internals; injection strings in every filter are
plain text (200 or 422, never 500, never another shop's rows); a body two parsers would read two ways is refused;
the local run exposes nothing beyond the app."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from backinstock import registry
from backinstock.infra_spec import HTML_HEADERS, JSON_HEADERS
from backinstock_tools.testkit.samples import sample_request
from tests.e2e.conftest import fetch
from tests.local_server import _free_port
from tests.security.conftest import INTERNALS, call

pytestmark = pytest.mark.security
INJECTIONS = (
    "' OR '1'='1",
    '" OR ""="',
    "attribute_exists(PK)",
    ":shop OR begins_with(PK, :x)",
    "#n = :v",
    '{"$ne": null}',
    "a\r\nX-Injected: 1",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "%00",
    '=HYPERLINK("http://evil")',
    "\u202egnp.exe",
)


def header_names(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def unfollowed(url: str) -> tuple[int, dict[str, str]]:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}")
        response = connection.getresponse()
        response.read()
        return response.status, dict(response.getheaders())
    finally:
        connection.close()


def routes() -> list[registry.Action]:
    return [a for a in registry.actions() if a.name != "receive_shopify_webhook"]


@pytest.mark.parametrize("action", routes(), ids=lambda a: a.name)
def test_every_route_answers_with_the_security_headers(action: registry.Action, attacker: dict[str, Any]) -> None:
    path, body, headers = sample_request(action, attacker["values"])
    if action.path.endswith("/download"):  # a redirect (302) to the file, or a 404: read it as it is
        status, got = unfollowed(attacker["base_url"] + path)
        want = JSON_HEADERS if status != 302 else {}
    elif action.html:
        status, _, got = fetch(attacker["base_url"] + path, action.method, b"" if action.method == "POST" else None)
        want = HTML_HEADERS
    else:
        key = attacker["api_key"] if action.auth is registry.Auth.API_KEY else None
        status, _, got = call(attacker, action.method, path, body, api_key=key, headers=headers)
        want = JSON_HEADERS if got.get("Content-Type", "").startswith("application/json") else {}
        if action.name == "get_openapi":  # the public document may be cached (it has an ETag): not no-store
            want = {k: v for k, v in want.items() if k != "Cache-Control"}
            assert got.get("Cache-Control") == "public, max-age=300"
    got = header_names(got)
    assert got.get("x-content-type-options") == "nosniff", (action.name, status)
    for name, value in want.items():
        assert got.get(name.lower()) == value, (action.name, name)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/back_in_stock/signups/not-an-id", None),
        ("GET", "/back_in_stock/signups?from=yesterday", None),
        ("POST", "/back_in_stock/signups", {"channel": "fax"}),
        ("POST", "/back_in_stock/signups", ["not", "an", "object"]),
        ("PATCH", "/back_in_stock/settings", {"alerts": {"signups_threshold": "many"}}),
        ("GET", "/back_in_stock/reports/nope", None),
        ("GET", "/back_in_stock/reports/exports/exp_00000000000000aa", None),
        ("POST", "/back_in_stock/reports/summary/export", {"from": "2026-13-01"}),
        ("GET", "/preorders/offers/../../../", None),
    ],
)
def test_no_error_body_shows_internals(method: str, path: str, body: Any, attacker: dict[str, Any]) -> None:
    status, answer, _ = call(attacker, method, path, body)
    assert 400 <= status < 500, (status, answer)
    assert answer["errors"] and not INTERNALS.search(json.dumps(answer)), answer


def filters() -> list[tuple[registry.Action, str]]:
    found = []
    for action in registry.actions():
        if action.method == "GET" and action.query_model is not None and action.auth is registry.Auth.API_KEY:
            for name, field in action.query_model.model_fields.items():
                if "str" in str(field.annotation) or "Literal" in str(field.annotation):
                    found.append((action, field.alias or name))
    return found


@pytest.mark.parametrize(("action", "field"), filters(), ids=lambda v: getattr(v, "name", v))
def test_injection_strings_in_every_filter_are_plain_text(
    action: registry.Action, field: str, attacker: dict[str, Any], victim: dict[str, Any]
) -> None:
    from urllib.parse import quote

    path, _, headers = sample_request(action, attacker["values"])
    base = path.split("?")[0]
    for text in INJECTIONS:
        status, answer, got = call(attacker, "GET", f"{base}?{field}={quote(text)}", headers=headers)
        assert status in (200, 422), (action.name, field, text, status, answer)
        assert "x-injected" not in header_names(got)
        shown = json.dumps(answer)
        assert victim["values"]["email"] not in shown and victim["shop_id"] not in shown
        if status == 422:  # the message may quote the value sent: search the rest
            echoed = json.dumps(text)[1:-1]
            assert not INTERNALS.search(shown.replace(echoed.replace('"', '\\"'), "").replace(echoed, "")), answer


def _listening(port: int) -> set[str]:
    """The local addresses a TCP socket LISTENs on at `port` (Linux's /proc/net/tcp and tcp6, hex encoded)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


def _outward_address() -> str | None:
    """An address of this machine that is not loopback (the one a route to the outside would use), if any."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, the kernel only picks a source address
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def _reachable(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads listening sockets from Linux's /proc/net/tcp")
def test_the_local_runs_aws_stand_in_listens_on_loopback_whatever_the_apps_host(tmp_path: Path) -> None:
    # Given `backinstock serve --host 0.0.0.0` (the app told to answer the network)
    info_file = tmp_path / "server.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    app_port, aws_port = _free_port(), _free_port()
    command = [str(Path(sys.executable).with_name("backinstock")), "serve", "--host", "0.0.0.0"]  # noqa: S104 (the point)
    command += ["--port", str(app_port), "--aws-port", str(aws_port), "--info-file", str(info_file)]
    command += ["--log-file", str(tmp_path / "server.log"), "--seed-signups", "0", "--seed-preorders", "0"]
    with (tmp_path / "console.txt").open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 90
        while not info_file.exists():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "console.txt").read_text()
            time.sleep(0.1)
        info = json.loads(info_file.read_text())
        # Then moto (no credential needed: it holds the link key and the shops' webhook secrets) is on loopback only
        assert _listening(aws_port) == {"0100007F"}, _listening(aws_port)
        assert info["aws_endpoint"] == f"http://127.0.0.1:{aws_port}"
        outward = _outward_address()
        if outward is not None:  # and from the network: the app answers there, moto does not
            assert _reachable(outward, app_port) and not _reachable(outward, aws_port)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    "raw",
    [
        '{"channel": "email", "shopify_variant_id": 1, "email": "a@x.io", "email": "b@x.io"}',
        '{"channel": "email", "shopify_variant_id": 1.0, "email": "a@x.io"}',
    ],
    ids=["repeated-key", "fractional-integer"],
)
def test_a_body_two_parsers_would_read_two_ways_is_refused(raw: str, attacker: dict[str, Any]) -> None:
    status, answer, _ = call(attacker, "POST", "/back_in_stock/signups", raw=raw.encode())
    assert status == 422 and answer["errors"], answer
    mcp = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "method": "ping"}'
    headers = {"Authorization": f"Bearer {attacker['api_key']}", "Accept": "application/json"}
    status, answer, _ = call(attacker, "POST", "/mcp", raw=mcp, api_key=None, headers=headers)
    assert status == 400 and answer["error"]["code"] == -32700, answer
