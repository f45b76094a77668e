"""``groupIdentity: Hash`` and ``groupReplacementPolicy`` on the embedded cluster, with the live operator.

A Hash set's leaders come from a Deployment; each gets a random group key, a host name made of it, the
``group-ready`` readiness gate (True once its workers are ready) and the ``group-replacement`` scheduling
gate, which the operator lifts: at once with ``Immediate``, and with ``PostTermination`` only once no group
is still being torn down. A worker pod held by a finalizer keeps its group in teardown.
"""

from __future__ import annotations

from typing import Any

import pytest
from e2e_kit import OTHER_IMAGE, Kube, available, env_of, labels, make_lws, pod_ready, rolled_out
from operator_harness import E2E

from lws.api import constants as c
from lws.cluster.resources import DEPLOYMENTS, EVENTS, LEADERWORKERSETS, PODS, SERVICES, STATEFULSETS
from lws.sim.testing import wait_until

pytestmark = pytest.mark.e2e

HOLD = "example.com/hold"


def _live(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objs if not o["metadata"].get("deletionTimestamp")]


def _leaders(kube: Kube, ns: str, name: str) -> list[dict[str, Any]]:
    return _live(kube.list(PODS, ns, f"{c.SET_NAME_LABEL}={name},{c.WORKER_INDEX_LABEL}=0"))


def _gated(pod: dict[str, Any]) -> bool:
    return any(g.get("name") == c.GROUP_REPLACEMENT_GATE for g in pod["spec"].get("schedulingGates") or [])


def _group_ready(pod: dict[str, Any]) -> str | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition["type"] == c.GROUP_READY_CONDITION:
            return str(condition["status"])
    return None


def _worker(kube: Kube, ns: str, leader: dict[str, Any]) -> dict[str, Any] | None:
    return kube.get(PODS, ns, f"{leader['metadata']['name']}-1")


def test_hash_leaders_come_from_a_deployment_with_keys_host_names_and_gates(kube: Kube, ns: str) -> None:
    kube.create(LEADERWORKERSETS, ns, make_lws("hashed", replicas=2, size=2, groupIdentity="Hash"))
    kube.wait_available(ns, "hashed")

    deployment = kube.get(DEPLOYMENTS, ns, "hashed")
    assert deployment is not None
    assert deployment["metadata"]["labels"][c.ROLE_LABEL] == c.ROLE_LEADER
    assert deployment["spec"]["replicas"] == 2
    assert c.ROLE_LABEL not in deployment["spec"]["template"]["metadata"]["labels"], "upstream #1016"
    assert kube.get(STATEFULSETS, ns, "hashed") is None, "no leader StatefulSet with Hash"

    leaders = _leaders(kube, ns, "hashed")
    assert len(leaders) == 2
    keys = {labels(p)[c.GROUP_INDEX_LABEL] for p in leaders}
    assert len(keys) == 2 and all(len(k) == 40 for k in keys), keys
    for leader in leaders:
        key = labels(leader)[c.GROUP_INDEX_LABEL]
        assert labels(leader)[c.GROUP_UNIQUE_HASH_LABEL] == key
        assert leader["spec"]["hostname"] == f"hashed-{key[:8]}"
        assert leader["spec"]["subdomain"] == "hashed"
        assert not _gated(leader), "nothing was being torn down: the gate is lifted at once"
        assert {"conditionType": c.GROUP_READY_CONDITION} in leader["spec"]["readinessGates"]
        assert _group_ready(leader) == "True" and pod_ready(leader)

        workers = kube.get(STATEFULSETS, ns, leader["metadata"]["name"])
        assert workers is not None and workers["metadata"]["labels"][c.ROLE_LABEL] == c.ROLE_WORKER
        assert workers["metadata"]["ownerReferences"][0]["uid"] == leader["metadata"]["uid"]
        worker = _worker(kube, ns, leader)
        assert worker is not None and labels(worker)[c.GROUP_INDEX_LABEL] == key
        address = {e["name"]: e.get("value") for e in env_of(worker)}[c.LWS_LEADER_ADDRESS]
        assert address == f"hashed-{key[:8]}.hashed.{ns}"

    status = kube.wait_available(ns, "hashed")["status"]
    assert (status["replicas"], status["readyReplicas"]) == (2, 2)


