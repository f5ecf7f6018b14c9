"""The layers: what goes in them, and how the dependencies layer is built without Docker."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.template import Synth

pytestmark = pytest.mark.infra


def test_pip_builds_wheels_for_lambda_arm64_python_312(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stacks.constructs import layers

    calls: list[list[str]] = []

    def fake_run(args: list[str], **_kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(layers.subprocess, "run", fake_run)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pydantic==2.14.4\n")

    assert layers.PipLocalBundling(requirements).try_bundle(str(tmp_path / "out")) is True

    (args,) = calls
    joined = " ".join(args)
    assert "-m pip install" in joined
    assert "--platform manylinux2014_aarch64" in joined
    assert "--only-binary=:all:" in args
    assert "--python-version 3.12" in joined
    assert "--implementation cp" in joined
    assert f"--target {tmp_path / 'out' / 'python'}" in joined
    assert f"-r {requirements}" in joined


def test_a_failed_pip_run_fails_the_synth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stacks.constructs import layers

    monkeypatch.setattr(
        layers.subprocess, "run", lambda args, **_: subprocess.CompletedProcess(args, 1, "", "No matching distribution")
    )
    with pytest.raises(RuntimeError, match="No matching distribution"):
        layers.PipLocalBundling(tmp_path / "requirements.txt").try_bundle(str(tmp_path))


def test_dependencies_layer_hash_follows_the_requirements(tmp_path: Path) -> None:
    from stacks.constructs.layers import dependencies_asset_hash

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pydantic==2.14.4\n")
    first = dependencies_asset_hash(requirements)
    assert dependencies_asset_hash(requirements) == first
    requirements.write_text("pydantic==2.14.5\n")
    assert dependencies_asset_hash(requirements) != first


def _staged_asset(synth: Synth, s3_key: str) -> Path:
    return synth.outdir / f"asset.{s3_key.removesuffix('.zip')}"


def test_app_layer_ships_the_package_without_build_debris(synth: Synth) -> None:
    (app_layer,) = [r for k, r in synth.resources("AWS::Lambda::LayerVersion").items() if "AppLayer" in k]
    staged = _staged_asset(synth, app_layer["Properties"]["Content"]["S3Key"])
    assert (staged / "python" / "backinstock" / "registry.py").is_file()
    debris = [p for p in staged.rglob("*") if p.name == "__pycache__" or p.suffix in {".pyc", ".egg-info"}]
    assert debris == []


def test_functions_asset_is_the_functions_directory(synth: Synth) -> None:
    keys = {f["Properties"]["Code"]["S3Key"] for f in synth.resources("AWS::Lambda::Function").values()}
    (key,) = keys
    staged = _staged_asset(synth, key)
    assert (staged / "auth" / "authorizer.py").is_file()
    assert not list(staged.rglob("__pycache__"))


# Modules only development and operator code uses: the local run's HTTP server, moto, the CLI's argument parser.
DEVELOPMENT_ONLY_IMPORTS = ("backinstock_tools", "moto", "http.server", "argparse")


def test_app_layer_carries_no_local_run_or_cli_code(synth: Synth) -> None:
    """Lambda carries only what it runs: the local run and the admin CLI live in `tools/backinstock_tools`, outside
    the layer, and nothing in the layer imports them (or moto, or an HTTP server)."""
    import ast

    (app_layer,) = [r for k, r in synth.resources("AWS::Lambda::LayerVersion").items() if "AppLayer" in k]
    staged = _staged_asset(synth, app_layer["Properties"]["Content"]["S3Key"])
    package = staged / "python" / "backinstock"
    assert not (package / "local").exists()
    assert not (package / "cli.py").exists()
    assert not (staged / "python" / "backinstock_tools").exists()
    offending = []
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offending += [
                f"{source.relative_to(staged)}: {n}"
                for n in names
                if any(n == d or n.startswith(d + ".") for d in DEVELOPMENT_ONLY_IMPORTS)
            ]
    assert offending == []
