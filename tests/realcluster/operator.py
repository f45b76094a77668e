"""The operator on a real control plane, as ``docs/testing.md`` says a real cluster needs it: the CRD applied
with kubectl, then ``lws run --all-namespaces`` outside the cluster, serving its admission webhooks on
127.0.0.1 over HTTPS with certificates it makes itself and registering them with its own ``caBundle``
(the API server runs on this machine, so it reaches them).

The operator runs as a child process in a group of its own, like the plane's components, and is stopped
with SIGTERM (a clean stop: Lease released, webhook configurations removed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from tests.realcluster.plane import Component, PlaneError, _http_ok, free_port
from tests.sim.kubectl_cli import wait_crd_established

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
BIN = Path(sys.executable).parent
KUBECTL = str(BIN / "kubectl")
LWS = str(BIN / "lws")


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
    """Run the real kubectl against ``kubeconfig``; its standard output. Fails with kubectl's error text."""
    done = subprocess.run(
        [KUBECTL, f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise PlaneError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def install_crds(kubeconfig: Path) -> None:
    """Apply ``crds/`` server-side and wait until every CRD is Established."""
    kubectl(kubeconfig, "apply", "--server-side", "-f", str(CRDS))
    for path in sorted(CRDS.glob("*.yaml")):
        wait_crd_established(kubeconfig, yaml.safe_load(path.read_text())["metadata"]["name"])


def start_operator(
    kubeconfig: Path,
    log: Path,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Component:
    """``lws run --all-namespaces`` against ``kubeconfig``, returned once its /readyz answers 200 (caches
    synced, webhooks registered). ``args`` are more ``lws run`` options."""
    health = free_port()
    argv = [
        LWS,
        "run",
        f"--kubeconfig={kubeconfig}",
        "--all-namespaces",
        f"--health-probe-bind-address=127.0.0.1:{health}",
        "--metrics-bind-address=0",
        *args,
    ]
    operator = Component("lws-operator", argv, log)
    operator.start({**os.environ, **(env or {})})
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        if not operator.alive():
            raise PlaneError(f"the operator exited while starting; its log ({log}):\n{operator.tail()}")
        try:
            if _http_ok(f"http://127.0.0.1:{health}/readyz"):
                return operator
        except OSError:
            pass
        if time.monotonic() > deadline:
            operator.stop()
            raise PlaneError(f"the operator was not ready within {timeout:.0f}s; its log:\n{operator.tail()}")
        pause.wait(0.1)
