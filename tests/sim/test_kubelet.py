"""Simulated kubelets: pod lifecycle, status shape, readiness gates, graceful deletion, IPs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from controller_kit import (
    FAST,
    NODES,
    PODS,
    ManualClock,
    Objects,
    Watcher,
    is_ready,
    running_cluster,
    wait_for,
)

from lws.sim.apiserver import MERGE_PATCH
from lws.sim.controllers import container_runtime as cr
from lws.sim.topology import NodeTiming


def bare_pod(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}], **spec},
    }


def condition(pod: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in pod["status"]["conditions"] if c["type"] == kind)


def snapshot(pod: dict[str, Any]) -> tuple[Any, ...]:
    status = pod.get("status") or {}
    states = tuple(next(iter(s["state"])) for s in status.get("containerStatuses") or [])
    inits = tuple(next(iter(s["state"])) for s in status.get("initContainerStatuses") or [])
    ready = next((c["status"] for c in status.get("conditions") or [] if c["type"] == "Ready"), None)
    return (status.get("phase"), inits, states, ready)


async def test_lifecycle_through_init_containers_start_and_readiness_delays():
    # The kubelet's clock moves only when the test moves it, so every step is reported on its own.
    clock = ManualClock()
    timing = NodeTiming(start_delay=0.02, init_delay=0.02, ready_delay=0.02)
    async with running_cluster(kubelet=replace(FAST, timing=timing, clock=clock)) as sim:
        seen: list[tuple[Any, ...]] = []

        def record(objects: Objects) -> None:
            if "p" in objects:
                state = snapshot(objects["p"])
                if not seen or seen[-1] != state:
                    seen.append(state)

        steps = [
            # created and bound: the kubelet's first report, before the start delay has passed
            ("Pending", ("waiting",), ("waiting",), "False"),
            # after the start delay: the init container runs
            ("Pending", ("running",), ("waiting",), "False"),
            # after the init delay: initialised, the main container runs, not ready yet
            ("Running", ("terminated",), ("running",), "False"),
            # after the readiness delay
            ("Running", ("terminated",), ("running",), "True"),
        ]
        with Watcher(sim.api, PODS, "default", on_change=record) as watcher:
            pod = bare_pod("p", initContainers=[{"name": "setup", "image": "busybox:1"}])
            await sim.api.create(PODS, "default", pod)
            for i, step in enumerate(steps):
                if i:
                    clock.advance(0.02)
                objects = await watcher.until(
                    lambda o, step=step: "p" in o and snapshot(o["p"]) == step, what=f"the pod to be {step}"
                )
        # created, bound, then exactly the kubelet's own reports, one per step
        assert [s for s in seen if s[1]] == steps

        status = objects["p"]["status"]
        node = await sim.api.get(NODES, None, objects["p"]["spec"]["nodeName"])
        assert status["hostIP"] == node["status"]["addresses"][0]["address"]
        assert status["podIP"].startswith(node["spec"]["podCIDR"].rsplit(".", 1)[0])
        assert status["podIPs"] == [{"ip": status["podIP"]}]
        assert status["startTime"]
        for kind in ("PodScheduled", "PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"):
            assert condition(objects["p"], kind)["status"] == "True"
        (main,) = status["containerStatuses"]
        assert main["name"] == "main" and main["image"] == "nginx:1.27"
        assert main["ready"] is True and main["started"] is True and main["restartCount"] == 0
        assert main["containerID"].startswith("containerd://")
        assert main["imageID"].startswith("nginx@sha256:")
        assert "startedAt" in main["state"]["running"]
        (init,) = status["initContainerStatuses"]
        assert init["state"]["terminated"]["reason"] == "Completed"
        assert init["state"]["terminated"]["exitCode"] == 0


async def test_zero_delay_goes_running_and_ready_in_one_status_write():
    async with running_cluster() as sim:
        phases: list[tuple[Any, ...]] = []

        def record(objects: Objects) -> None:
            if "p" in objects:
                phases.append(snapshot(objects["p"]))

        await sim.api.create(PODS, "default", bare_pod("p"))
        await wait_for(sim.api, PODS, "default", lambda o: "p" in o and is_ready(o["p"]), on_change=record)
        kubelet_writes = [p for p in phases if p[2]]
        assert kubelet_writes == [("Running", (), ("running",), "True")]


async def test_not_ready_reasons_and_readiness_gates():
    async with running_cluster(timing=NodeTiming(ready_delay=60)) as sim:
        await sim.api.create(PODS, "default", bare_pod("slow"))
        objects = await wait_for(
            sim.api,
            PODS,
            "default",
            lambda o: (o.get("slow", {}).get("status") or {}).get("phase") == "Running",
        )
        ready = condition(objects["slow"], "Ready")
        assert ready["status"] == "False"
        assert ready["reason"] == "ContainersNotReady"
        assert ready["message"] == "containers with unready status: [main]"

    async with running_cluster() as sim:
        gated = bare_pod("gated", readinessGates=[{"conditionType": "example.com/warm"}])
        await sim.api.create(PODS, "default", gated)
        objects = await wait_for(
            sim.api,
            PODS,
            "default",
            lambda o: "gated" in o and condition_or_none(o["gated"], "ContainersReady") == "True",
        )
        ready = condition(objects["gated"], "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "ReadinessGatesNotReady")
        assert (
            ready["message"]
            == 'corresponding condition of pod readiness gate "example.com/warm" does not exist.'
        )
        conditions = [
            *objects["gated"]["status"]["conditions"],
            {"type": "example.com/warm", "status": "True"},
        ]
        await sim.api.patch(
            PODS,
            "default",
            "gated",
            {"status": {"conditions": conditions}},
            MERGE_PATCH,
            subresource="status",
        )
        objects = await wait_for(sim.api, PODS, "default", lambda o: is_ready(o["gated"]))
        # the gate's condition, set by someone else, is kept by the kubelet
        assert condition(objects["gated"], "example.com/warm")["status"] == "True"


def condition_or_none(pod: dict[str, Any], kind: str) -> str | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c["type"] == kind:
            return str(c["status"])
    return None


async def test_graceful_deletion_terminates_then_removes():
    async with running_cluster() as sim:
        await sim.api.create(PODS, "default", bare_pod("p", terminationGracePeriodSeconds=30))
        await wait_for(sim.api, PODS, "default", lambda o: "p" in o and is_ready(o["p"]))
        seen: list[tuple[Any, ...]] = []

        def record(objects: Objects) -> None:
            if "p" in objects:
                seen.append(
                    (bool(objects["p"]["metadata"].get("deletionTimestamp")), *snapshot(objects["p"]))
                )

        marked = await sim.api.delete(PODS, "default", "p")
        assert marked["metadata"]["deletionTimestamp"]
        # a 30 s grace period, capped by the kubelet's max_termination_seconds (0.01 s here)
        await wait_for(sim.api, PODS, "default", lambda o: "p" not in o, on_change=record, timeout=5)
        assert (True, "Succeeded", (), ("terminated",), "False") in seen


async def test_pod_ips_are_unique_and_unbound_pods_are_not_run():
    async with running_cluster("tiny") as sim:
        for i in range(30):
            await sim.api.create(PODS, "default", bare_pod(f"p{i}"))
        await sim.api.create(PODS, "default", bare_pod("nowhere", schedulerName="volcano"))
        objects = await wait_for(
            sim.api, PODS, "default", lambda o: sum(1 for p in o.values() if is_ready(p)) == 30, timeout=10
        )
        ips = [p["status"]["podIP"] for name, p in objects.items() if name != "nowhere"]
        assert len(set(ips)) == 30
        assert "podIP" not in (objects["nowhere"].get("status") or {})
        assert not objects["nowhere"]["spec"].get("nodeName")


async def test_host_network_pods_use_the_node_address():
    async with running_cluster() as sim:
        await sim.api.create(PODS, "default", bare_pod("h", hostNetwork=True))
        objects = await wait_for(sim.api, PODS, "default", lambda o: "h" in o and is_ready(o["h"]))
        assert objects["h"]["status"]["podIP"] == objects["h"]["status"]["hostIP"]


async def test_pods_bound_by_their_creator_run_without_the_scheduler():
    async with running_cluster(scheduler=False) as sim:
        await sim.api.create(PODS, "default", bare_pod("direct", nodeName="zone-a-node-2"))
        await sim.api.create(PODS, "default", bare_pod("waiting"))
        objects = await wait_for(sim.api, PODS, "default", lambda o: "direct" in o and is_ready(o["direct"]))
        assert condition(objects["direct"], "PodScheduled")["status"] == "True"
        assert objects["direct"]["spec"]["nodeName"] == "zone-a-node-2"
        assert not objects["waiting"]["spec"].get("nodeName")


# --- the runtime model, directly ------------------------------------------------------------------


def runtime(timing: NodeTiming, restart_policy: str = "Always", **spec: Any) -> cr.PodRuntime:
    pod = {
        "metadata": {"uid": "u"},
        "spec": {"restartPolicy": restart_policy, **bare_pod("x")["spec"], **spec},
    }
    return cr.new_runtime(pod, 100.0, timing)


@pytest.mark.parametrize(
    ("now", "due", "phase"),
    [(100.0, 101.0, "Pending"), (101.0, 103.0, "Running"), (103.0, None, "Running")],
)
def test_advance_reports_when_the_next_change_is_due(now, due, phase):
    rt = runtime(NodeTiming(start_delay=1, ready_delay=2))
    assert cr.advance(rt, now) == due
    pod = {"metadata": {"uid": "u"}, "spec": bare_pod("x")["spec"], "status": {}}
    assert cr.render_status(pod, rt, now, host_ip="1.2.3.4")["phase"] == phase


def test_crash_loop_backs_off_and_never_policy_fails_the_pod():
    rt = runtime(NodeTiming())
    rt.crash_after, rt.backoff_base, rt.backoff_max = 1.0, 1.0, 4.0
    cr.set_crash_loop(rt, None, True)
    cr.advance(rt, 100.0)
    restarts = []
    for t in range(100, 130):
        cr.advance(rt, float(t))
        restarts.append(rt.containers[0].restart_count)
    # crash at 101, restart after back-off 1, 2, 4, 4 ... (each run lasts 1 s)
    assert restarts[:12] == [0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]
    pod = {"metadata": {"uid": "u"}, "spec": bare_pod("x")["spec"], "status": {}}
    status = cr.render_status(pod, rt, 101.5, host_ip="h")
    assert status["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"

    never = runtime(NodeTiming(), restart_policy="Never")
    cr.set_crash_loop(never, None, True)
    cr.advance(never, 100.0)
    assert cr.advance(never, 102.0) is None
    assert cr.render_status(pod, never, 102.0, host_ip="h")["phase"] == "Failed"