def _held_teardown(kube: Kube, ns: str, name: str, policy: str) -> tuple[dict[str, Any], str]:
    """A one-group Hash set whose only group is deleted while a finalizer holds its worker: the old group's
    key and the replacement leader (which the Deployment creates at once)."""
    spec = {"groupIdentity": "Hash", "groupReplacementPolicy": policy}
    # restartPolicy None: the held worker's deletion is no reason to recreate anything.
    body = make_lws(name, replicas=1, size=2, **spec)
    body["spec"]["leaderWorkerTemplate"]["restartPolicy"] = "None"
    kube.create(LEADERWORKERSETS, ns, body)
    kube.wait_available(ns, name)
    [old] = _leaders(kube, ns, name)
    old_key = labels(old)[c.GROUP_INDEX_LABEL]
    worker_name = f"{old['metadata']['name']}-1"
    kube.patch(PODS, ns, worker_name, {"metadata": {"finalizers": [HOLD]}})
    kube.delete(PODS, ns, old["metadata"]["name"])
    new = wait_until(
        lambda: next(
            (p for p in _leaders(kube, ns, name) if labels(p)[c.GROUP_INDEX_LABEL] != old_key), None
        ),
        what="the Deployment's replacement leader",
    )
    wait_until(
        lambda: (kube.get(PODS, ns, worker_name) or {}).get("metadata", {}).get("deletionTimestamp"),
        what="the old group's worker to be deleted (garbage collection), held by its finalizer",
    )
    return new, worker_name


def _release(kube: Kube, ns: str, worker_name: str) -> None:
    kube.patch(PODS, ns, worker_name, {"metadata": {"finalizers": None}})


def test_post_termination_holds_the_replacement_until_the_old_group_is_gone(kube: Kube, ns: str) -> None:
    new, held = _held_teardown(kube, ns, "post", "PostTermination")
    new_name = new["metadata"]["name"]

    def deferred() -> bool:
        return any(
            e.get("reason") == "GroupReplacementDeferred" and new_name in e.get("note", "")
            for e in kube.list(EVENTS, ns)
        )

    wait_until(deferred, what="the operator to decide that the replacement waits")
    leader = kube.get(PODS, ns, new_name)
    assert leader is not None and _gated(leader), "scheduled while the old group still held its capacity"
    assert not leader["spec"].get("nodeName")
    assert kube.get(STATEFULSETS, ns, new_name) is None, "no workers for a gated leader"
    # The set's status is its own reconcile's (spaced by the operator's set interval), not the group's:
    # until it reports the missing group, its Available of before the teardown would pass the wait below.
    kube.wait_lws(
        ns,
        "post",
        lambda lws: not available(lws) and (lws.get("status") or {}).get("readyReplicas") == 0,
        what="the set to report its group missing while the replacement waits",
    )

    _release(kube, ns, held)
    kube.wait_available(ns, "post")
    leader = kube.get(PODS, ns, new_name)
    assert leader is not None and not _gated(leader) and leader["spec"].get("nodeName")
    assert _group_ready(leader) == "True"


def test_immediate_lets_the_replacement_schedule_at_once(kube: Kube, ns: str) -> None:
    new, held = _held_teardown(kube, ns, "immediate", "Immediate")
    new_name = new["metadata"]["name"]
    wait_until(
        lambda: not _gated(kube.get(PODS, ns, new_name) or new),
        what="the gate to be lifted while the old group holds",
    )
    assert (kube.get(PODS, ns, held) or {}).get("metadata", {}).get("deletionTimestamp"), (
        "old group still there"
    )
    kube.wait_available(ns, "immediate")
    _release(kube, ns, held)


@pytest.mark.sim_only
def test_scale_down_removes_the_unready_group_first(e2e: E2E, kube: Kube, ns: str) -> None:
    # The group-ready readiness gate makes a leader unready while its workers are: the ReplicaSet then
    # picks it first on a scale-down (upstream #898), where an ordinal set would remove the highest index.
    assert e2e.cluster is not None
    body = make_lws("order", replicas=3, size=2, groupIdentity="Hash")
    body["spec"]["leaderWorkerTemplate"]["restartPolicy"] = "None"  # the crashing worker recreates nothing
    kube.create(LEADERWORKERSETS, ns, body)
    kube.wait_available(ns, "order")
    leaders = sorted(_leaders(kube, ns, "order"), key=lambda p: p["metadata"]["creationTimestamp"])
    victim = leaders[1]["metadata"]["name"]  # neither the newest nor the oldest
    e2e.cluster.faults.crash_loop(ns, f"{victim}-1")
    wait_until(
        lambda: _group_ready(kube.get(PODS, ns, victim) or {}) == "False",
        what="the crashing worker's group to be reported not ready on its leader",
    )
    wait_until(lambda: not pod_ready(kube.get(PODS, ns, victim) or {}), what="the leader to be unready")

    kube.patch(LEADERWORKERSETS, ns, "order", {"spec": {"replicas": 2}})
    wait_until(
        lambda: (
            {p["metadata"]["name"] for p in _leaders(kube, ns, "order")}
            == {leaders[0]["metadata"]["name"], leaders[2]["metadata"]["name"]}
        ),
        what="the unready group to be the one removed",
    )
    # The last change is counts only (status.replicas 3 to 2, Available already True), within the status
    # interval of the last write: held back, it must land when due (a Hash set's reconcile once dropped it).
    kube.wait_available(ns, "order")


