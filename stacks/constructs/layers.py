"""Lambda layers: the application package and the third-party dependencies, both for Python 3.12 on arm64.

The dependencies layer is built by `PipLocalBundling`: pip downloads the manylinux aarch64 wheels pinned in
`layers/dependencies/requirements.txt` straight into the asset directory. No Docker is involved; the Docker image
named in the bundling options is a placeholder that CDK requires and never runs, because local bundling either
succeeds or raises.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_LAYER_DIR = REPO_ROOT / "layers" / "app"
DEPENDENCIES_DIR = REPO_ROOT / "layers" / "dependencies"

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
PIP_PLATFORM = "manylinux2014_aarch64"
PIP_PYTHON_VERSION = "3.12"

# What never belongs in a layer: bytecode of the build machine's Python (Lambda runs 3.12), packaging metadata of
# the editable install, test and tool caches.
APP_LAYER_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/*.egg-info", "**/.mypy_cache", "**/.pytest_cache"]


def pip_install_args(requirements: Path, target: Path) -> list[str]:
    """The pip command line that fills a layer directory with wheels for the Lambda platform."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--platform",
        PIP_PLATFORM,
        "--only-binary=:all:",
        "--python-version",
        PIP_PYTHON_VERSION,
        "--implementation",
        "cp",
        # Bytecode compiled by the build machine's interpreter would be for the wrong Python version.
        "--no-compile",
        "--disable-pip-version-check",
        "--quiet",
        "--target",
        str(target / "python"),
        "-r",
        str(requirements),
    ]


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Builds the dependencies layer on this machine with pip (no Docker)."""

    def __init__(self, requirements: Path) -> None:
        self.requirements = requirements

    def try_bundle(self, output_dir: str, options: Any = None) -> bool:
        """Called by CDK with the asset's output directory (and the bundling options, unused: everything this
        bundler needs is fixed here)."""
        args = pip_install_args(self.requirements, Path(output_dir))
        # A fixed argv, no shell.
        result = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise RuntimeError(
                f"building the dependencies layer failed (exit {result.returncode}): {' '.join(args)}\n"
                f"{result.stdout}{result.stderr}"
            )
        return True


def dependencies_asset_hash(requirements: Path) -> str:
    """The layer changes when the pinned requirements or the way they are installed change, and only then: the
    hash is stable across machines and runs, so an unchanged layer is never re-uploaded or re-published."""
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(" ".join(pip_install_args(Path("requirements.txt"), Path("out"))[3:]).encode())
    return digest.hexdigest()


class Layers(Construct):
    """`app`: the `backinstock` package (layers/app/python/backinstock). `dependencies`: its third-party runtime
    dependencies (powertools, pydantic, boto3 pinned)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.app = lambda_.LayerVersion(
            self,
            "AppLayer",
            description="backinstock application package",
            code=lambda_.Code.from_asset(str(APP_LAYER_DIR), exclude=APP_LAYER_EXCLUDES),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
        )
        requirements = DEPENDENCIES_DIR / "requirements.txt"
        self.dependencies = lambda_.LayerVersion(
            self,
            "DependenciesLayer",
            description="backinstock third-party dependencies (pip, manylinux2014_aarch64, cp312)",
            code=lambda_.Code.from_asset(
                str(DEPENDENCIES_DIR),
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=dependencies_asset_hash(requirements),
                bundling=BundlingOptions(
                    # Required by CDK, never pulled: PipLocalBundling always bundles (or fails loudly).
                    image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
                    local=PipLocalBundling(requirements),  # type: ignore[arg-type]  # jsii.implements is invisible to mypy
                ),
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
        )

    @property
    def all(self) -> list[lambda_.ILayerVersion]:
        return [self.dependencies, self.app]
