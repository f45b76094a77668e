"""The StatefulSet controller's decisions (lws.sim.controllers.statefulset_plan), as tables.

Expected behaviour is kube-controller-manager's (stateful_set_control.go, MaxUnavailableStatefulSet on).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lws.sim.controllers import statefulset_plan as sp
from lws.sim.controllers.statefulset_plan import CreatePod, DeletePod

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
OLD, NEW = "web-old", "web-new"


def sts(replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "ns", "uid": "set-uid", "generation": 2},
        "spec": {
            "replicas": replicas,
            "serviceName": "web-svc",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
            **spec,
        },
    }


def rolling(partition: int = 0, max_unavailable: int | str | None = None) -> dict[str, Any]:
    update: dict[str, Any] = {"partition": partition}
    if max_unavailable is not None:
        update["maxUnavailable"] = max_unavailable
    return {"type": "RollingUpdate", "rollingUpdate": update}


def pod(
    ordinal: int,
    state: str = "ready",
    revision: str = NEW,
    *,
    ready_for: float = 3600,
    terminating: bool = False,
) -> dict[str, Any]:
    """state: ready | running (not ready) | pending | failed | succeeded."""
    phase = {"ready": "Running", "running": "Running", "pending": "Pending", "failed": "Failed"}.get(
        state, "Succeeded"
    )
    conditions = []
    if state == "ready":
        since = (NOW - timedelta(seconds=ready_for)).strftime("%Y-%m-%dT%H:%M:%SZ")
        conditions.append({"type": "Ready", "status": "True", "lastTransitionTime": since})
    meta: dict[str, Any] = {
        "name": f"web-{ordinal}",
        "namespace": "ns",
        "uid": f"pod-{ordinal}",
        "labels": {
            "app": "web",
            sp.REVISION_LABEL: revision,
            sp.POD_NAME_LABEL: f"web-{ordinal}",
            sp.POD_INDEX_LABEL: str(ordinal),
        },
    }
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T12:00:30Z"
    return {"metadata": meta, "status": {"phase": phase, "conditions": conditions}}


def decide(set_: dict[str, Any], pods: list[dict[str, Any]], current: str = NEW) -> sp.Plan:
    return sp.plan(set_, pods, current, NEW, 0, NOW)


# --- scaling and ordering -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "pods", "expected"),
    [
        ("OrderedReady", [], [CreatePod(0, "update")]),
        ("OrderedReady", [pod(0, "pending")], []),
        ("OrderedReady", [pod(0, "running")], []),
        ("OrderedReady", [pod(0)], [CreatePod(1, "update")]),
        ("OrderedReady", [pod(0), pod(2)], [CreatePod(1, "update")]),
        ("OrderedReady", [pod(0, terminating=True), pod(1)], []),
        ("Parallel", [], [CreatePod(0, "update"), CreatePod(1, "update"), CreatePod(2, "update")]),
        ("Parallel", [pod(0, "pending")], [CreatePod(1, "update"), CreatePod(2, "update")]),
    ],
)
def test_scale_up(policy, pods, expected):
    assert decide(sts(3, podManagementPolicy=policy), pods).actions == expected


def test_ordinals_start():
    plan = decide(sts(2, podManagementPolicy="Parallel", ordinals={"start": 5}), [])
    assert plan.actions == [CreatePod(5, "update"), CreatePod(6, "update")]
    # a pod outside [start, start+replicas) is condemned
    plan = decide(sts(2, ordinals={"start": 5}), [pod(5), pod(6), pod(0)])
    assert plan.actions == [DeletePod("web-0", "scale down")]


@pytest.mark.parametrize(
    ("policy", "pods", "expected"),
    [
        ("OrderedReady", [pod(i) for i in range(5)], ["web-4"]),
        ("OrderedReady", [pod(0), pod(1), pod(2), pod(3), pod(4, terminating=True)], []),
        # a condemned pod that is not ready blocks scale-down unless it is the first unhealthy one
        ("OrderedReady", [pod(0), pod(1), pod(2), pod(3, "running"), pod(4)], ["web-4"]),
        ("OrderedReady", [pod(0), pod(1, "running"), pod(2), pod(3), pod(4)], []),
        ("Parallel", [pod(i) for i in range(5)], ["web-4", "web-3", "web-2"]),
    ],
)
def test_scale_down_highest_first(policy, pods, expected):
    plan = decide(sts(2, podManagementPolicy=policy), pods)
    assert [a.name for a in plan.actions if isinstance(a, DeletePod)] == expected


@pytest.mark.parametrize("state", ["failed", "succeeded"])
def test_failed_or_succeeded_pod_is_deleted_then_recreated(state):
    plan = decide(sts(3), [pod(0), pod(1, state), pod(2)])
    assert plan.actions == [DeletePod("web-1", "failed")]
    # already being deleted: wait for it to go; then the next sync creates it anew
    assert decide(sts(3), [pod(0), pod(1, state, terminating=True), pod(2)]).actions == []
    assert decide(sts(3), [pod(0), pod(2)]).actions == [CreatePod(1, "update")]


# --- rolling update -------------------------------------------------------------------------------


def deletes(plan: sp.Plan) -> list[str]:
    return [a.name for a in plan.actions if isinstance(a, DeletePod)]


@pytest.mark.parametrize(
    ("strategy", "pods", "expected"),
    [
        (rolling(), [pod(i, revision=OLD) for i in range(5)], ["web-4"]),
        (rolling(max_unavailable=2), [pod(i, revision=OLD) for i in range(5)], ["web-4", "web-3"]),
        (rolling(max_unavailable="40%"), [pod(i, revision=OLD) for i in range(5)], ["web-4", "web-3"]),
        (rolling(max_unavailable="30%"), [pod(i, revision=OLD) for i in range(5)], ["web-4", "web-3"]),
        (
            rolling(partition=3, max_unavailable=5),
            [pod(i, revision=OLD) for i in range(5)],
            ["web-4", "web-3"],
        ),
        (rolling(partition=5, max_unavailable=5), [pod(i, revision=OLD) for i in range(5)], []),
        # one pod already unavailable (updated, not ready yet) uses one unit of the budget
        (
            rolling(max_unavailable=2),
            [*(pod(i, revision=OLD) for i in range(4)), pod(4, "running", revision=NEW)],
            ["web-3"],
        ),
        (rolling(max_unavailable=1), [*(pod(i, revision=OLD) for i in range(4)), pod(4, "running")], []),
        # an unavailable pod *below* the partition counts too (all pods in range are counted)
        (
            rolling(partition=3, max_unavailable=1),
            [pod(0, "running", OLD), *(pod(i, revision=OLD) for i in range(1, 5))],
            [],
        ),
        # updated pods are skipped; the next old one below them is taken
        (rolling(), [*(pod(i, revision=OLD) for i in range(3)), pod(3), pod(4)], ["web-2"]),
        ({"type": "OnDelete"}, [pod(i, revision=OLD) for i in range(5)], []),
    ],
)
def test_rolling_update(strategy, pods, expected):
    set_ = sts(5, updateStrategy=strategy, podManagementPolicy="Parallel")
    plan = sp.plan(set_, pods, OLD, NEW, 0, NOW)
    assert deletes(plan) == expected


def test_missing_pods_below_partition_are_created_at_the_current_revision():
    set_ = sts(4, updateStrategy=rolling(partition=2), podManagementPolicy="Parallel")
    plan = sp.plan(set_, [], OLD, NEW, 0, NOW)
    assert plan.actions == [
        CreatePod(0, "current"),
        CreatePod(1, "current"),
        CreatePod(2, "update"),
        CreatePod(3, "update"),
    ]
    on_delete = sts(2, updateStrategy={"type": "OnDelete"}, podManagementPolicy="Parallel")
    assert sp.plan(on_delete, [], OLD, NEW, 0, NOW).actions == [
        CreatePod(0, "update"),
        CreatePod(1, "update"),
    ]


def test_min_ready_seconds_gates_availability_and_requeues():
    set_ = sts(2, minReadySeconds=10)
    fresh = [pod(0, ready_for=4)]
    plan = decide(set_, fresh)
    assert plan.actions == []  # OrderedReady waits for availability too
    assert plan.status["readyReplicas"] == 1
    assert plan.status["availableReplicas"] == 0
    assert plan.requeue_after == pytest.approx(6)
    plan = decide(set_, [pod(0, ready_for=11)])
    assert plan.actions == [CreatePod(1, "update")]
    assert plan.status["availableReplicas"] == 1


# --- status ---------------------------------------------------------------------------------------


def test_status_counts_and_completion():
    set_ = sts(3, updateStrategy=rolling(partition=1), podManagementPolicy="Parallel")
    pods = [pod(0, revision=OLD), pod(1), pod(2, "running")]
    plan = sp.plan(set_, pods, OLD, NEW, 1, NOW)
    assert plan.status == {
        "observedGeneration": 2,
        "replicas": 3,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "currentReplicas": 1,
        "updatedReplicas": 2,
        "currentRevision": OLD,
        "updateRevision": NEW,
        "collisionCount": 1,
    }
    done = sp.plan(sts(2, updateStrategy=rolling()), [pod(0), pod(1)], OLD, NEW, 0, NOW)
    assert done.status["currentRevision"] == NEW
    assert done.status["currentReplicas"] == 2


def test_status_changed_ignores_equal_and_defaults():
    status = decide(sts(1), [pod(0)]).status
    assert not sp.status_changed(status, dict(status))
    assert sp.status_changed({**status, "readyReplicas": 0}, status)
    assert sp.status_changed(None, status)
    zero = {"observedGeneration": 0, "replicas": 0, "readyReplicas": 0, "availableReplicas": 0}
    assert not sp.status_changed(
        {}, {**zero, "currentReplicas": 0, "updatedReplicas": 0, "collisionCount": 0}
    )


def test_rolling_delete_lowers_current_replicas_in_status():
    set_ = sts(2, updateStrategy=rolling())
    plan = sp.plan(set_, [pod(0, revision=OLD), pod(1, revision=OLD)], OLD, NEW, 0, NOW)
    assert deletes(plan) == ["web-1"]
    assert plan.status["currentReplicas"] == 1


# --- revisions ------------------------------------------------------------------------------------


def test_revision_hash_is_stable_short_and_template_sensitive():
    a = sp.revision_data(sts())
    reordered = sts()
    reordered["spec"]["template"] = dict(reversed(list(reordered["spec"]["template"].items())))
    assert sp.revision_hash(a, 0) == sp.revision_hash(sp.revision_data(reordered), 0)
    assert len(sp.revision_hash(a, 0)) <= 10
    assert sp.revision_hash(a, 0) != sp.revision_hash(a, 1)
    changed = sts()
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "j"
    assert sp.revision_hash(sp.revision_data(changed), 0) != sp.revision_hash(a, 0)
    # replicas and other spec fields are not part of the revision
    assert sp.revision_data(sts(7)) == a


def test_new_revision_object():
    rev = sp.new_revision(sts(), 3, 0)
    hash_ = rev["metadata"]["labels"][sp.REVISION_HASH_LABEL]
    assert rev["metadata"]["name"] == f"web-{hash_}"
    assert rev["metadata"]["labels"]["app"] == "web"
    assert rev["revision"] == 3
    assert rev["data"]["spec"]["template"]["$patch"] == "replace"
    assert rev["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": "web",
            "uid": "set-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert sp.template_of(rev["data"]) == sts()["spec"]["template"]


def test_choose_update_revision():
    first = sp.new_revision(sts(), 1, 0)
    assert sp.choose_update_revision(sts(), [], 0).action == "create"
    assert sp.choose_update_revision(sts(), [first], 0).action == "reuse"
    changed = sts()
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "j"
    second = sp.new_revision(changed, 2, 0)
    # rolling back to the first template renumbers the old revision instead of creating a new one
    choice = sp.choose_update_revision(sts(), [first, second], 0)
    assert (choice.action, choice.revision["metadata"]["name"], choice.next_number) == (
        "renumber",
        first["metadata"]["name"],
        3,
    )


def test_stale_revisions_keep_live_and_history_limit():
    revisions = [{"metadata": {"name": f"r{i}"}, "revision": i} for i in range(1, 6)]
    set_ = sts(1, revisionHistoryLimit=1)
    stale = sp.stale_revisions(set_, revisions, [pod(0, revision="r2")], ["r5"])
    # unused: r1, r3, r4 -> keep the newest one (r4)
    assert stale == ["r1", "r3"]
    assert sp.stale_revisions(sts(1), revisions, [], ["r5"]) == []


# --- pods and claims ------------------------------------------------------------------------------


CLAIM_TEMPLATE = {
    "metadata": {"name": "data", "labels": {"tier": "db"}},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
}


def test_new_pod_identity_owner_and_claim_volumes():
    set_ = sts(volumeClaimTemplates=[CLAIM_TEMPLATE])
    set_["spec"]["template"]["spec"]["volumes"] = [
        {"name": "data", "emptyDir": {}},
        {"name": "cfg", "emptyDir": {}},
    ]
    p = sp.new_pod(set_, set_["spec"]["template"], NEW, 4)
    assert p["metadata"]["name"] == "web-4"
    assert p["metadata"]["labels"] == {
        "app": "web",
        sp.POD_NAME_LABEL: "web-4",
        sp.POD_INDEX_LABEL: "4",
        sp.REVISION_LABEL: NEW,
    }
    assert p["spec"]["hostname"] == "web-4"
    assert p["spec"]["subdomain"] == "web-svc"
    assert p["metadata"]["ownerReferences"][0]["controller"] is True
    assert p["spec"]["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-4"}},
        {"name": "cfg", "emptyDir": {}},
    ]


def test_new_claims_names_labels_and_owner_by_policy():
    set_ = sts(volumeClaimTemplates=[CLAIM_TEMPLATE])
    (claim,) = sp.new_claims(set_, 2, None)
    assert claim["metadata"]["name"] == "data-web-2"
    assert claim["metadata"]["labels"] == {"tier": "db", "app": "web"}
    assert "ownerReferences" not in claim["metadata"]
    deleting = sts(
        volumeClaimTemplates=[CLAIM_TEMPLATE], persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete"}
    )
    (owned,) = sp.new_claims(deleting, 2, None)
    assert [r["uid"] for r in owned["metadata"]["ownerReferences"]] == ["set-uid"]


@pytest.mark.parametrize(
    ("when_deleted", "when_scaled", "condemned", "owners"),
    [
        ("Retain", "Retain", False, []),
        ("Retain", "Retain", True, []),
        ("Delete", "Retain", False, ["set-uid"]),
        ("Delete", "Retain", True, ["set-uid"]),
        ("Retain", "Delete", False, []),
        ("Retain", "Delete", True, ["pod-3"]),
        ("Delete", "Delete", False, ["set-uid"]),
        ("Delete", "Delete", True, ["pod-3"]),
    ],
)
def test_claim_owner_references(when_deleted, when_scaled, condemned, owners):
    policy = {"whenDeleted": when_deleted, "whenScaled": when_scaled}
    set_ = sts(persistentVolumeClaimRetentionPolicy=policy)
    claim = {"metadata": {"name": "data-web-3", "ownerReferences": [{"uid": "someone-else", "name": "x"}]}}
    refs = sp.claim_owner_references(set_, pod(3), claim, condemned=condemned)
    assert [r["uid"] for r in refs] == ["someone-else", *owners]


@pytest.mark.parametrize(
    ("value", "total", "round_up", "expected"),
    [
        (None, 10, True, 1),
        (3, 10, True, 3),
        ("25%", 10, True, 3),
        ("25%", 10, False, 2),
        ("100%", 7, True, 7),
    ],
)
def test_scaled_value(value, total, round_up, expected):
    assert sp.scaled_value(value, total, round_up=round_up, default=1) == expected


def test_ordinal_of():
    assert sp.ordinal_of("web-12") == ("web", 12)
    assert sp.ordinal_of("my-set-0-3") == ("my-set-0", 3)
    assert sp.ordinal_of("nothing") == ("", -1)