def test_leader_ready_startup_waits_for_the_leaders_containers_not_its_group(kube: Kube, ns: str) -> None:
    # The leader's Ready waits for group-ready, which waits for the workers: LeaderReady must look at the
    # leader's containers, or no group would ever start (upstream does the same).
    kube.create(
        LEADERWORKERSETS,
        ns,
        make_lws("ready", replicas=1, size=2, groupIdentity="Hash", startupPolicy="LeaderReady"),
    )
    kube.wait_available(ns, "ready")


@pytest.mark.sim_only
def test_a_worker_restart_replaces_the_group_with_a_new_key(e2e: E2E, kube: Kube, ns: str) -> None:
    # RecreateGroupOnPodRestart deletes the leader; the Deployment makes a new leader, a new group with a
    # new key, gated until the old group's pods are gone (PostTermination), then built as any other.
    assert e2e.cluster is not None
    kube.create(LEADERWORKERSETS, ns, make_lws("restart", replicas=1, size=2, groupIdentity="Hash"))
    kube.wait_available(ns, "restart")
    [old] = _leaders(kube, ns, "restart")
    old_key = labels(old)[c.GROUP_INDEX_LABEL]
    e2e.cluster.faults.restart_container(ns, f"{old['metadata']['name']}-1")
    new = wait_until(
        lambda: next(
            (
                p
                for p in _leaders(kube, ns, "restart")
                if labels(p)[c.GROUP_INDEX_LABEL] != old_key and _group_ready(p) == "True"
            ),
            None,
        ),
        what="a new group, ready",
    )
    wait_until(
        lambda: not kube.list(PODS, ns, f"{c.GROUP_INDEX_LABEL}={old_key}"), what="the old group's pods to go"
    )
    assert kube.get(STATEFULSETS, ns, new["metadata"]["name"]) is not None
    kube.wait_available(ns, "restart")


def _restart_entries(kube: Kube, ns: str, name: str) -> list[dict[str, Any]]:
    return list(((kube.lws(ns, name) or {}).get("status") or {}).get("groupRestarts") or [])


def test_hash_group_restarts_are_counted_and_follow_the_group_to_its_new_key(kube: Kube, ns: str) -> None:
    # The same bookkeeping as an ordinal group's (status.groupRestarts, the restart budget): the count is
    # written under the failed group's key, and the Deployment's replacement, under a new key, takes it
    # over, so its own failure counts on from it. A budget of one recreation makes that visible: the
    # replacement's failure finds the budget spent and marks it failed instead of recreating it again.
    budget = {
        "restart.lws.x-k8s.io/max-group-restarts": "1",
        "restart.lws.x-k8s.io/backoff-seconds": "0",
        "restart.lws.x-k8s.io/reset-after-seconds": "0",
    }
    body = make_lws("counted", replicas=2, size=2, groupIdentity="Hash", annotations=budget)
    kube.create(LEADERWORKERSETS, ns, body)
    kube.wait_available(ns, "counted")
    victim, other = _leaders(kube, ns, "counted")
    old_key = labels(victim)[c.GROUP_INDEX_LABEL]
    assert not _restart_entries(kube, ns, "counted")

    kube.delete(PODS, ns, f"{victim['metadata']['name']}-1")

    def inherited() -> dict[str, Any] | None:
        entries = _restart_entries(kube, ns, "counted")
        live = {labels(p)[c.GROUP_INDEX_LABEL] for p in _leaders(kube, ns, "counted")}
        if len(entries) == 1 and entries[0].get("key") in live - {
            old_key,
            labels(other)[c.GROUP_INDEX_LABEL],
        }:
            return entries[0]
        return None

    entry = wait_until(inherited, what="the recreation counted and handed to the replacement group")
    assert entry["count"] == 1 and entry["index"] == 0 and "recreatingLeaderUID" not in entry, entry
    heir_key = entry["key"]
    kube.wait_available(ns, "counted")
    [heir] = [p for p in _leaders(kube, ns, "counted") if labels(p)[c.GROUP_INDEX_LABEL] == heir_key]

    heir_worker = f"{heir['metadata']['name']}-1"
    wait_until(
        lambda: pod_ready(kube.get(PODS, ns, heir_worker) or {}), what="the replacement's worker, ready"
    )
    kube.delete(PODS, ns, heir_worker)
    failed = wait_until(
        lambda: next((e for e in _restart_entries(kube, ns, "counted") if e.get("state") == "Failed"), None),
        what="the replacement's failure to find the budget spent",
    )
    assert failed["key"] == heir_key and failed["count"] == 1, failed
    assert "max-group-restarts=1" in failed["message"]
    assert (kube.get(PODS, ns, heir["metadata"]["name"]) or {}).get("metadata", {}).get("uid") == heir[
        "metadata"
    ]["uid"], "a failed group is left as it is"
    [group_failed] = [e for e in kube.list(EVENTS, ns) if e.get("reason") == c.EVENT_GROUP_FAILED]
    assert group_failed["note"].startswith(f"group {heir_key} failed: group {heir_key} of LeaderWorkerSet")
    recreated = [e for e in kube.list(EVENTS, ns) if e.get("reason") == c.EVENT_RECREATE_GROUP]
    assert len(recreated) == 1 and old_key in recreated[0]["note"], recreated
    assert [e.get("key") for e in _restart_entries(kube, ns, "counted")] == [heir_key], (
        "the other group never failed"
    )


