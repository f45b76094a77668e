"""The Dockerfile, checked where no container engine runs: its Python is CI's, and its build stage's install
steps, run as written in a clean virtualenv (``/opt/lws`` moved to a temporary directory), give a working
operator: ``lws`` on the PATH with every built-in plugin, the packaged manifests complete, the code
byte-compiled for a read-only filesystem, and no test tools.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from install_kit import ROOT

from lws.cli.manifests import combinations, component_file

pytestmark = pytest.mark.xdist_group("image")

DOCKERFILE = ROOT / "Dockerfile"
PREFIX = "/opt/lws"
BUILTINS = {
    "startup_policies",
    "restart_policies",
    "exclusive_topology",
    "tpu",
    "restart_budget",
    "placement",
    "leader_address",
    "vllm",
    "sglang",
    "volcano",
    "coscheduling",
}


def instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += stripped[:-1] + " " if stripped.endswith("\\") else stripped
        if not stripped.endswith("\\"):
            lines.append(pending)
            pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def build_stage() -> list[tuple[str, str]]:
    found = instructions()
    start = next(i for i, (op, args) in enumerate(found) if op == "FROM" and args.endswith(" AS build"))
    end = next(i for i, (op, _) in enumerate(found) if op == "FROM" and i > start)
    return found[start + 1 : end]


def test_the_image_runs_cis_python() -> None:
    (arg,) = [args for op, args in instructions() if op == "ARG" and args.startswith("PYTHON_VERSION=")]
    version = arg.split("=", 1)[1]
    assert version == f"{sys.version_info.major}.{sys.version_info.minor}", (
        f"the Dockerfile builds on Python {version}, CI runs {sys.version_info.major}.{sys.version_info.minor}"
    )
    bases = [args for op, args in instructions() if op == "FROM"]
    assert bases == ["python:${PYTHON_VERSION}-slim AS build", "python:${PYTHON_VERSION}-slim"]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build stage's steps run as written: its COPYs into a scratch context, then its RUNs, with the
    virtualenv at a temporary prefix instead of /opt/lws. Returns that prefix."""
    tmp = tmp_path_factory.mktemp("image")
    src, prefix = tmp / "src", tmp / "opt-lws"
    # The machine's pip settings (index, certificates) stay; tox's constraint goes, the Dockerfile names its own.
    env = {k: v for k, v in os.environ.items() if k not in ("PIP_CONSTRAINT", "VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"  # `python` is CI's Python
    workdir = src
    for op, args in build_stage():
        if op == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
            env.pop("PIP_NO_CACHE_DIR", None)  # the pip cache only changes how fast; CI keeps one
        elif op == "WORKDIR":
            workdir = src
            workdir.mkdir(parents=True, exist_ok=True)
        elif op == "COPY":
            *sources, target = shlex.split(args)
            destination = workdir / target
            for source in sources:
                path = ROOT / source
                if path.is_dir():
                    shutil.copytree(
                        path,
                        destination if target != "./" else workdir / source,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
                    )
                else:
                    shutil.copy(path, workdir / path.name if target.endswith("/") else destination)
        elif op == "RUN":
            command = args.replace(PREFIX, str(prefix))
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            assert done.returncode == 0, f"RUN {args}\nfailed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        else:
            raise AssertionError(f"the build stage has a {op} instruction this test does not know how to run")
    return prefix


def run(image: Path, *args: str) -> str:
    done = subprocess.run(
        [str(image / "bin" / "lws"), *args],
        env={"PATH": f"{image / 'bin'}:/usr/bin:/bin", "HOME": str(image), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_installed_operator_has_every_builtin_plugin(image: Path) -> None:
    listed = {line.split()[0] for line in run(image, "plugins").splitlines()[1:] if line.strip()}
    assert listed == BUILTINS  # and no example or test plugin


def test_the_installed_package_ships_every_packaged_manifest(image: Path) -> None:
    assert run(image, "manifests") == run_here("manifests")
    for combo in combinations():
        assert list(image.glob(f"lib/python*/site-packages/lws/deploy/{component_file(combo)}")), combo
    args = ["manifests", "--cert-manager", "--service-monitor", "--gang-scheduling", "volcano"]
    assert run(image, *args) == run_here(*args)


def test_the_image_holds_no_test_tools_and_is_byte_compiled(image: Path) -> None:
    assert not (image / "bin" / "kubectl").exists() and not (image / "bin" / "pytest").exists()
    (package,) = image.glob("lib/python*/site-packages/lws")
    assert list((package / "cli" / "__pycache__").glob("run.*.pyc")), "not byte-compiled"
    assert re.search(r"Usage: lws run", run(image, "run", "--help"))


def run_here(*args: str) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lws"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout
