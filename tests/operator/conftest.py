"""Fixtures for the operator's tests.

End-to-end tests get a session-wide embedded cluster (two racks of four nodes, the CRD installed) with one
operator running in-process on its own thread, and a fresh namespace per test. With ``LWS_TEST_KUBECONFIG``
they use that cluster instead and expect the operator to be deployed there already; tests that need the
in-process operator (request counts, restarts) are then skipped (marker ``sim_only``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_kit import Kube, namespace_scope

from lws.cluster.kube import connect
from lws.controller.context import Telemetry
from lws.controller.testing import OperatorThread, settings_for_tests
from lws.hooks.manager import make_hooks
from lws.sim.runner import EmbeddedCluster
from lws.sim.testing import REAL_CLUSTER_ENV, real_kubeconfig

HERE = Path(__file__).parent
TOPOLOGY = HERE / "topology.yaml"
CRDS = HERE.parents[1] / "crds"


@dataclass
class E2E:
    """The cluster under test; ``cluster``/``operator`` are ``None`` against a real cluster."""

    kubeconfig: Path
    kube: Kube
    cluster: EmbeddedCluster | None
    operator: OperatorThread | None

    def require_operator(self) -> OperatorThread:
        if self.operator is None:
            pytest.skip(f"needs the in-process operator; {REAL_CLUSTER_ENV} points at a real cluster")
        return self.operator


def start_cluster(tmp: Path) -> tuple[EmbeddedCluster, Path, Kube]:
    """An embedded cluster with the test topology and the LeaderWorkerSet CRD."""
    # Frequent bookmarks let quiet watches tell the operator's caches how far the cluster has got, which
    # is what OperatorThread.settle waits for.
    cluster = EmbeddedCluster(topology=TOPOLOGY, bookmark_interval=0.2).start()
    kubeconfig = cluster.write_kubeconfig(tmp / "kubeconfig")
    kube = Kube(kubeconfig)
    kube.kubectl("apply", "--server-side", "-f", str(CRDS))
    return cluster, kubeconfig, kube


def start_operator(*, telemetry: Telemetry | None = None, **changes: Any) -> OperatorThread:
    """An operator on its own thread; ``changes`` are settings (the kubeconfig at least). Ready when returned."""
    return OperatorThread(
        settings_for_tests(**changes), make_hooks(), connect=connect, telemetry=telemetry
    ).start()


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    real = real_kubeconfig()
    if real is not None:
        kube = Kube(real)
        yield E2E(real, kube, None, None)
        kube.close()
        return
    cluster, kubeconfig, kube = start_cluster(tmp_path_factory.mktemp("e2e"))
    operator = start_operator(kubeconfig=str(kubeconfig))
    try:
        yield E2E(kubeconfig, kube, cluster, operator)
    finally:
        operator.stop()
        kube.close()
        cluster.stop()


@pytest.fixture
def kube(e2e: E2E) -> Kube:
    return e2e.kube


@pytest.fixture
def ns(e2e: E2E) -> Iterator[str]:
    yield from namespace_scope(e2e.kube)


@dataclass
class Private:
    """A cluster and operator(s) of one test's own (recovery and HA tests disturb the operator)."""

    kubeconfig: Path
    kube: Kube
    cluster: EmbeddedCluster
    operators: list[OperatorThread]

    def start_operator(self, *, telemetry: Telemetry | None = None, **changes: Any) -> OperatorThread:
        operator = start_operator(telemetry=telemetry, kubeconfig=str(self.kubeconfig), **changes)
        self.operators.append(operator)
        return operator


@pytest.fixture
def private(tmp_path: Path) -> Iterator[Private]:
    if real_kubeconfig() is not None:
        pytest.skip(f"starts its own cluster and operators; {REAL_CLUSTER_ENV} points at a real cluster")
    cluster, kubeconfig, kube = start_cluster(tmp_path)
    env = Private(kubeconfig, kube, cluster, [])
    try:
        yield env
    finally:
        for operator in env.operators:
            operator.stop()
        kube.close()
        cluster.stop()