def test_a_template_change_rolls_every_group_through_the_deployment(kube: Kube, ns: str) -> None:
    # The Deployment replaces leaders (maxUnavailable 1, maxSurge 0), each new one a new group, gated until
    # the group it replaces is gone (PostTermination); the status counts groups on the new revision.
    kube.create(LEADERWORKERSETS, ns, make_lws("roll", replicas=3, size=2, groupIdentity="Hash"))
    kube.wait_available(ns, "roll")
    before = {labels(p)[c.GROUP_INDEX_LABEL] for p in _leaders(kube, ns, "roll")}
    old_revision = labels(_leaders(kube, ns, "roll")[0])[c.REVISION_KEY]
    patch = {
        "spec": {
            "leaderWorkerTemplate": {
                "workerTemplate": {"spec": {"containers": [{"name": "app", "image": OTHER_IMAGE}]}}
            }
        }
    }
    kube.patch(LEADERWORKERSETS, ns, "roll", patch)
    kube.wait_lws(ns, "roll", rolled_out(updated=3, ready=3), timeout=60)
    kube.wait_available(ns, "roll", timeout=60)
    leaders = _leaders(kube, ns, "roll")
    assert len(leaders) == 3
    assert not before & {labels(p)[c.GROUP_INDEX_LABEL] for p in leaders}, "every group is a new one"
    for leader in leaders:
        assert labels(leader)[c.REVISION_KEY] != old_revision
        worker = _worker(kube, ns, leader)
        assert worker is not None and worker["spec"]["containers"][0]["image"] == OTHER_IMAGE
    deployment = kube.get(DEPLOYMENTS, ns, "roll")
    assert deployment is not None and deployment["metadata"]["labels"][c.REVISION_KEY] != old_revision


def test_unique_per_replica_gives_each_hash_group_a_service_named_after_its_leaders_host(
    kube: Kube, ns: str
) -> None:
    body = make_lws(
        "uniqh",
        replicas=2,
        size=2,
        groupIdentity="Hash",
        networkConfig={"subdomainPolicy": "UniquePerReplica"},
    )
    kube.create(LEADERWORKERSETS, ns, body)
    kube.wait_available(ns, "uniqh")
    assert kube.get(SERVICES, ns, "uniqh") is None, "no shared Service with UniquePerReplica"
    for leader in _leaders(kube, ns, "uniqh"):
        key = labels(leader)[c.GROUP_INDEX_LABEL]
        host = f"uniqh-{key[:8]}"
        assert (leader["spec"]["hostname"], leader["spec"]["subdomain"]) == (host, host)
        service = kube.get(SERVICES, ns, host)
        assert service is not None
        assert service["spec"]["selector"] == {c.SET_NAME_LABEL: "uniqh", c.GROUP_INDEX_LABEL: key}
        assert service["metadata"]["ownerReferences"][0]["uid"] == leader["metadata"]["uid"]
        worker = _worker(kube, ns, leader)
        assert worker is not None and worker["spec"]["subdomain"] == host
        address = {e["name"]: e.get("value") for e in env_of(worker)}[c.LWS_LEADER_ADDRESS]
        assert address == f"{host}.{host}.{ns}"
