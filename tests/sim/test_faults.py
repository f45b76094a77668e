"""Pod and node faults (lws.sim.faults) and how the cluster reacts to them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from controller_kit import (
    FAST,
    NODES,
    PODS,
    STATEFULSETS,
    Objects,
    Watcher,
    all_ready,
    is_ready,
    pods_of,
    running_cluster,
    statefulset,
    wait_for,
)

from lws.sim.faults import FaultError, Faults
from lws.sim.topology import NodeTiming


def ready_of(pod: dict[str, Any]) -> bool:
    return is_ready(pod)


def restarted(pod: dict[str, Any]) -> bool:
    return bool(pod["status"]["containerStatuses"][0]["restartCount"] == 1)


async def test_restart_container_dips_ready_and_counts_the_restart():
    async with running_cluster(timing=NodeTiming(ready_delay=0.01)) as sim:
        faults = Faults(sim.controllers)
        await sim.api.create(STATEFULSETS, "default", statefulset("web", 1))
        before = await wait_for(sim.api, PODS, "default", all_ready("web", 1))
        readiness: list[bool] = []

        def record(objects: Objects) -> None:
            if "web-0" in objects:
                state = ready_of(objects["web-0"])
                if not readiness or readiness[-1] != state:
                    readiness.append(state)

        with Watcher(sim.api, PODS, "default", record) as watcher:
            summary = await faults.restart_container("default", "web-0")
            assert summary["container"] == "main"
            after = await watcher.until(lambda o: restarted(o["web-0"]) and ready_of(o["web-0"]))
        assert readiness == [True, False, True]
        status = after["web-0"]["status"]["containerStatuses"][0]
        assert status["lastState"]["terminated"]["exitCode"] == 137
        assert status["containerID"] != before["web-0"]["status"]["containerStatuses"][0]["containerID"]
        assert after["web-0"]["metadata"]["uid"] == before["web-0"]["metadata"]["uid"]


async def test_restart_is_observable_as_not_ready_even_with_zero_delays():
    async with running_cluster() as sim:
        faults = Faults(sim.controllers)
        await sim.api.create(STATEFULSETS, "default", statefulset("web", 1))
        await wait_for(sim.api, PODS, "default", all_ready("web", 1))
        readiness: list[bool] = []

        def record(objects: Objects) -> None:
            readiness.append(ready_of(objects["web-0"]))

        with Watcher(sim.api, PODS, "default", record) as watcher:
            await faults.restart_container("default", "web-0")
            await watcher.until(lambda o: restarted(o["web-0"]) and ready_of(o["web-0"]))
        assert readiness[0] is True
        assert False in readiness
        assert readiness[-1] is True


async def test_crash_pod_fails_it_and_the_statefulset_replaces_it():
    async with running_cluster() as sim:
        faults = Faults(sim.controllers)
        await sim.api.create(STATEFULSETS, "default", statefulset("web", 2))
        before = await wait_for(sim.api, PODS, "default", all_ready("web", 2))
        phases: list[str] = []

        def record(objects: Objects) -> None:
            if "web-1" in objects:
                phases.append(objects["web-1"]["status"].get("phase"))

        await faults.crash_pod("default", "web-1", reason="OOMKilled")
        await wait_for(
            sim.api,
            PODS,
            "default",
            lambda o: (
                all_ready("web", 2)(o) and o["web-1"]["metadata"]["uid"] != before["web-1"]["metadata"]["uid"]
            ),
            on_change=record,
        )
        assert "Failed" in phases


async def test_crash_loop_restarts_with_back_off():
    kubelet = replace(FAST, crash_after_seconds=0.01, backoff_base_seconds=0.01, backoff_max_seconds=0.04)
    async with running_cluster(kubelet=kubelet) as sim:
        faults = Faults(sim.controllers)
        await sim.api.create(STATEFULSETS, "default", statefulset("web", 1))
        await wait_for(sim.api, PODS, "default", all_ready("web", 1))
        states: set[str] = set()

        def record(objects: Objects) -> None:
            for s in objects["web-0"]["status"]["containerStatuses"]:
                states.update(s["state"])
                if "waiting" in s["state"]:
                    states.add(s["state"]["waiting"]["reason"])

        await faults.crash_loop("default", "web-0")
        await wait_for(
            sim.api,
            PODS,
            "default",
            lambda o: o["web-0"]["status"]["containerStatuses"][0]["restartCount"] >= 3,
            on_change=record,
        )
        assert "CrashLoopBackOff" in states
        await faults.crash_loop("default", "web-0", enabled=False)
        settled = await wait_for(sim.api, PODS, "default", lambda o: ready_of(o["web-0"]))
        assert settled["web-0"]["status"]["containerStatuses"][0]["restartCount"] >= 3


async def test_failed_node_taints_evicts_and_recovers():
    async with running_cluster("tiny") as sim:
        faults = Faults(sim.controllers)
        await sim.api.create(STATEFULSETS, "default", statefulset("web", 4, policy="Parallel"))
        before = await wait_for(sim.api, PODS, "default", all_ready("web", 4))
        victim = before["web-0"]["spec"]["nodeName"]
        on_victim = sorted(n for n, p in before.items() if p["spec"]["nodeName"] == victim)
        lost: set[str] = set()

        def record(objects: Objects) -> None:
            for name, pod in objects.items():
                if (pod.get("status") or {}).get("reason") == "NodeLost":
                    lost.add(name)

        summary = await faults.fail_node(victim)
        assert summary["pods"] == on_victim
        node = await sim.api.get(NODES, None, victim)
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["reason"]) == ("Unknown", "NodeStatusUnknown")
        assert {(t["key"], t["effect"]) for t in node["spec"]["taints"]} == {
            ("node.kubernetes.io/unreachable", "NoSchedule"),
            ("node.kubernetes.io/unreachable", "NoExecute"),
        }
        # after the eviction delay the pods are Failed (NodeLost) and replaced on healthy nodes
        after = await wait_for(
            sim.api,
            PODS,
            "default",
            lambda o: (
                all_ready("web", 4)(o)
                and all(p["spec"]["nodeName"] != victim for p in pods_of(o, "web").values())
            ),
            on_change=record,
            what="pods replaced away from the failed node",
        )
        assert lost == set(on_victim)
        assert all(p["spec"]["nodeName"] != victim for p in after.values())
        assert faults.failed_nodes() == [victim]

        await faults.recover_node(victim)
        node = await sim.api.get(NODES, None, victim)
        assert next(c for c in node["status"]["conditions"] if c["type"] == "Ready")["status"] == "True"
        assert not node["spec"].get("taints")
        # the node takes pods again
        pinned = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "pinned", "namespace": "default"},
            "spec": {
                "nodeSelector": {"kubernetes.io/hostname": victim},
                "containers": [{"name": "c", "image": "i"}],
            },
        }
        await sim.api.create(PODS, "default", pinned)
        await wait_for(sim.api, PODS, "default", lambda o: "pinned" in o and is_ready(o["pinned"]))


async def test_pods_on_a_node_that_recovers_in_time_become_ready_again():
    async with running_cluster("tiny", kubelet=replace(FAST, node_eviction_seconds=60)) as sim:
        faults = Faults(sim.controllers)
        await sim.api.create(STATEFULSETS, "default", statefulset("web", 1))
        before = await wait_for(sim.api, PODS, "default", all_ready("web", 1))
        node = before["web-0"]["spec"]["nodeName"]
        await faults.fail_node(node)
        await wait_for(sim.api, PODS, "default", lambda o: not ready_of(o["web-0"]))
        await faults.recover_node(node)
        after = await wait_for(sim.api, PODS, "default", lambda o: ready_of(o["web-0"]))
        assert after["web-0"]["metadata"]["uid"] == before["web-0"]["metadata"]["uid"]


async def test_fault_errors_name_what_is_wrong():
    async with running_cluster() as sim:
        faults = Faults(sim.controllers)
        with pytest.raises(FaultError, match="pod default/ghost does not exist"):
            await faults.restart_container("default", "ghost")
        with pytest.raises(FaultError, match="node 'ghost' does not exist"):
            await faults.fail_node("ghost")
        with pytest.raises(FaultError, match="has not failed"):
            await faults.recover_node("zone-a-node-0")
        with pytest.raises(FaultError, match="unknown fault 'explode'"):
            await faults.run("explode")
        await sim.api.create(STATEFULSETS, "default", statefulset("web", 1))
        await wait_for(sim.api, PODS, "default", all_ready("web", 1))
        with pytest.raises(FaultError, match="no container named 'sidecar'"):
            await faults.run("restart-container", namespace="default", pod="web-0", container="sidecar")
    with pytest.raises(FaultError, match="not running"):
        Faults(lambda: None).controllers  # noqa: B018
