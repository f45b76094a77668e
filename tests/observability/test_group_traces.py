"""One trace per group lifecycle, on the embedded cluster: a group's creation and a group's recovery read
as a story (what happened, in what order, how long, which plugin decided), and admissions are traced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from obs_harness import Traced
from obs_kit import (
    LWS,
    PODS,
    STATEFULSETS,
    attr,
    children,
    event_names,
    get_pod,
    in_trace,
    make_lws,
    named,
    subsequence,
    uid,
    wait_settled,
)
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from lws.observability import attributes as a
from lws.observability.lifecycle import TRACEPARENT_ANNOTATION, context_of
from lws.observability.otlp_json import write_otlp_json
from lws.observability.timeline import render_timeline
from lws.sim.apiserver import STRATEGIC_MERGE_PATCH
from lws.sim.errors import APIError
from lws.sim.testing import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]

#: A readiness gate only the test opens.
HELD = "example.com/held"


def test_a_group_creation_is_one_trace_from_spec_change_to_all_ready(traced: Traced) -> None:
    ns = traced.namespace
    # The leaders' readiness gate keeps them not Ready until each group's reconcile has held its workers
    # back (on a busy machine a quick leader could otherwise be Ready before its group's first reconcile).
    held_leader = {
        "spec": {
            "containers": [{"name": "app", "image": "app:1"}],
            "readinessGates": [{"conditionType": HELD}],
        }
    }
    body = make_lws(
        "web",
        replicas=2,
        size=2,
        startupPolicy="LeaderReady",
        leaderWorkerTemplate={"leaderTemplate": held_leader},
    )
    traced.cluster.sync.create(LWS, ns, body)

    def held_back() -> set[int]:
        return {
            attr(s, a.GROUP_INDEX)
            for s in traced.exporter.get_finished_spans()
            if s.name == "reconcile group" and attr(s, a.DECISION) == "hold workers"
        }

    wait_until(lambda: held_back() == {0, 1}, what="both groups to hold their workers back")
    gate = {"status": {"conditions": [{"type": HELD, "status": "True"}]}}
    for leader in ("web-0", "web-1"):
        traced.cluster.sync.patch(PODS, ns, leader, gate, STRATEGIC_MERGE_PATCH, subresource="status")
    wait_settled(traced.cluster, traced.operator, ns, "web")
    wait_until(lambda: not traced.telemetry.open_lifecycles(), what="the lifecycles to end")
    spans = traced.exporter.get_finished_spans()
    revision = get_pod(traced.cluster, ns, "web-1")["metadata"]["labels"][
        "leaderworkerset.sigs.k8s.io/template-revision-hash"
    ]

    lifecycles = sorted(named(spans, "create group"), key=lambda s: attr(s, a.GROUP_INDEX))
    assert [attr(s, a.GROUP_INDEX) for s in lifecycles] == [0, 1]
    for lifecycle in lifecycles:
        assert lifecycle.parent is None, "a lifecycle is the root of its own trace"
        assert attr(lifecycle, a.K8S_NAMESPACE_NAME) == ns and attr(lifecycle, a.LWS_NAME) == "web"
        assert attr(lifecycle, a.LIFECYCLE_OUTCOME) == "ready"
        assert attr(lifecycle, a.LIFECYCLE_REASON) == "set created"
    assert lifecycles[0].context.trace_id != lifecycles[1].context.trace_id

    # The spec change: the set reconcile that created the leader StatefulSet started both lifecycles,
    # and each side links to the other.
    group1 = lifecycles[1]
    (started_by,) = [
        link for link in group1.links if (link.attributes or {}).get(a.LINK_ROLE) == "started by"
    ]
    (set_reconcile,) = [s for s in spans if s.context.span_id == started_by.context.span_id]
    assert set_reconcile.name == "reconcile LeaderWorkerSet" and set_reconcile.parent is None
    decision = attr(set_reconcile, a.DECISION)
    assert "create revision" in decision and "apply leader StatefulSet" in decision, decision
    calls = [c.name for c in children(spans, set_reconcile)]
    assert subsequence(calls, ["create ControllerRevision", "apply StatefulSet"]), calls
    assert {link.context.span_id for link in set_reconcile.links} == {s.context.span_id for s in lifecycles}
    assert attr(set_reconcile, a.REPLICAS) == 2 and attr(set_reconcile, a.PARTITION) == 0

    # The group's own story, in order, inside one trace.
    story = in_trace(spans, group1)
    assert all(s.name != "reconcile LeaderWorkerSet" for s in story)
    assert subsequence(
        event_names(group1),
        [
            "leader pod created",
            "workers held back",
            "leader pod ready",
            "worker StatefulSet created",
            "group ready",
        ],
    ), event_names(group1)
    reconciles = [s for s in children(spans, group1) if s.name == "reconcile group"]
    assert reconciles and all(
        attr(r, a.GROUP_INDEX) == 1 and attr(r, a.K8S_POD_NAME) == "web-1" for r in reconciles
    )
    assert all(attr(r, a.RECONCILE_RESULT) in ("success", "requeue") for r in reconciles)
    assert all(r.status.status_code is not StatusCode.ERROR for r in reconciles)
    held = next(r for r in reconciles if attr(r, a.DECISION) == "hold workers")
    assert attr(held, a.STARTUP_GATE) and attr(held, a.STARTUP_GATE) != "open"
    (created,) = [r for r in reconciles if attr(r, a.DECISION) == "create worker StatefulSet"]
    assert held.end_time <= created.start_time
    assert attr(created, a.REVISION) == revision and attr(created, a.STARTUP_GATE) == "open"
    # Which plugin decided: the startup policy's call, under the reconcile it gated.
    (policy,) = named(children(spans, created), "call policy startupPolicy")
    assert attr(policy, a.PLUGIN_NAME) == "startup_policies" and attr(policy, a.POLICY_VALUE) == "LeaderReady"
    (create_sts,) = named(children(spans, created), "create StatefulSet")
    assert create_sts.kind is SpanKind.CLIENT
    assert (
        attr(create_sts, a.HTTP_REQUEST_METHOD) == "POST"
        and attr(create_sts, a.HTTP_RESPONSE_STATUS_CODE) == 201
    )
    assert (
        attr(create_sts, a.K8S_STATEFULSET_NAME) == "web-1" and attr(create_sts, a.K8S_NAMESPACE_NAME) == ns
    )
    # The last reconcile saw the group ready and ended the lifecycle with it.
    assert group1.end_time == max(r.end_time for r in reconciles)

    # Pod admissions of the group are part of its story, with the plugins' mutations inside: the leader's
    # by the webhook, the one worker's in its template, when the reconcile made the worker StatefulSet.
    admitted = [s for s in children(spans, group1) if s.name == "mutate Pod"]
    assert {attr(s, a.K8S_POD_NAME) for s in admitted} == {"web-1"}
    in_template = named(children(spans, created), "call hook lws_mutate_pod")
    assert in_template and {"tpu", "exclusive_topology", "leader_address"} <= set(
        attr(in_template[0], a.PLUGIN_NAMES)
    )
    assert all(s.kind is SpanKind.SERVER and attr(s, a.ADMISSION_ALLOWED) is True for s in admitted)
    # One span per hook call, naming every plugin that ran (each one's time is in the metrics).
    mutations = [h for s in admitted for h in children(spans, s) if h.name == "call hook lws_mutate_pod"]
    assert len(mutations) == len(admitted)
    plugins = {p for h in mutations for p in attr(h, a.PLUGIN_NAMES)}
    assert {"tpu", "exclusive_topology", "leader_address"} <= plugins, plugins
    assert all(h.status.status_code is not StatusCode.ERROR for h in mutations)

    # The lifecycle's context is recorded on the worker StatefulSet, for an operator that restarts.
    sts = traced.cluster.sync.get(STATEFULSETS, ns, "web-1")
    recorded = context_of(sts["metadata"]["annotations"][TRACEPARENT_ANNOTATION])
    # Carried by the StatefulSet, not its pods.
    assert TRACEPARENT_ANNOTATION not in (sts["spec"]["template"]["metadata"].get("annotations") or {})
    assert recorded is not None
    remote = trace.get_current_span(recorded).get_span_context()
    assert (remote.trace_id, remote.span_id) == (group1.context.trace_id, group1.context.span_id)


def test_a_worker_restart_is_one_trace_from_detection_to_ready_again(traced: Traced, tmp_path: Path) -> None:
    ns = traced.namespace
    body = make_lws(
        "rec", replicas=2, size=3, leaderWorkerTemplate={"restartPolicy": "RecreateGroupOnPodRestart"}
    )
    traced.cluster.sync.create(LWS, ns, body)
    wait_settled(traced.cluster, traced.operator, ns, "rec")
    wait_until(lambda: not traced.telemetry.open_lifecycles(), what="the creation lifecycles to end")
    leader_before = get_pod(traced.cluster, ns, "rec-1")
    traced.exporter.clear()

    traced.cluster.faults.restart_container(ns, "rec-1-2")
    wait_until(
        lambda: uid(get_pod(traced.cluster, ns, "rec-1")) not in ("", uid(leader_before)), what="a new leader"
    )
    wait_settled(traced.cluster, traced.operator, ns, "rec")
    wait_until(lambda: not traced.telemetry.open_lifecycles(), what="the recovery to end")
    spans = traced.exporter.get_finished_spans()

    lifecycles = [s for s in spans if attr(s, a.LIFECYCLE_KIND) is not None]
    assert [(s.name, attr(s, a.GROUP_INDEX)) for s in lifecycles] == [("recreate group", 1)]
    (recovery,) = lifecycles
    assert recovery.parent is None and attr(recovery, a.LIFECYCLE_OUTCOME) == "ready"
    assert attr(recovery, a.LIFECYCLE_KIND) == "recreate"
    assert subsequence(
        event_names(recovery),
        ["leader pod deleted", "leader pod created", "worker StatefulSet created", "group ready"],
    ), event_names(recovery)

    reconciles = [s for s in children(spans, recovery) if s.name == "reconcile group"]
    (detected,) = [r for r in reconciles if attr(r, a.DECISION) == "recreate group"]
    assert attr(detected, a.RESTART_DECISION) == "recreate"
    assert attr(detected, a.RESTART_PLUGIN) == "restart_policies"
    assert attr(detected, a.RESTART_TRIGGER) == "container-restart"
    assert [e.attributes[a.K8S_POD_NAME] for e in detected.events if e.name == "restart detected"] == [
        "rec-1-2"
    ]
    # Pods merely not ready yet are offered to the policy too, which leaves them alone: no restart is
    # reported for them anywhere in the run.
    reported = [
        e.attributes[a.K8S_POD_NAME]
        for s in spans
        if s.name == "reconcile group"
        for e in s.events
        if e.name == "restart detected"
    ]
    assert set(reported) == {"rec-1-2"}, reported
    (policy,) = named(children(spans, detected), "call policy restartPolicy")
    assert attr(policy, a.PLUGIN_NAME) == "restart_policies"
    assert attr(policy, a.POLICY_VALUE) == "RecreateGroupOnPodRestart"
    (delete,) = named(children(spans, detected), "delete Pod")
    assert attr(delete, a.K8S_POD_NAME) == "rec-1" and attr(delete, a.HTTP_REQUEST_METHOD) == "DELETE"
    assert attr(delete, a.HTTP_RESPONSE_STATUS_CODE) == 200
    # The recovery starts where the detecting reconcile started, and ends with the group ready again.
    assert recovery.start_time <= detected.start_time
    rebuilt = [r for r in reconciles if attr(r, a.DECISION) == "create worker StatefulSet"]
    assert len(rebuilt) == 1 and rebuilt[0].start_time > detected.end_time
    assert attr(rebuilt[0], a.REVISION) == attr(detected, a.REVISION)
    assert recovery.end_time >= rebuilt[0].end_time
    # Group 0 was left alone: nothing of it belongs to this trace.
    assert all(attr(s, a.GROUP_INDEX) in (None, 1) for s in in_trace(spans, recovery))

    # The same story as the demo prints it, and as OTLP JSON for a trace backend.
    text = render_timeline(spans)
    assert text.startswith(f"group {ns}/rec/1\n  recreate group ") and "  ready  (" in text
    story = [line.split("  ", 2)[-1] for line in text.splitlines() if line.startswith("  | ")]
    # The restart policy is also offered the new group's pods while they are not ready yet (it ignores
    # them); whether that happened in the reconcile that creates the workers depends on timing.
    consulted = " [restartPolicy RecreateGroupOnPodRestart: restart_policies]"
    story = [
        line.replace(consulted, "") if line.startswith("reconcile group: create worker") else line
        for line in story
    ]
    assert subsequence(
        story,
        [
            "restart of rec-1-2 detected: recreate by restart_policies",
            "reconcile group: recreate group [restartPolicy RecreateGroupOnPodRestart: restart_policies]",
            "leader pod created",
            "reconcile group: create worker StatefulSet [startupPolicy LeaderCreated: startup_policies]",
            "group ready",
        ],
    ), text
    assert any(line.startswith("admit pod rec-1") for line in story), text
    document = json.loads(write_otlp_json(spans, tmp_path / "trace.json").read_text())
    exported = {
        s["spanId"]: s for r in document["resourceSpans"] for ss in r["scopeSpans"] for s in ss["spans"]
    }
    assert len(exported) == len(spans)
    root = exported[f"{recovery.context.span_id:016x}"]
    assert root["traceId"] == f"{recovery.context.trace_id:032x}" and "parentSpanId" not in root
    assert root["name"] == "recreate group" and root["kind"] == 1  # SPAN_KIND_INTERNAL
    child = exported[f"{detected.context.span_id:016x}"]
    assert child["parentSpanId"] == root["spanId"] and child["traceId"] == root["traceId"]
    assert exported[f"{delete.context.span_id:016x}"]["kind"] == 3  # SPAN_KIND_CLIENT
    assert {"key": "leaderworkerset.restart.plugin", "value": {"stringValue": "restart_policies"}} in child[
        "attributes"
    ]

    assert traced.sample("lws_group_recovery_seconds_count", {"kind": "recreate"}) == 1
    assert (
        traced.sample(
            "lws_group_recreations_total", {"reason": "container-restart", "plugin": "restart_policies"}
        )
        == 1
    )
    assert traced.sample("lws_group_failure_detection_seconds_count") == 1


def test_leaderworkerset_admission_is_traced_with_the_plugins_it_called(traced: Traced) -> None:
    ns = traced.namespace
    traced.cluster.sync.create(LWS, ns, make_lws("adm", replicas=1, size=1))
    with pytest.raises(APIError, match="is invalid"):
        traced.cluster.sync.create(LWS, ns, make_lws("bad", replicas=1, size=0))
    spans = traced.exporter.get_finished_spans()

    (default,) = named(spans, "mutate LeaderWorkerSet", leaderworkerset__name="adm")
    assert default.kind is SpanKind.SERVER and attr(default, a.ADMISSION_OPERATION) == "CREATE"
    assert attr(default, a.ADMISSION_ALLOWED) is True and attr(default, a.K8S_NAMESPACE_NAME) == ns
    (validated,) = named(spans, "validate LeaderWorkerSet", leaderworkerset__name="adm")
    assert attr(validated, a.ADMISSION_ALLOWED) is True
    (validation,) = named(children(spans, validated), "call hook lws_validate")
    assert {"vllm", "sglang", "restart_budget"} <= set(attr(validation, a.PLUGIN_NAMES))

    # A denial is the webhook doing its job: an answer, not an error of ours.
    (denied,) = named(spans, "validate LeaderWorkerSet", leaderworkerset__name="bad")
    assert attr(denied, a.ADMISSION_ALLOWED) is False
    assert denied.status.status_code is not StatusCode.ERROR
    assert (
        traced.sample(
            "lws_webhook_requests_total", {"webhook": "validate-leaderworkerset", "result": "denied"}
        )
        == 1
    )
    assert (
        traced.sample(
            "lws_webhook_requests_total", {"webhook": "validate-leaderworkerset", "result": "allowed"}
        )
        == 1
    )
    assert traced.sample("lws_webhook_duration_seconds_count", {"webhook": "validate-leaderworkerset"}) == 2
