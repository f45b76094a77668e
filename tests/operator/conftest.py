"""Fixtures for the operator's tests.

End-to-end tests get a session-wide embedded cluster (two racks of four nodes, the CRD installed) with one
operator running in-process on its own thread, and a fresh namespace per test. With ``LWS_TEST_KUBECONFIG``
they use that cluster instead and expect the operator to be deployed there already; tests that need the
in-process operator (request counts, restarts) are then skipped (marker ``sim_only``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_kit import Kube, namespace_scope
from operator_harness import E2E, Private, start_cluster, start_operator

from lws.sim.testing import real_kubeconfig, skip_if_real_cluster


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


@pytest.fixture
def private(tmp_path: Path) -> Iterator[Private]:
    skip_if_real_cluster("a cluster and operators of the test's own")
    cluster, kubeconfig, kube = start_cluster(tmp_path)
    env = Private(kubeconfig, kube, cluster, [])
    try:
        yield env
    finally:
        for operator in env.operators:
            operator.stop()
        kube.close()
        cluster.stop()
