"""A group's lifecycle survives an operator restart: the new operator continues the same trace from the
context recorded on the worker StatefulSet."""

from __future__ import annotations

import pytest
from obs_harness import NAMESPACES, Cluster, start_traced
from obs_kit import LWS, PODS, STATEFULSETS, attr, children, make_lws, wait_settled
from opentelemetry import trace

from lws.observability import attributes as a
from lws.observability.lifecycle import TRACEPARENT_ANNOTATION, context_of
from lws.sim.apiserver import STRATEGIC_MERGE_PATCH
from lws.sim.testing import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]

#: The leader's readiness gate: the group stays on its way until the test opens it, so the operator can be
#: replaced mid-way however long that takes.
HELD = "example.com/held"


def test_a_restarted_operator_continues_the_trace_of_a_group_on_its_way(cluster: Cluster) -> None:
    first = start_traced(cluster)
    ns = first.namespace
    held_leader = {
        "spec": {
            "containers": [{"name": "app", "image": "app:1"}],
            "readinessGates": [{"conditionType": HELD}],
        }
    }
    try:
        first.cluster.sync.create(
            LWS,
            ns,
            make_lws("slow", replicas=1, size=2, leaderWorkerTemplate={"leaderTemplate": held_leader}),
        )

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

    second = start_traced(cluster, namespace=ns)
    try:
        wait_until(
            lambda: second.telemetry.open_lifecycles() == {(ns, "slow", 0): "resume"},
            what="the new operator to find the group on its way",
        )
        gate = {"status": {"conditions": [{"type": HELD, "status": "True"}]}}
        second.cluster.sync.patch(PODS, ns, "slow-0", gate, STRATEGIC_MERGE_PATCH, subresource="status")
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
        cluster.embedded.sync.delete(NAMESPACES, None, ns)
