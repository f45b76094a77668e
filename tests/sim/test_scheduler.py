"""The scheduler loop against the in-process API server: binding, reasons, retries, gates, placement."""

from __future__ import annotations

from typing import Any

from controller_kit import (
    NODES,
    PODS,
    STATEFULSETS,
    all_ready,
    is_ready,
    running_cluster,
    statefulset,
    wait_for,
)

from lws.sim.apiserver import MERGE_PATCH
from lws.sim.topology import load_topology

RACK = "example.com/rack"


def pod(name: str, *, labels: dict[str, str] | None = None, gpus: int = 0, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "vllm:1"}
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels or {}},
        "spec": {"containers": [container], **spec},
    }


def scheduled_condition(pod: dict[str, Any]) -> dict[str, Any] | None:
    return next(
        (c for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] == "PodScheduled"), None
    )


async def test_binding_sets_node_and_pod_scheduled():
    async with running_cluster("gpu-small") as sim:
        await sim.api.create(PODS, "default", pod("p", gpus=8))
        objects = await wait_for(sim.api, PODS, "default", lambda o: "p" in o and is_ready(o["p"]))
        assert objects["p"]["spec"]["nodeName"].startswith("zone-a-rack-")
        assert scheduled_condition(objects["p"])["status"] == "True"


async def test_unschedulable_reason_then_retry_when_a_node_appears():
    async with running_cluster("gpu-small") as sim:
        for i in range(8):
            await sim.api.create(PODS, "default", pod(f"fill-{i}", gpus=8))
        await wait_for(sim.api, PODS, "default", lambda o: sum(is_ready(p) for p in o.values()) == 8)
        await sim.api.create(PODS, "default", pod("extra", gpus=4))
        objects = await wait_for(
            sim.api, PODS, "default", lambda o: scheduled_condition(o.get("extra", {})) is not None
        )
        condition = scheduled_condition(objects["extra"])
        assert condition["status"] == "False"
        assert condition["reason"] == "Unschedulable"
        assert condition["message"] == "0/8 nodes are available: 8 Insufficient nvidia.com/gpu."
        assert objects["extra"]["status"]["phase"] == "Pending"
        # a new node makes room: the pod is retried without anything else happening to it
        spare = load_topology("gpu-small").nodes()[0]
        spare["metadata"]["name"] = spare["metadata"]["labels"]["kubernetes.io/hostname"] = "spare"
        await sim.api.create(NODES, None, spare)
        objects = await wait_for(sim.api, PODS, "default", lambda o: is_ready(o["extra"]))
        assert objects["extra"]["spec"]["nodeName"] == "spare"


async def test_freed_resources_let_a_pending_pod_in():
    async with running_cluster("gpu-small") as sim:
        for i in range(8):
            await sim.api.create(PODS, "default", pod(f"fill-{i}", gpus=8))
        await wait_for(sim.api, PODS, "default", lambda o: sum(is_ready(p) for p in o.values()) == 8)
        await sim.api.create(PODS, "default", pod("waiting", gpus=8))
        await wait_for(
            sim.api, PODS, "default", lambda o: scheduled_condition(o.get("waiting", {})) is not None
        )
        await sim.api.delete(PODS, "default", "fill-3")
        await wait_for(sim.api, PODS, "default", lambda o: "fill-3" not in o and is_ready(o["waiting"]))


async def test_scheduling_gates_hold_a_pod_until_removed():
    async with running_cluster() as sim:
        await sim.api.create(PODS, "default", pod("gated", schedulingGates=[{"name": "example.com/quota"}]))
        objects = await wait_for(
            sim.api, PODS, "default", lambda o: scheduled_condition(o.get("gated", {})) is not None
        )
        condition = scheduled_condition(objects["gated"])
        assert (condition["status"], condition["reason"]) == ("False", "SchedulingGated")
        assert condition["message"] == "Scheduling is blocked due to non-empty scheduling gates"
        assert not objects["gated"]["spec"].get("nodeName")
        # Out of the pending set while gated, so that many gated pods cost nothing when others come. A pod
        # made later is placed after the scheduler has seen the gated pod's condition (one ordered watch).
        await sim.api.create(PODS, "default", pod("later"))
        await wait_for(sim.api, PODS, "default", lambda o: "later" in o and is_ready(o["later"]))
        assert ("default", "gated") not in sim.controllers.scheduler.pending
        await sim.api.patch(PODS, "default", "gated", {"spec": {"schedulingGates": None}}, MERGE_PATCH)
        await wait_for(sim.api, PODS, "default", lambda o: is_ready(o["gated"]))


