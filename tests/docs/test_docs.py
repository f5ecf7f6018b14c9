"""Every shell and Python block of README.md and docs/*.md runs as written, against a fresh local run.

Sybil finds the blocks (```sh / ```bash fences) and the skip markers (`<!-- skip: next "why" -->`, the reason
visible in the source). Each document gets its own `backinstock serve`, started in a scratch directory laid out like
the repository root (`.venv`, `.local/server.json`), so the blocks' relative paths work, and run in order in bash,
as a reader pastes them into one terminal: variables a block sets are there for the next one, and `BASE`, `KEY`
and `SHOP` are set as the README's quickstart sets them. A block fails when a command fails (`set -eo pipefail`),
when any curl gets a 5xx or no answer, or when an expected output is missing: a `# => text` line after a command
says what its output contains (`...` stands for anything). A ```python block runs whole, as a reader saves and runs
it from the repository root with the project's Python (`.venv/bin/python`), its `# =>` lines checked against its
output.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sybil import Sybil
from sybil.parsers.markdown import CodeBlockParser, SkipParser

pytestmark = pytest.mark.docs

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LANGUAGES = ("sh", "bash")
EXPECTATION = re.compile(r"^# => ?(.*)$")
STATUS = re.compile(r"^DOCS-HTTP-STATUS (\d{3})$", re.MULTILINE)
HTTP_STATUS = re.compile(r"^HTTP (\d{3})$")  # `# => HTTP 409`: a curl of the segment printed this status (-w)
BLOCK_TIMEOUT = 180
# A small start-up history for the documents that read reports: something to show, and the test stays quick.
SEED = ("--seed-signups", "12", "--seed-preorders", "4")
WITH_HISTORY = {"GUIDE.md"}


def segments(source: str) -> list[tuple[str, list[str]]]:
    """A block cut after each run of `# =>` lines: (the code up to there, what its output must contain)."""
    out: list[tuple[str, list[str]]] = []
    code: list[str] = []
    expected: list[str] = []
    for line in source.splitlines():
        match = EXPECTATION.match(line.strip())
        if match:
            expected.append(match.group(1))
            continue
        if expected:
            out.append(("\n".join(code), expected))
            code, expected = [], []
        code.append(line)
    if code or expected:
        out.append(("\n".join(code), expected))
    return out


def contains(output: str, expected: str) -> bool:
    pattern = ".*?".join(re.escape(part) for part in expected.split("..."))
    return re.search(pattern, output, re.DOTALL) is not None


@dataclass
class Shell:
    """bash in `cwd`, one process per segment, the variables carried over in a state file. The local run starts
    with the first block that runs (`start` returns the variables the README's quickstart sets)."""

    cwd: Path
    start: Callable[[], dict[str, str]]
    env: dict[str, str] | None = None
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def _begin(self) -> dict[str, str]:
        env = self.start()
        self.state = self.cwd / ".docs-shell-state"
        self.state.write_text("")
        names = "set -eo pipefail; compgen -v; readonly -p | sed -E 's/^declare -[a-zA-Z-]+ ([A-Za-z0-9_]+).*/\\1/'"
        inherited = subprocess.run(["bash", "-c", names], capture_output=True, text=True, env=env, check=True)
        self.inherited = self.cwd / ".docs-shell-inherited"
        self.inherited.write_text("\n".join([*inherited.stdout.split(), "BASH_REMATCH", "PIPESTATUS", "_"]) + "\n")
        return env

    def _execute(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """One block's program in the session's folder and environment, its output captured, within the timeout."""
        return subprocess.run(
            argv, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT, check=False
        )

    def run(self, where: str, source: str) -> None:
        if self.env is None:
            self.env = self._begin()
        for code, expected in segments(source):
            script = (
                f"set -eo pipefail\nsource {self.state}\n{code}\n"
                f"declare -p $(compgen -v | grep -vxF -f {self.inherited}) 2>/dev/null"
                f" | grep -Ev '^declare -[a-zA-Z]*r' > {self.state} || true\n"
            )
            done = self._execute(["bash", "-c", script])
            statuses = [int(s) for s in STATUS.findall(done.stderr)]
            stderr = STATUS.sub("", done.stderr).strip()
            shown = f"{where}\n$ {code.strip()}\n--- stdout\n{done.stdout[:4000]}\n--- stderr\n{stderr[:4000]}"
            assert done.returncode == 0, f"exit status {done.returncode}: {shown}"
            assert all(100 < s < 500 for s in statuses), f"HTTP statuses {statuses}: {shown}{self._last_traceback()}"
            for text in expected:
                status = HTTP_STATUS.match(text)
                if status:  # shown to the reader (`curl -w '\nHTTP %{http_code}\n'`), not only seen by the test
                    shows = re.search(rf"^HTTP {status.group(1)}$", done.stdout, re.MULTILINE)
                    assert shows, f"expected a line {text!r} in the output (curl -w): {shown}"
                else:
                    assert contains(done.stdout, text), f"expected {text!r} in the output: {shown}"
            self.ran.append(where)

    def _last_traceback(self) -> str:
        """The server log's last traceback (a 5xx's cause), for the failure message."""
        log = self.cwd / ".local" / "server.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        if "Traceback" not in text:
            return ""
        last = text[text.rfind("Traceback") :].split("\n", 1)[0].replace("\\n", "\n")  # a JSON log line
        return "\n--- the server log's last traceback (its end)\n" + last[-3000:]

    def run_python(self, where: str, source: str) -> None:
        if self.env is None:
            self.env = self._begin()
        script = self.cwd / ".docs-block.py"
        script.write_text(source)
        done = self._execute([str(self.cwd / ".venv" / "bin" / "python"), str(script)])
        shown = f"{where}\n--- stdout\n{done.stdout[:4000]}\n--- stderr\n{done.stderr[-4000:]}"
        assert done.returncode == 0, f"exit status {done.returncode}: {shown}"
        for line in source.splitlines():
            match = EXPECTATION.match(line.strip())
            if match:
                assert contains(done.stdout, match.group(1)), f"expected {match.group(1)!r} in the output: {shown}"
        self.ran.append(where)


def evaluate_python(example: Any) -> None:
    shell: Shell = example.namespace["shell"]
    shell.run_python(f"{Path(example.path).relative_to(ROOT)}:{example.line}", str(example.parsed))


def evaluate_block(example: Any) -> None:
    shell: Shell = example.namespace["shell"]
    shell.run(f"{Path(example.path).relative_to(ROOT)}:{example.line}", str(example.parsed))


SYBIL = Sybil(
    parsers=[
        *(CodeBlockParser(language, evaluate_block) for language in LANGUAGES),
        CodeBlockParser("python", evaluate_python),
        SkipParser(),
    ]
)


def shell_blocks(path: Path) -> int:
    """The blocks of a document that run (shell and Python)."""
    return sum(1 for example in SYBIL.parse(path) if example.region.evaluator in (evaluate_block, evaluate_python))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalRun:
    """A fresh `backinstock serve` in a scratch directory that looks like the repository root to the blocks."""

    def __init__(self, root: Path, seed: bool) -> None:
        self.root = root
        self.seed = seed
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> dict[str, str]:
        root = self.root
        (root / ".venv").symlink_to(Path(sys.executable).parents[1])
        (root / "bench").symlink_to(ROOT / "bench")  # PERFORMANCE.md runs a benchmark's smallest scale
        curl_home = root / ".curl"
        curl_home.mkdir()
        # Every curl of a block reports its status on stderr (the block's output is untouched) and gives up after 60 s
        (curl_home / ".curlrc").write_text(
            'write-out = "%{stderr}\\nDOCS-HTTP-STATUS %{http_code}\\n"\nmax-time = 60\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TABLE_NAME"))}
        env["CURL_HOME"] = str(curl_home)
        info_file = root / ".local" / "server.json"
        console = root / "console.txt"
        command = [str(Path(sys.executable).with_name("backinstock")), "serve", "--port", str(_free_port())]
        command += ["--aws-port", str(_free_port()), "--info-file", ".local/server.json", *(SEED if self.seed else ())]
        with console.open("w") as out:
            self.proc = subprocess.Popen(command, cwd=root, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 90
        while not info_file.exists() or (self.seed and "demo history ready" not in console.read_text()):
            # the guide asks its reader to wait for the demo history too
            if self.proc.poll() is not None or time.monotonic() > deadline + (240 if self.seed else 0):
                pytest.fail(f"backinstock serve did not start:\n{console.read_text()}")
            time.sleep(0.2)
        info = json.loads(info_file.read_text())
        return env | {"BASE": info["base_url"], "KEY": info["api_key"], "SHOP": info["shop_id"]}

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.mark.parametrize("path", [p for p in DOCUMENTS if shell_blocks(p)], ids=lambda p: p.name)
def test_every_shell_block_runs_as_written(path: Path, tmp_path: Path) -> None:
    local_run = LocalRun(tmp_path, seed=path.name in WITH_HISTORY)
    shell = Shell(tmp_path, local_run.start)
    document = SYBIL.parse(path)
    document.namespace["shell"] = shell
    try:
        for example in document:
            try:
                example.evaluate()
            except unittest.SkipTest as skip:
                shell.skipped.append(f"line {example.line}: {skip}")
    finally:
        local_run.stop()
    assert shell.ran or shell.skipped, f"no shell block of {path.name} ran"


def _evaluate(shell: Shell, examples: list[Any]) -> None:
    for example in examples:
        try:
            example.evaluate()
        except unittest.SkipTest as skip:
            shell.skipped.append(f"line {example.line}: {skip}")


def guide_sections(path: Path) -> list[tuple[str, list[Any]]]:
    """The guide's `## ` sections, each with its examples (skip markers included) in document order."""
    lines = path.read_text().splitlines()
    headings = [(number, line[3:]) for number, line in enumerate(lines, start=1) if line.startswith("## ")]
    document = SYBIL.parse(path)
    grouped: dict[str, list[Any]] = {title: [] for _, title in headings}
    for example in document:
        title = next((t for number, t in reversed(headings) if number < example.line), None)
        assert title is not None, f"a block above the first section, line {example.line}"
        grouped[title].append(example)
    document.namespace["shell"] = None
    return [(title, examples) for title, examples in grouped.items() if examples]


def test_the_guide_sections_stand_alone_in_reverse_order_after_the_readme_quickstart(tmp_path: Path) -> None:
    """Each section of docs/GUIDE.md runs correctly after any other and after the README's quickstart: the test
    above runs them top to bottom (every section after those above it), this one runs the README's blocks, then
    the sections bottom to top (every section after those below it), on one local run. Together every section has
    run after every other one, with what each leaves behind (settings, sends, cooldowns)."""
    guide = ROOT / "docs" / "GUIDE.md"
    local_run = LocalRun(tmp_path, seed=True)
    shell = Shell(tmp_path, local_run.start)
    readme = SYBIL.parse(ROOT / "README.md")
    readme.namespace["shell"] = shell
    sections = guide_sections(guide)
    assert len(sections) >= 10, [title for title, _ in sections]
    try:
        _evaluate(shell, list(readme))
        for _, examples in reversed(sections):
            for example in examples:
                example.namespace["shell"] = shell
            _evaluate(shell, examples)
    finally:
        local_run.stop()
    assert any(where.startswith("docs/GUIDE.md") for where in shell.ran)


def test_the_documents_with_shell_blocks_are_the_ones_expected() -> None:
    """A new document's shell blocks are picked up without being listed; this names the ones there are today."""
    with_blocks = {p.name for p in DOCUMENTS if shell_blocks(p)}
    assert {"README.md", "GUIDE.md", "MCP.md", "DEPLOY.md"} <= with_blocks


def test_an_expectation_matches_loosely_and_fails_when_missing() -> None:
    assert segments('curl a\n# => {"x": 1}\ncurl b\n') == [("curl a", ['{"x": 1}']), ("curl b", [])]
    assert HTTP_STATUS.match("HTTP 409") and not HTTP_STATUS.match('"status": 409')
    assert contains('{"id":"abc","deleted_count":1}', '{"id":"...","deleted_count":1}')
    assert not contains('{"deleted_count":0}', '"deleted_count":1')


def test_the_guides_reset_puts_every_setting_back_to_its_default() -> None:
    """The Settings section's last PATCH is every setting at the default a new shop has (`models.settings`), so a
    setting added to the model and not to the guide fails here rather than leaking into the next section."""
    from backinstock.models.settings import Settings

    text = (ROOT / "docs" / "GUIDE.md").read_text()
    block = text.split("# Back to what `make run` starts with: every setting of every block at its default", 1)[1]
    body = block.split("-d '", 1)[1].split("'\n", 1)[0]
    defaults = Settings().model_dump(mode="json", exclude_none=True)
    defaults["channels"]["sms"].pop("verification", None)
    assert json.loads(body) == defaults
