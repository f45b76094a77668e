"""`lws run` as users and external tests start it: `KUBECONFIG=... lws run --all-namespaces`."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from e2e_kit import Kube, make_lws
from operator_harness import Private

from lws.api import constants as c
from lws.cli.manifests import DEFAULT_FILE, packaged
from lws.cluster.resources import (
    LEADERWORKERSETS,
    MUTATING_WEBHOOK_CONFIGURATIONS,
    VALIDATING_WEBHOOK_CONFIGURATIONS,
)
from lws.sim.runner import EmbeddedCluster
from lws.sim.testing import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]

LWS = str(Path(sys.executable).with_name("lws"))


class _Log:
    """The process's stderr, read on a thread so the pipe never fills up."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line)

    def find(self, pattern: str) -> re.Match[str] | None:
        return next((m for line in list(self.lines) if (m := re.search(pattern, line))), None)

    def join(self) -> None:
        self._thread.join(10)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def test_lws_run_serves_reconciles_and_cleans_up_on_sigterm(private: Private) -> None:
    kube = private.kube
    env = {
        **os.environ,
        "KUBECONFIG": str(private.kubeconfig),
        # No host: outside a pod that means loopback, never every interface of a developer's machine.
        "LWS_HEALTH_PROBE_BIND_ADDRESS": ":0",
        "LWS_METRICS_BIND_ADDRESS": ":0",
    }
    process = subprocess.Popen(
        [LWS, "run", "--all-namespaces"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    log = _Log(process.stderr)
    try:
        probe = wait_until(
            lambda: log.find(r"probes on http://127\.0\.0\.1:(\d+)/healthz"), timeout=30, what="the probes"
        )
        port = int(probe.group(1))
        assert wait_until(
            lambda: log.find(r"metrics on https://127\.0\.0\.1:\d+/metrics"),
            timeout=30,
            what="metrics (HTTPS)",
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            assert response.status == 200
        wait_until(lambda: _ready(port), timeout=30, what="/readyz to answer 200")

        mutating = kube.get(MUTATING_WEBHOOK_CONFIGURATIONS, None, c.MUTATING_WEBHOOK_CONFIGURATION)
        assert mutating is not None
        url = mutating["webhooks"][0]["clientConfig"]["url"]
        assert re.fullmatch(rf"https://127\.0\.0\.1:\d+{c.WEBHOOK_PATH_MUTATE_LWS}", url), url

        kube.create(LEADERWORKERSETS, "default", make_lws("cli", replicas=2, size=2))
        kube.wait_available("default", "cli")
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
        log.join()
    assert code == 0, "".join(log.lines[-20:])
    assert log.find("released lease"), "the Lease was handed back"
    assert kube.get(MUTATING_WEBHOOK_CONFIGURATIONS, None, c.MUTATING_WEBHOOK_CONFIGURATION) is None
    assert kube.get(VALIDATING_WEBHOOK_CONFIGURATIONS, None, c.VALIDATING_WEBHOOK_CONFIGURATION) is None


def test_lws_run_refuses_to_start_without_a_cluster(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env["HOME"] = str(tmp_path)
    result = subprocess.run([LWS, "run"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: no cluster to connect to: pass --kubeconfig FILE or set KUBECONFIG"
    )


def test_lws_run_says_to_install_the_crd_first(tmp_path: Path) -> None:
    with EmbeddedCluster() as bare:
        kubeconfig = bare.write_kubeconfig(tmp_path / "kubeconfig")
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        result = subprocess.run(
            [LWS, "run", "-A"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode == 1
    assert "serves no LeaderWorkerSet (leaderworkerset.x-k8s.io/v1): install the CRD first" in result.stderr


def _installed_webhook_configurations(kube: Kube) -> dict[str, str]:
    """Apply the webhook configurations as `lws manifests` ships them; their resourceVersions by name."""
    versions: dict[str, str] = {}
    for obj in packaged(DEFAULT_FILE):
        res = {
            "MutatingWebhookConfiguration": MUTATING_WEBHOOK_CONFIGURATIONS,
            "ValidatingWebhookConfiguration": VALIDATING_WEBHOOK_CONFIGURATIONS,
        }.get(obj["kind"])
        if res is not None:
            versions[obj["metadata"]["name"]] = kube.create(res, None, obj)["metadata"]["resourceVersion"]
    assert set(versions) == {c.MUTATING_WEBHOOK_CONFIGURATION, c.VALIDATING_WEBHOOK_CONFIGURATION}
    return versions


def _versions(kube: Kube) -> dict[str, str | None]:
    found = {
        name: kube.get(res, None, name)
        for res, name in [
            (MUTATING_WEBHOOK_CONFIGURATIONS, c.MUTATING_WEBHOOK_CONFIGURATION),
            (VALIDATING_WEBHOOK_CONFIGURATIONS, c.VALIDATING_WEBHOOK_CONFIGURATION),
        ]
    }
    return {name: obj["metadata"]["resourceVersion"] if obj else None for name, obj in found.items()}


def test_a_start_that_cannot_bind_its_probes_says_which_flag_and_leaves_the_webhooks_alone(
    private: Private,
) -> None:
    """Issue 10, bug 4: a second `lws run` on one machine found :8081 taken and, on its way out, deleted
    the webhook configurations `lws manifests` had installed (it had never registered in them)."""
    kube = private.kube
    installed = _installed_webhook_configurations(kube)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "KUBECONFIG": str(private.kubeconfig)}
        result = subprocess.run(
            [LWS, "run", "-A", "--health-probe-bind-address", f"127.0.0.1:{port}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1, result.stderr
    assert f"error: cannot serve the health probes on 127.0.0.1:{port}" in result.stderr
    assert "choose another --health-probe-bind-address" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert _versions(kube) == installed, "the installed configurations were not touched"