async def test_pods_for_other_schedulers_stay_pending():
    async with running_cluster() as sim:
        await sim.api.create(PODS, "default", pod("gang", schedulerName="volcano"))
        await sim.api.create(PODS, "default", pod("normal"))
        objects = await wait_for(sim.api, PODS, "default", lambda o: "normal" in o and is_ready(o["normal"]))
        assert not objects["gang"]["spec"].get("nodeName")
        assert scheduled_condition(objects["gang"]) is None


async def test_a_scheduler_with_several_profiles_serves_each_of_their_names():
    """As kube-scheduler with a second profile: pods naming either scheduler are placed, others wait."""
    async with running_cluster(scheduler_names=("default-scheduler", "volcano")) as sim:
        await sim.api.create(PODS, "default", pod("gang", schedulerName="volcano"))
        await sim.api.create(PODS, "default", pod("other", schedulerName="kueue-scheduler"))
        await sim.api.create(PODS, "default", pod("normal"))
        objects = await wait_for(
            sim.api,
            PODS,
            "default",
            lambda o: {"gang", "normal"} <= o.keys() and is_ready(o["gang"]) and is_ready(o["normal"]),
        )
        assert not objects["other"]["spec"].get("nodeName")


async def test_exclusive_rack_placement_of_statefulset_groups():
    """Two groups, each with required affinity to itself and anti-affinity to others, per rack."""

    def group(name: str) -> dict[str, Any]:
        body = statefulset(name, 4, policy="Parallel", requests={"nvidia.com/gpu": "8"})
        template = body["spec"]["template"]
        template["metadata"]["labels"]["group"] = name
        template["spec"]["affinity"] = {
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {
                            "matchExpressions": [{"key": "group", "operator": "In", "values": [name]}]
                        },
                        "topologyKey": RACK,
                    }
                ]
            },
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {
                            "matchExpressions": [
                                {"key": "group", "operator": "Exists"},
                                {"key": "group", "operator": "NotIn", "values": [name]},
                            ]
                        },
                        "topologyKey": RACK,
                    }
                ]
            },
        }
        return body

    async with running_cluster("gpu-small") as sim:
        await sim.api.create(STATEFULSETS, "default", group("a"))
        await sim.api.create(STATEFULSETS, "default", group("b"))
        objects = await wait_for(
            sim.api, PODS, "default", lambda o: all_ready("a", 4)(o) and all_ready("b", 4)(o), timeout=10
        )
        nodes = {n["metadata"]["name"]: n for n in (await sim.api.list(NODES))["items"]}
        racks = {
            name: nodes[p["spec"]["nodeName"]]["metadata"]["labels"][RACK] for name, p in objects.items()
        }
        rack_a = {racks[f"a-{i}"] for i in range(4)}
        rack_b = {racks[f"b-{i}"] for i in range(4)}
        assert len(rack_a) == 1 and len(rack_b) == 1 and rack_a != rack_b
        # a third group has no rack of its own left, and says why
        await sim.api.create(STATEFULSETS, "default", group("c"))
        pending = await wait_for(
            sim.api, PODS, "default", lambda o: scheduled_condition(o.get("c-0", {})) is not None
        )
        # resource fit is checked before inter-pod affinity, as kube-scheduler's filter order has it
        assert (
            scheduled_condition(pending["c-0"])["message"]
            == "0/8 nodes are available: 8 Insufficient nvidia.com/gpu."
        )
