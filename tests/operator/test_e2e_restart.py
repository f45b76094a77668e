"""Group restarts and startup: a failed pod recreates its whole group once; stale pods of an earlier
incarnation never kill the new leader; LeaderReady holds the workers back until the leader is Ready."""

from __future__ import annotations

import pytest
from e2e_kit import IMAGE, Kube, PodTimeline, labels, make_lws, pod_ready
from operator_harness import E2E

from lws.api import constants as c
from lws.cluster.resources import EVENTS, LEADERWORKERSETS, PODS, STATEFULSETS
from lws.sim.testing import wait_until

pytestmark = pytest.mark.e2e


def _events(kube: Kube, ns: str, reason: str) -> list[dict]:
    return [e for e in kube.list(EVENTS, ns) if e.get("reason") == reason]


def _uid(obj: dict | None) -> str:
    return str((obj or {}).get("metadata", {}).get("uid", ""))


@pytest.mark.parametrize(
    "failure",
    # Restarting a container is the embedded cluster's fault injection: that variant is sim_only.
    [pytest.param("container-restart", marks=pytest.mark.sim_only), "pod-deletion"],
)
def test_a_failed_worker_recreates_its_group_once(e2e: E2E, kube: Kube, ns: str, failure: str) -> None:
    kube.create(LEADERWORKERSETS, ns, make_lws("rec", replicas=2, size=3))
    kube.wait_available(ns, "rec")
    leader_before = kube.get(PODS, ns, "rec-1")
    other_group = kube.get(PODS, ns, "rec-0")

    with PodTimeline(kube, ns, "rec", size_of=lambda _rev: 3) as timeline:
        if failure == "container-restart":
            assert e2e.cluster is not None
            e2e.cluster.faults.restart_container(ns, "rec-1-2")
        else:
            kube.delete(PODS, ns, "rec-1-2")
        wait_until(
            lambda: _uid(kube.get(PODS, ns, "rec-1")) not in ("", _uid(leader_before)), what="a new leader"
        )
        recovered = kube.wait_available(ns, "rec")
        leader_after = kube.get(PODS, ns, "rec-1")
        if e2e.operator is not None:
            e2e.operator.settle(leader_after["metadata"]["resourceVersion"])

    leader_uids = {
        _uid(pod)
        for pod in timeline.pods.values()
        if labels(pod).get(c.GROUP_INDEX_LABEL) == "1" and labels(pod).get(c.WORKER_INDEX_LABEL) == "0"
    }
    assert _uid(kube.get(PODS, ns, "rec-1")) == _uid(leader_after), "the new leader was not recreated again"
    assert _uid(kube.get(PODS, ns, "rec-0")) == _uid(other_group), "the other group was left alone"
    recreated = _events(kube, ns, c.EVENT_RECREATE_GROUP)
    assert len(recreated) == 1 and not recreated[0].get("series"), recreated
    assert recreated[0]["note"] == "Worker pod rec-1-2 failed, deleted leader pod rec-1 to recreate group 1"
    assert recreated[0]["reportingController"] == c.REPORTING_CONTROLLER
    assert recreated[0]["regarding"]["kind"] == c.KIND and recreated[0]["related"]["name"] == "rec-1"
    assert _uid(leader_after) in leader_uids
    entries = recovered["status"].get("groupRestarts") or kube.lws(ns, "rec")["status"]["groupRestarts"]
    assert [(e["index"], e["count"]) for e in entries] == [(1, 1)]


@pytest.mark.sim_only
def test_a_stale_worker_of_an_earlier_group_does_not_kill_the_new_leader(
    e2e: E2E, kube: Kube, ns: str
) -> None:
    operator = e2e.require_operator()
    kube.create(LEADERWORKERSETS, ns, make_lws("stale", replicas=1, size=2))
    kube.wait_available(ns, "stale")
    leader = kube.get(PODS, ns, "stale-0")
    assert leader is not None
    # A worker of an earlier incarnation of group 0: same labels and revision, but its StatefulSet (the
    # uid it names) is gone. Garbage collection deletes it; the finalizer keeps it visible while it goes.
    stale = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "stale-0-7",
            "labels": {
                c.SET_NAME_LABEL: "stale",
                c.GROUP_INDEX_LABEL: "0",
                c.REVISION_KEY: labels(leader)[c.REVISION_KEY],
                c.GROUP_UNIQUE_HASH_LABEL: labels(leader)[c.GROUP_UNIQUE_HASH_LABEL],
            },
            "annotations": {c.SIZE_ANNOTATION: "2", c.LEADER_POD_NAME_ANNOTATION: "stale-0"},
            "finalizers": ["e2e.lws.x-k8s.io/hold"],
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "StatefulSet",
                    "name": "stale-0",
                    "uid": "00000000-0000-4000-8000-000000000000",
                    "controller": True,
                }
            ],
        },
        "spec": {"containers": [{"name": "app", "image": IMAGE}]},
    }
    kube.create(PODS, ns, stale)
    kube.delete(PODS, ns, "stale-0-7")
    deleting = wait_until(
        lambda: (p := kube.get(PODS, ns, "stale-0-7")) and p["metadata"].get("deletionTimestamp") and p,
        what="the stale worker to be deleting",
    )
    operator.settle(deleting["metadata"]["resourceVersion"])
    assert _uid(kube.get(PODS, ns, "stale-0")) == _uid(leader), "the leader survived the stale worker"
    assert not _events(kube, ns, c.EVENT_RECREATE_GROUP)
    kube.patch(PODS, ns, "stale-0-7", {"metadata": {"finalizers": None}})


