"""Fixtures for the observability tests.

End-to-end tests share one embedded cluster per module (two racks of four nodes, quick kubelets, the CRD
installed) and get, per test, a fresh operator whose telemetry writes to a fresh in-memory span exporter
and a fresh ``CollectorRegistry``, and a fresh namespace.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from lws.cluster.kube import connect
from lws.controller.instrumentation import OperatorTelemetry
from lws.controller.testing import OperatorThread, settings_for_tests
from lws.hooks.manager import make_hooks
from lws.observability.metrics import LwsMetrics
from lws.observability.tracing import in_memory_tracing
from lws.sim.runner import EmbeddedCluster
from lws.sim.testing import real_kubeconfig

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
KUBECTL = str(Path(sys.executable).parent / "kubectl")
NAMESPACES = ("", "v1", "namespaces")


@dataclass
class Cluster:
    embedded: EmbeddedCluster
    kubeconfig: Path


@dataclass
class Traced:
    """An operator under test, with what its telemetry wrote."""

    cluster: EmbeddedCluster
    operator: OperatorThread
    telemetry: OperatorTelemetry
    exporter: InMemorySpanExporter
    provider: TracerProvider
    registry: CollectorRegistry
    namespace: str

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's value; 0 for a series that was never created."""
        return self.registry.get_sample_value(name, labels or {}) or 0.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if real_kubeconfig() is not None:
        pytest.skip("the observability tests run their own operator on the embedded cluster")
    # Frequent bookmarks let OperatorThread.settle see how far quiet watches have got.
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


def start_traced(
    cluster: Cluster, *, tracing: bool = True, metrics: bool = True, namespace: str | None = None
) -> Traced:
    """An operator on ``cluster`` with in-memory tracing and a fresh registry, serving ``namespace`` (by
    default a new one)."""
    provider, exporter = in_memory_tracing()
    registry = CollectorRegistry()
    telemetry = OperatorTelemetry(
        metrics=LwsMetrics(registry) if metrics else None, tracer_provider=provider if tracing else None
    )
    if namespace is None:
        namespace = f"obs-{uuid.uuid4().hex[:6]}"
        cluster.embedded.sync.create(NAMESPACES, None, {"metadata": {"name": namespace}})
    operator = OperatorThread(
        settings_for_tests(kubeconfig=str(cluster.kubeconfig), namespaces=(namespace,)),
        make_hooks(),
        connect=connect,
        telemetry=telemetry,
    ).start()
    return Traced(cluster.embedded, operator, telemetry, exporter, provider, registry, namespace)


@pytest.fixture
def traced(cluster: Cluster) -> Iterator[Traced]:
    env = start_traced(cluster)
    try:
        yield env
    finally:
        env.operator.stop()
        cluster.embedded.sync.delete(NAMESPACES, None, env.namespace)
