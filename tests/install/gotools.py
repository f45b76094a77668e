"""The Go tools the install tests run, built from the Go module proxy by the real-cluster build machinery
(``tests/realcluster/gomod``: a wrapper module per tool, ``go build`` into a cache keyed by its go.mod and
go.sum), never downloaded as binaries.

The first run on a machine builds them (a few minutes of CPU for Helm, see the README); later runs find
them in ``~/.cache/lws/realcluster`` (``$LWS_REALCLUSTER_CACHE``). Concurrent test workers wait for one
build. Without ``go`` on the PATH the tests that need a tool fail and say how to get one.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

GOMOD = Path(__file__).resolve().parents[1] / "realcluster" / "gomod"


@cache
def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lws_gomod_build", GOMOD / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tool(module: str, binary: str) -> Path:
    """The binary, built first if this machine has not built this version yet."""
    if shutil.which("go") is None:
        raise AssertionError(
            f"building {binary} needs Go 1.26+ on the PATH (https://go.dev/dl/); "
            f"or build it elsewhere with `python {GOMOD / 'build.py'} {module}` and share the cache"
        )
    try:
        path: Path = _builder().tool(module, binary)
    except subprocess.CalledProcessError as exc:
        raise AssertionError(
            f"`go build` of {binary} failed ({exc.returncode}); see its output above"
        ) from None
    return path


def helm() -> Path:
    """Helm, from helm.sh/helm/v4's cmd/helm."""
    return tool("helm", "helm")


def operator_verify() -> Path:
    """operator-framework/api's bundle validator (``operator-verify manifests DIR``)."""
    return tool("olm", "operator-verify")


def helm_env(home: Path) -> dict[str, str]:
    """An environment that keeps Helm's caches, config and data under ``home`` (none of the user's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_") and k != "KUBECONFIG"}
    env.update(
        HELM_CACHE_HOME=str(home / "cache"),
        HELM_CONFIG_HOME=str(home / "config"),
        HELM_DATA_HOME=str(home / "data"),
    )
    return env


def run_helm(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``helm ARGS``, its caches and configuration under ``home``; fails with Helm's own error text."""
    done = subprocess.run(
        [str(helm()), *args], capture_output=True, text=True, env=helm_env(home), timeout=300, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def helm_template(home: Path, *values: str, namespace: str = "lws-system", release: str = "lws") -> list[Any]:
    """The objects ``helm template`` renders from ``charts/lws`` with ``values`` (CRDs included)."""
    chart = GOMOD.parents[2] / "charts" / "lws"
    out = run_helm("template", release, str(chart), "-n", namespace, "--include-crds", *values, home=home)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]
