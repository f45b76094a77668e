"""The observability tests' harness: a traced operator on an embedded cluster, and what it wrote.

Kept out of ``conftest.py`` so tests can import these names: several test folders have a ``conftest``
module, and importing one by that name picks whichever was loaded first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from lws.cluster.kube import connect
from lws.controller.in_process import InProcessOperator
from lws.controller.instrumentation import OperatorTelemetry
from lws.hooks.manager import make_hooks
from lws.observability.metrics import LwsMetrics
from lws.observability.tracing import in_memory_tracing
from lws.plugin_testing import settings_for_tests
from lws.sim.runner import EmbeddedCluster
from tests.sim.kubectl_cli import kubectl_binary

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
KUBECTL = kubectl_binary()
NAMESPACES = ("", "v1", "namespaces")


@dataclass
class Cluster:
    embedded: EmbeddedCluster
    kubeconfig: Path


@dataclass
class Traced:
    """An operator under test, with what its telemetry wrote."""

    cluster: EmbeddedCluster
    operator: InProcessOperator
    telemetry: OperatorTelemetry
    exporter: InMemorySpanExporter
    provider: TracerProvider
    registry: CollectorRegistry
    namespace: str

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's value; 0 for a series that was never created."""
        return self.registry.get_sample_value(name, labels or {}) or 0.0


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
    operator = InProcessOperator(
        settings_for_tests(kubeconfig=str(cluster.kubeconfig), namespaces=(namespace,)),
        make_hooks(),
        connect=connect,
        telemetry=telemetry,
    ).start()
    return Traced(cluster.embedded, operator, telemetry, exporter, provider, registry, namespace)
