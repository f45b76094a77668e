"""A group's lifecycle survives an operator restart: the new operator continues the same trace from the
context recorded on the worker StatefulSet."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import yaml
from obs_harness import KUBECTL, ROOT, Cluster, start_traced
from obs_kit import LWS, STATEFULSETS, attr, children, make_lws, wait_settled
from opentelemetry import trace

from lws.observability import attributes as a
from lws.observability.lifecycle import TRACEPARENT_ANNOTATION, context_of
from lws.sim.runner import EmbeddedCluster
from lws.sim.testing import skip_if_real_cluster, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]

#: Pods take seconds to become Ready: time enough to replace the operator while a group is on its way.
SLOW = {
    "name": "slow-readiness",
    "description": "Two nodes whose containers take 3 s to be Ready",
    "levels": [{"key": "kubernetes.io/hostname", "count": 2, "prefix": "node-"}],
    "node": {"capacity": {"cpu": "64", "memory": "256Gi", "pods": "110"}},
    "kubelet": {"startDelaySeconds": 0.05, "readyDelaySeconds": 3},
}


@pytest.fixture(scope="module")
def slow_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    skip_if_real_cluster("replacing the operator mid-way")
    tmp = tmp_path_factory.mktemp("slow")
    topology = tmp / "topology.yaml"
    topology.write_text(yaml.safe_dump(SLOW))
    embedded = EmbeddedCluster(topology=topology, bookmark_interval=0.2).start()
    kubeconfig = embedded.write_kubeconfig(tmp / "kubeconfig")
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


def test_a_restarted_operator_continues_the_trace_of_a_group_on_its_way(slow_cluster: Cluster) -> None:
    first = start_traced(slow_cluster)
    ns = first.namespace
    try:
        first.cluster.sync.create(LWS, ns, make_lws("slow", replicas=1, size=2))

        def recorded() -> str | None:
            for sts in first.cluster.sync.list(STATEFULSETS, ns).get("items") or []:
                if sts["metadata"]["name"] == "slow-0":
                    annotations = sts["metadata"].get("annotations") or {}
                    return annotations.get(TRACEPARENT_ANNOTATION)
            return None

        traceparent = wait_until(recorded, what="the worker StatefulSet with its lifecycle context")
        assert first.telemetry.open_lifecycles() == {(ns, "slow", 0): "create"}
    finally:
        # A clean stop, but the telemetry is not flushed: the lifecycle root is lost, as in a crash.
        first.operator.stop()
    context = context_of(traceparent)
    assert context is not None
    lost_root = trace.get_current_span(context).get_span_context()
    assert not [s for s in first.exporter.get_finished_spans() if s.name == "create group"]

    second = start_traced(slow_cluster, namespace=ns)
    try:
        wait_settled(second.cluster, second.operator, ns, "slow")
        wait_until(lambda: not second.telemetry.open_lifecycles(), what="the resumed lifecycle to end")
        spans = second.exporter.get_finished_spans()
        (resumed,) = [s for s in spans if s.name == "resume group"]
        assert (resumed.context.trace_id, resumed.parent.span_id) == (lost_root.trace_id, lost_root.span_id)
        assert resumed.parent.is_remote
        assert attr(resumed, a.GROUP_INDEX) == 0 and attr(resumed, a.LIFECYCLE_OUTCOME) == "ready"
        reconciles = [s for s in children(spans, resumed) if s.name == "reconcile group"]
        assert reconciles and all(s.context.trace_id == lost_root.trace_id for s in reconciles)
        # Its start is the new operator's, not the group's: it is kept out of the SLI histograms.
        assert second.sample("lws_group_time_to_ready_seconds_count") == 0
    finally:
        second.operator.stop()
