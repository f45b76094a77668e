"""The metrics after a scripted life of one set on the embedded cluster (create, ready, restart, recover,
roll out): counts exactly as the scenario implies, label sets bounded; and with tracing off, the same
metrics and no spans."""

from __future__ import annotations

import pytest
from obs_harness import Cluster, Traced, start_traced
from obs_kit import LWS, MERGE, STATEFULSETS, attr, get_pod, make_lws, uid, wait_settled
from prometheus_client import CollectorRegistry

from lws.cluster.kube import connect
from lws.controller.context import Telemetry
from lws.controller.instrumentation import build_telemetry
from lws.controller.operator import Operator
from lws.hooks.manager import Hooks, make_hooks
from lws.observability import attributes as a
from lws.observability.lifecycle import TRACEPARENT_ANNOTATION
from lws.observability.metrics import LwsMetrics
from lws.plugin_testing import settings_for_tests
from lws.sim.testing import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]

#: Every label value a metric may carry besides plugin and hook names (bounded by the installed plugins)
#: and namespaces.
BOUNDED = {
    "controller": {"set", "group", "disaggregatedset"},
    "result": {"success", "requeue", "error", "allowed", "denied"},
    "webhook": {
        "mutate-leaderworkerset",
        "validate-leaderworkerset",
        "mutate-pod",
        "validate-pod",
        "validate-disaggregatedset",
    },
    "kind": {"recreate", "recover"},
    "reason": {"container-restart", "pod-deletion"},
    "action": {"recreate", "wait", "fail", "ignore"},
    "state": {"desired", "ready", "updated", "failed"},
    "verb": {"get", "list", "watch", "create", "update", "patch", "apply", "delete"},
}


def _live(traced: Traced, name: str) -> None:
    """Create, restart a worker and let the group be recreated, then roll out a new image."""
    ns = traced.namespace
    body = make_lws(
        name, replicas=2, size=2, leaderWorkerTemplate={"restartPolicy": "RecreateGroupOnPodRestart"}
    )
    traced.cluster.sync.create(LWS, ns, body)
    wait_settled(traced.cluster, traced.operator, ns, name)
    wait_until(lambda: not traced.telemetry.open_lifecycles(), what="the groups to be created")

    leader = get_pod(traced.cluster, ns, f"{name}-1")
    traced.cluster.faults.restart_container(ns, f"{name}-1-1")
    wait_until(
        lambda: uid(get_pod(traced.cluster, ns, f"{name}-1")) not in ("", uid(leader)), what="a new leader"
    )
    wait_settled(traced.cluster, traced.operator, ns, name)
    wait_until(lambda: not traced.telemetry.open_lifecycles(), what="the group to recover")

    image = {
        "spec": {
            "leaderWorkerTemplate": {
                "workerTemplate": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}
            }
        }
    }
    traced.cluster.sync.patch(LWS, ns, name, image, MERGE)
    wait_settled(traced.cluster, traced.operator, ns, name)
    wait_until(lambda: not traced.telemetry.open_lifecycles(), what="the rollout to end")