def test_leader_ready_startup_holds_workers_until_the_leader_is_ready(e2e: E2E, kube: Kube, ns: str) -> None:
    gate = "e2e.lws.x-k8s.io/ready"
    lws = make_lws(
        "ready",
        replicas=1,
        size=3,
        startupPolicy="LeaderReady",
        leaderWorkerTemplate={
            "leaderTemplate": {
                "spec": {
                    "readinessGates": [{"conditionType": gate}],
                    "containers": [{"name": "leader", "image": IMAGE}],
                }
            }
        },
    )
    with PodTimeline(kube, ns, "ready", size_of=lambda _rev: 3) as timeline:
        kube.create(LEADERWORKERSETS, ns, lws)
        leader = wait_until(
            lambda: (
                (p := kube.get(PODS, ns, "ready-0"))
                and (p.get("status") or {}).get("phase") == "Running"
                and p
            ),
            what="the leader to run",
        )
        assert not pod_ready(leader)
        if e2e.operator is not None:
            e2e.operator.settle(leader["metadata"]["resourceVersion"])
            assert kube.get(STATEFULSETS, ns, "ready-0") is None, "no workers while the leader is not Ready"
        status = leader["status"]
        conditions = [*status.get("conditions", []), {"type": gate, "status": "True"}]
        kube.patch(PODS, ns, "ready-0", {"status": {"conditions": conditions}}, subresource="status")
        kube.wait_available(ns, "ready")

    moments = timeline.moments
    became_ready = next(i for i, pods in enumerate(moments) if pods.get("ready-0"))
    first_worker = next(i for i, pods in enumerate(moments) if any(n.startswith("ready-0-") for n in pods))
    assert first_worker > became_ready, "the first worker pod appeared only after the leader was Ready"


@pytest.mark.sim_only
def test_a_restart_budget_backs_off_then_marks_the_group_failed(e2e: E2E, kube: Kube, ns: str) -> None:
    """With the restart_budget plugin's settings: recreate, then wait out the backoff, then give up."""
    assert e2e.cluster is not None
    # A backoff far longer than the test: the second failure is held back however slow the machine is.
    budget = {
        "restart.lws.x-k8s.io/max-group-restarts": "2",
        "restart.lws.x-k8s.io/backoff-seconds": "600",
        "restart.lws.x-k8s.io/max-backoff-seconds": "600",
        "restart.lws.x-k8s.io/reset-after-seconds": "0",
    }
    kube.create(LEADERWORKERSETS, ns, make_lws("budget", replicas=1, size=2, annotations=budget))
    kube.wait_available(ns, "budget")

    def entry() -> dict:
        restarts = (kube.lws(ns, "budget") or {}).get("status", {}).get("groupRestarts") or [{}]
        return dict(restarts[0])

    def fail_worker_and_wait_for(predicate: object, what: str) -> dict:
        e2e.cluster.faults.restart_container(ns, "budget-0-1")  # type: ignore[union-attr]
        return wait_until(lambda: (e := entry()) and predicate(e) and e, timeout=20, what=what)  # type: ignore[operator]

    def group_rebuilt(previous_leader: str) -> str:
        """Wait for a new leader and a fresh worker (no restarts), both Ready; return the leader's uid."""

        def rebuilt() -> str | None:
            leader, worker = kube.get(PODS, ns, "budget-0"), kube.get(PODS, ns, "budget-0-1")
            if leader is None or worker is None or _uid(leader) == previous_leader:
                return None
            fresh = all(s.get("restartCount", 0) == 0 for s in worker["status"].get("containerStatuses", []))
            return _uid(leader) if pod_ready(leader) and pod_ready(worker) and fresh else None

        uid: str = wait_until(rebuilt, timeout=20, what="the group to be rebuilt")
        return uid

    leader = _uid(kube.get(PODS, ns, "budget-0"))
    first = fail_worker_and_wait_for(lambda e: e.get("count") == 1, "the first recreation")
    assert "state" not in first
    leader = group_rebuilt(leader)
    backoff = fail_worker_and_wait_for(
        lambda e: e.get("state") == "Backoff", "the second failure to be held back"
    )
    assert backoff["count"] == 1 and "backing off" in backoff["message"]
    assert _uid(kube.get(PODS, ns, "budget-0")) == leader, "held back: the group is not recreated yet"
    # Settings are read live: shortening the backoff lets the held-back recreation happen now.
    shorter = {"restart.lws.x-k8s.io/backoff-seconds": "1", "restart.lws.x-k8s.io/max-backoff-seconds": "1"}
    kube.patch(LEADERWORKERSETS, ns, "budget", {"metadata": {"annotations": shorter}})
    wait_until(lambda: entry().get("count") == 2, timeout=20, what="the recreation once the backoff is over")
    leader = group_rebuilt(leader)
    failed = fail_worker_and_wait_for(lambda e: e.get("state") == "Failed", "the group to be marked failed")
    assert (
        failed["count"] == 2
        and "the limit set by restart.lws.x-k8s.io/max-group-restarts=2" in failed["message"]
    )
    assert _uid(kube.get(PODS, ns, "budget-0")) == leader, "a failed group is left as it is"
    (group_failed,) = _events(kube, ns, c.EVENT_GROUP_FAILED)
    assert group_failed["type"] == "Warning" and group_failed["note"].startswith("group 0 failed: ")
    assert len(_events(kube, ns, c.EVENT_RECREATE_GROUP)) == 2
