"""Fixtures for the observability tests.

End-to-end tests share one embedded cluster per module (two racks of four nodes, quick kubelets, the CRD
installed) and get, per test, a fresh operator whose telemetry writes to a fresh in-memory span exporter
and a fresh ``CollectorRegistry``, and a fresh namespace.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from obs_harness import HERE, KUBECTL, NAMESPACES, ROOT, Cluster, Traced, start_traced

from lws.sim.runner import EmbeddedCluster
from lws.sim.testing import skip_if_real_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    skip_if_real_cluster("running a traced operator of the test's own")
    # Frequent bookmarks let InProcessOperator.settle see how far quiet watches have got.
    embedded = EmbeddedCluster(topology=HERE / "topology.yaml", bookmark_interval=0.2).start()
    kubeconfig = embedded.write_kubeconfig(tmp_path_factory.mktemp("obs") / "kubeconfig")
    subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "apply", "--server-side", "-f", str(ROOT / "crds")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    try:
        yield Cluster(embedded, kubeconfig)
    finally:
        embedded.stop()


@pytest.fixture
def traced(cluster: Cluster) -> Iterator[Traced]:
    env = start_traced(cluster)
    try:
        yield env
    finally:
        env.operator.stop()
        cluster.embedded.sync.delete(NAMESPACES, None, env.namespace)