def test_metrics_after_create_restart_recover_and_rollout(traced: Traced) -> None:
    _live(traced, "life")
    sample = traced.sample

    # Group SLIs: two creations, one recreation, two updates, in two rollout steps.
    assert sample("lws_group_time_to_ready_seconds_count") == 2
    assert sample("lws_group_recovery_seconds_count", {"kind": "recreate"}) == 1
    assert sample("lws_group_recovery_seconds_count", {"kind": "recover"}) == 0
    assert sample("lws_group_update_seconds_count") == 2
    assert sample("lws_rollout_step_duration_seconds_count") == 2
    assert sample("lws_group_failure_detection_seconds_count") == 1
    assert (
        sample("lws_group_recreations_total", {"reason": "container-restart", "plugin": "restart_policies"})
        == 1
    )
    assert (
        sample("lws_group_recreations_total", {"reason": "pod-deletion", "plugin": "restart_policies"}) == 0
    )
    assert (
        sample("lws_group_restart_decisions_total", {"action": "recreate", "plugin": "restart_policies"}) == 1
    )
    # Pods merely not ready yet (every new pod, for a while) are offered to the restart policy, which
    # leaves them alone: that is no restart, and is counted as none.
    assert (
        sample("lws_group_restart_decisions_total", {"action": "ignore", "plugin": "restart_policies"}) == 0
    )
    assert sample("lws_group_time_to_ready_seconds_sum") > 0
    assert sample("lws_group_time_to_ready_seconds_bucket", {"le": "+Inf"}) == 2

    # Reconciles: none failed; counts and durations agree.
    for controller in ("set", "group"):
        assert sample("lws_reconcile_total", {"controller": controller, "result": "error"}) == 0
        assert sample("lws_reconcile_errors_total", {"controller": controller}) == 0
        total = sum(
            sample("lws_reconcile_total", {"controller": controller, "result": r})
            for r in ("success", "requeue")
        )
        assert (
            total > 0 and sample("lws_reconcile_duration_seconds_count", {"controller": controller}) == total
        )

    # API requests: a worker StatefulSet per leader incarnation (2 created, 1 recreated, 2 updated), and one
    # pod deleted, by the restart policy.
    assert (
        sample("lws_api_requests_total", {"verb": "create", "resource": "statefulsets", "code": "201"}) == 5
    )
    assert sample("lws_api_requests_total", {"verb": "delete", "resource": "pods", "code": "200"}) == 1
    assert sample("lws_api_request_duration_seconds_count", {"verb": "delete", "resource": "pods"}) == 1

    # Admission: every leader pod the cluster created (two, one recreated, two rolled) went through the pod
    # webhook, and each has its span; the one worker of a group of two was admitted in its StatefulSet's
    # template, and its pod was created without a call.
    admitted = sample("lws_webhook_requests_total", {"webhook": "mutate-pod", "result": "allowed"})
    spans = [s for s in traced.exporter.get_finished_spans() if s.name == "mutate Pod"]
    assert admitted == len(spans) >= 2 + 1 + 2
    assert all(attr(s, a.K8S_POD_NAME).count("-") == 1 for s in spans), "leaders only (life-<i>)"
    assert sample("lws_webhook_requests_total", {"webhook": "mutate-pod", "result": "error"}) == 0

    # Groups by state, read from the cache at scrape time.
    ns = traced.namespace
    for state, value in (("desired", 2), ("ready", 2), ("updated", 2), ("failed", 0)):
        assert sample("lws_groups", {"namespace": ns, "state": state}) == value

    # Labels: bounded sets, never an object's name.
    for family in traced.registry.collect():
        for s in family.samples:
            for label, value in s.labels.items():
                assert "life" not in value, (s.name, s.labels)
                if label in BOUNDED:
                    assert value in BOUNDED[label], (s.name, s.labels)


def test_with_tracing_off_no_span_is_made_and_the_metrics_are_the_same(cluster: Cluster) -> None:
    env = start_traced(cluster, tracing=False)
    try:
        assert env.telemetry.tracer is None
        ns = env.namespace
        env.cluster.sync.create(LWS, ns, make_lws("quiet", replicas=2, size=2))
        wait_settled(env.cluster, env.operator, ns, "quiet")
        wait_until(lambda: not env.telemetry.open_lifecycles(), what="the groups to be created")
        assert env.sample("lws_group_time_to_ready_seconds_count") == 2
        # The two leaders; their workers (one each) were admitted in their StatefulSets' templates.
        assert env.sample("lws_webhook_requests_total", {"webhook": "mutate-pod", "result": "allowed"}) == 2
        # No lifecycle span, so no trace context written on the objects either.
        sts = env.cluster.sync.get(STATEFULSETS, ns, "quiet-0")
        assert TRACEPARENT_ANNOTATION not in (sts["metadata"].get("annotations") or {})
        assert TRACEPARENT_ANNOTATION not in (sts["spec"]["template"]["metadata"].get("annotations") or {})
    finally:
        env.operator.stop()


def test_the_plugin_facade_is_never_replaced_to_observe_it() -> None:
    # Decisions reach the telemetry from the reconcilers (ReconcileContext.decide), not from a façade
    # subclass: the operator runs exactly the hooks it was given.
    hooks = make_hooks()
    telemetry = build_telemetry(metrics=LwsMetrics(CollectorRegistry()))
    operator = Operator(settings_for_tests(), hooks, connect=connect, telemetry=telemetry)
    assert operator.hooks is hooks and type(operator.hooks) is Hooks


def test_with_neither_metrics_nor_tracing_the_operator_keeps_the_no_op_telemetry() -> None:
    telemetry = build_telemetry()
    assert type(telemetry) is Telemetry
    hooks = make_hooks()
    operator = Operator(settings_for_tests(), hooks, connect=connect, telemetry=telemetry)
    assert operator.hooks is hooks
