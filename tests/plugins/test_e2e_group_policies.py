"""Startup and restart policies from plugins, end to end on the embedded cluster with the operator.

``leader_address`` (``startupPolicy: LeaderResolvable``) and ``restart_policies`` (``RecreateGroupAfterStart``,
``None``). ``LeaderReady``, ``RecreateGroupOnPodRestart`` and the ``restart_budget`` plugin (backoff, then
``GroupFailed`` naming the group in ``status.groupRestarts``) are proven in ``tests/operator/test_e2e_restart.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from lws_builtins.leader_address import INIT_CONTAINER_NAME

from lws.api import constants as c
from lws.cluster.resources import LEADERWORKERSETS, PODS, SERVICES
from lws.sim.testing import wait_until
from tests.operator.e2e_kit import IMAGE, Obj, make_lws, pod_ready
from tests.plugins.plugin_cluster import PluginCluster, env_map

pytestmark = pytest.mark.e2e


def _uid(obj: Obj | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("uid", ""))


def _restarts(pod: Obj | None) -> int:
    statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses)


def _recreations(env: PluginCluster, ns: str, set_name: str) -> list[Obj]:
    return [e for e in env.events(ns, c.EVENT_RECREATE_GROUP) if e["regarding"]["name"] == set_name]


def _restart_and_wait(env: PluginCluster, ns: str, pod_name: str) -> Obj:
    """Kill the first container of a pod; return the pod once its status shows the restart."""
    before = _restarts(env.kube.get(PODS, ns, pod_name))
    env.cluster.faults.restart_container(ns, pod_name)
    restarted: Obj = wait_until(
        lambda: (p := env.kube.get(PODS, ns, pod_name)) and _restarts(p) > before and p,
        what=f"pod {pod_name} to report its container restart",
    )
    return restarted


def _with_restart_policy(body: Obj, policy: str) -> Obj:
    body["spec"]["leaderWorkerTemplate"]["restartPolicy"] = policy
    return body


# --- leader_address ----------------------------------------------------------------------------------------


def test_leader_resolvable_workers_wait_for_the_leader_first_and_the_group_becomes_ready(
    default_plugins: PluginCluster, ns: str
) -> None:
    env, kube = default_plugins, default_plugins.kube
    body = make_lws("resolv", replicas=1, size=3, startupPolicy="LeaderResolvable")
    worker_spec: dict[str, Any] = body["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]
    worker_spec["initContainers"] = [{"name": "fetch-weights", "image": IMAGE}]
    kube.create(LEADERWORKERSETS, ns, body)
    kube.wait_available(ns, "resolv")

    leader, *workers = env.pods(ns, "resolv")
    address = f"{leader['spec']['hostname']}.{leader['spec']['subdomain']}.{ns}"
    assert [p["metadata"]["name"] for p in workers] == ["resolv-0-1", "resolv-0-2"]
    assert [x["name"] for x in leader["spec"].get("initContainers") or []] == ["fetch-weights"]
    for worker in workers:
        init = worker["spec"]["initContainers"]
        assert [x["name"] for x in init] == [INIT_CONTAINER_NAME, "fetch-weights"], "the wait comes first"
        waiter = init[0]
        assert waiter["command"][:2] == ["sh", "-c"] and waiter["image"] == "busybox:1.37"
        assert env_map(waiter)["LWS_LEADER_ADDRESS"] == address, "it waits for this leader's DNS name"
        assert env_map(waiter)["LWS_WAIT_TIMEOUT_SECONDS"] == "600"
        ran = worker["status"]["initContainerStatuses"]
        assert [s["name"] for s in ran] == [INIT_CONTAINER_NAME, "fetch-weights"]
        assert all(s["state"]["terminated"]["exitCode"] == 0 for s in ran), ran
        assert pod_ready(worker)

    # The name resolves as soon as the leader has an IP: the headless Service publishes not-ready addresses.
    service = kube.get(SERVICES, ns, leader["spec"]["subdomain"])
    assert service is not None and service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["clusterIP"] == "None"
    assert all(leader["metadata"]["labels"][k] == v for k, v in service["spec"]["selector"].items())


# --- restart_policies -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "recreated"),
    [("RecreateGroupAfterStart", False), ("RecreateGroupOnPodRestart", True)],
)
def test_a_restart_while_the_group_is_still_starting_recreates_it_only_without_after_start(
    default_plugins: PluginCluster, ns: str, policy: str, recreated: bool
) -> None:
    env, kube = default_plugins, default_plugins.kube
    # The worker cannot be scheduled (no node has the label), so the group stays "starting": a pod Pending.
    body = _with_restart_policy(make_lws("slow", replicas=1, size=2), policy)
    template = body["spec"]["leaderWorkerTemplate"]
    template["leaderTemplate"] = {"spec": {"containers": [{"name": "leader", "image": IMAGE}]}}
    template["workerTemplate"]["spec"]["nodeSelector"] = {"e2e.lws.x-k8s.io/never": "true"}
    kube.create(LEADERWORKERSETS, ns, body)
    leader: Obj = wait_until(
        lambda: (p := kube.get(PODS, ns, "slow-0")) and pod_ready(p) and p, what="the leader to be Ready"
    )
    worker: Obj = wait_until(
        lambda: (p := kube.get(PODS, ns, "slow-0-1")) and p["status"].get("conditions") and p,
        what="the worker to be found unschedulable",
    )
    assert worker["status"]["phase"] == "Pending" and not worker["spec"].get("nodeName")

    restarted = _restart_and_wait(env, ns, "slow-0")
    if recreated:
        wait_until(lambda: _uid(kube.get(PODS, ns, "slow-0")) not in ("", _uid(leader)), what="a new leader")
        (event,) = _recreations(env, ns, "slow")
        assert event["note"] == "Worker pod slow-0 failed, deleted leader pod slow-0 to recreate group 0"
        return
    env.settle(restarted)
    assert _uid(kube.get(PODS, ns, "slow-0")) == _uid(leader), "the starting group was left alone"
    assert _uid(kube.get(PODS, ns, "slow-0-1")) == _uid(worker)
    assert _recreations(env, ns, "slow") == []
    assert not (kube.lws(ns, "slow") or {}).get("status", {}).get("groupRestarts")


def test_recreate_group_after_start_recreates_a_group_that_has_started(
    default_plugins: PluginCluster, ns: str
) -> None:
    env, kube = default_plugins, default_plugins.kube
    kube.create(
        LEADERWORKERSETS, ns, _with_restart_policy(make_lws("started", size=2), "RecreateGroupAfterStart")
    )
    kube.wait_available(ns, "started")
    leaders = {p["metadata"]["name"]: _uid(p) for p in env.pods(ns, "started", role="leader")}

    env.cluster.faults.restart_container(ns, "started-1-1")
    wait_until(
        lambda: _uid(kube.get(PODS, ns, "started-1")) not in ("", leaders["started-1"]),
        what="group 1 to get a new leader",
    )
    recovered = kube.wait_available(ns, "started")
    (event,) = _recreations(env, ns, "started")
    assert event["note"] == "Worker pod started-1-1 failed, deleted leader pod started-1 to recreate group 1"
    assert _uid(kube.get(PODS, ns, "started-0")) == leaders["started-0"], "the other group was left alone"
    assert [(e["index"], e["count"]) for e in recovered["status"]["groupRestarts"]] == [(1, 1)]


def test_restart_policy_none_leaves_the_group_alone_when_a_worker_restarts(
    default_plugins: PluginCluster, ns: str
) -> None:
    env, kube = default_plugins, default_plugins.kube
    kube.create(LEADERWORKERSETS, ns, _with_restart_policy(make_lws("steady", replicas=1, size=3), "None"))
    kube.wait_available(ns, "steady")
    before = {p["metadata"]["name"]: _uid(p) for p in env.pods(ns, "steady")}

    restarted = _restart_and_wait(env, ns, "steady-0-2")
    env.settle(restarted)
    wait_until(lambda: pod_ready(kube.get(PODS, ns, "steady-0-2") or {}), what="the worker to be Ready again")

    after = {p["metadata"]["name"]: _uid(p) for p in env.pods(ns, "steady")}
    assert after == before, "every pod is the same pod: the worker restarted in place"
    assert _restarts(kube.get(PODS, ns, "steady-0-2")) == 1
    assert _recreations(env, ns, "steady") == []
    assert not (kube.lws(ns, "steady") or {}).get("status", {}).get("groupRestarts")
