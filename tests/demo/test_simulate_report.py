"""`lws simulate`'s pure parts: when a cluster counts as settled, and the placement report."""

from __future__ import annotations

from typing import Any

import pytest

from lws.api import constants as c
from lws.demo.placement import build_report, level_names, report_json, report_text
from lws.demo.settle import outstanding, pod_settled

ZONE, RACK, HOST = "topology.kubernetes.io/zone", "example.com/rack", "kubernetes.io/hostname"
LEVELS = (ZONE, RACK, HOST)


def node(name: str, zone: str, rack: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {ZONE: zone, RACK: rack, HOST: name}}}


def pod(
    name: str,
    *,
    group: int = 0,
    worker: int = 0,
    node: str | None = None,
    phase: str = "Running",
    scheduled: dict[str, str] | None = None,
    scheduler: str | None = None,
    namespace: str = "ns",
    set_name: str = "s",
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {
            c.SET_NAME_LABEL: set_name,
            c.GROUP_INDEX_LABEL: str(group),
            c.WORKER_INDEX_LABEL: str(worker),
        },
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec: dict[str, Any] = {}
    if node:
        spec["nodeName"] = node
    if scheduler:
        spec["schedulerName"] = scheduler
    conditions = [{"type": "PodScheduled", **scheduled}] if scheduled else []
    return {"metadata": meta, "spec": spec, "status": {"phase": phase, "conditions": conditions}}


def lws(replicas: int = 2, size: int = 2, generation: int = 1, observed: int | None = 1) -> dict[str, Any]:
    status = {} if observed is None else {"observedGeneration": observed}
    return {
        "metadata": {"name": "s", "namespace": "ns", "generation": generation, "annotations": {"a": "b"}},
        "spec": {"replicas": replicas, "leaderWorkerTemplate": {"size": size}},
        "status": status,
    }


UNSCHEDULABLE = {
    "status": "False",
    "reason": "Unschedulable",
    "message": "0/4 nodes are available: 4 Insufficient",
}


@pytest.mark.parametrize(
    ("obj", "settled"),
    [
        (pod("p", node="n", phase="Running"), True),
        (pod("p", node="n", phase="Failed"), True),
        (pod("p", phase="Pending", scheduled=UNSCHEDULABLE), True),
        (pod("p", phase="Pending", scheduled={"status": "False", "reason": "SchedulingGated"}), True),
        (pod("p", phase="Pending", scheduler="volcano"), True),
        (pod("p", phase="Pending"), False),
        (pod("p", node="n", phase="Pending", scheduled={"status": "True"}), False),
        (pod("p", node="n", phase="Running", deleting=True), False),
    ],
)
def test_which_pods_have_settled(obj: dict[str, Any], settled: bool) -> None:
    assert pod_settled(obj) is settled


def test_a_pod_for_a_scheduler_the_cluster_serves_is_not_settled_until_placed() -> None:
    """With a second scheduler profile (topology ``schedulerNames``), its pods must be waited for."""
    waiting = pod("p", phase="Pending", scheduler="volcano")
    assert pod_settled(waiting, ("default-scheduler", "volcano")) is False
    assert pod_settled(waiting, ("default-scheduler",)) is True


def test_outstanding_names_what_keeps_a_set_from_settling() -> None:
    placed = [pod("s-0", node="n0"), pod("s-0-1", worker=1, node="n1")]
    assert outstanding([lws(replicas=1)], placed) == []
    assert outstanding([lws(replicas=2, generation=2)], [*placed, pod("s-1", group=1, phase="Pending")]) == [
        "pod ns/s-1 is Pending",
        "LeaderWorkerSet ns/s is not reconciled yet",
    ]
    assert outstanding([lws(replicas=3)], placed) == ["LeaderWorkerSet ns/s has 1 of 3 leader pods"]


def report_of(pods: list[dict[str, Any]], replicas: int = 2) -> Any:
    nodes = [node("z-r0-n0", "z", "z-r0"), node("z-r0-n1", "z", "z-r0"), node("z-r1-n0", "z", "z-r1")]
    return build_report(
        [lws(replicas=replicas)],
        pods,
        nodes,
        topology="t",
        levels=LEVELS,
        plugins=["placement"],
        settled=True,
        seconds=1.25,
    )


def test_the_report_counts_placed_unschedulable_and_missing_pods_and_the_domains_each_group_spans() -> None:
    report = report_of(
        [
            pod("s-0-1", worker=1, node="z-r1-n0"),
            pod("s-0", node="z-r0-n0"),
            pod("s-1", group=1, phase="Pending", scheduled=UNSCHEDULABLE),
            pod("other", node="z-r0-n1", set_name="else"),
            pod("s-1-9", group=1, worker=9, node="z-r0-n1", deleting=True),
        ]
    )
    [placed] = report.sets
    first, second = placed.groups
    assert [p.name for p in first.pods] == ["s-0", "s-0-1"], "leader first"
    assert first.spans == {ZONE: 1, RACK: 2, HOST: 2}
    assert (first.placed, first.unschedulable, first.missing) == (2, 0, 0)
    assert (second.placed, second.unschedulable, second.missing) == (0, 1, 1)
    assert second.pods[0].reason == "Unschedulable" and second.pods[0].domains == {}
    assert (placed.placed, placed.unplaced, placed.missing) == (2, 1, 1)


def test_a_group_never_created_counts_all_its_pods_missing() -> None:
    [placed] = report_of(
        [pod("s-0", node="z-r0-n0"), pod("s-0-1", worker=1, node="z-r0-n1")], replicas=3
    ).sets
    assert placed.missing == 4


def test_json_report() -> None:
    report = report_of(
        [
            pod("s-0", node="z-r0-n0"),
            pod("s-0-1", worker=1, node="z-r0-n1"),
            pod("s-1", group=1, phase="Pending", scheduler="volcano"),
        ]
    )
    data = report_json(report)
    assert data["topology"] == {"name": "t", "nodes": 3, "levels": list(LEVELS)}
    assert (data["plugins"], data["settled"], data["seconds"]) == (["placement"], True, 1.25)
    [placed] = data["leaderWorkerSets"]
    assert placed["annotations"] == {"a": "b"}
    assert placed["groups"][0]["pods"][1] == {
        "name": "s-0-1",
        "role": "worker",
        "workerIndex": 1,
        "node": "z-r0-n1",
        "topology": {ZONE: "z", RACK: "z-r0", HOST: "z-r0-n1"},
        "phase": "Running",
        "unschedulable": None,
    }
    assert placed["groups"][0]["spans"] == {ZONE: 1, RACK: 1, HOST: 2}
    waiting = placed["groups"][1]["pods"][0]["unschedulable"]
    assert waiting["reason"] == "NoScheduler" and "'volcano'" in waiting["message"]


def test_text_report() -> None:
    report = report_of(
        [pod("s-0", node="z-r0-n0"), pod("s-0-1", worker=1, phase="Pending", scheduled=UNSCHEDULABLE)],
        replicas=1,
    )
    lines = report_text(report)
    assert lines[:3] == [
        "Topology t: 3 nodes; levels topology.kubernetes.io/zone > example.com/rack > kubernetes.io/hostname",
        "Plugins: placement",
        "Settled 1.2s after the manifests were applied.",
    ]
    assert lines[4:] == [
        "LeaderWorkerSet ns/s: 1 group of 2 pods; 1 placed, 1 unschedulable",
        "  annotations: a=b",
        "  GROUP  POD    NODE     ZONE  RACK  STATUS",
        "  0      s-0    z-r0-n0  z     z-r0  Running",
        "         s-0-1  -        -     -     Pending: Unschedulable",
        "  group 0: 1/2 placed, in 1 zone, 1 rack, 1 node, 1 unschedulable",
        "    s-0-1: Unschedulable: 0/4 nodes are available: 4 Insufficient",
    ]


def test_level_names_are_short_unless_that_makes_two_alike() -> None:
    assert level_names(LEVELS) == {ZONE: "ZONE", RACK: "RACK", HOST: "NODE"}
    assert level_names(("a.io/rack", "b.io/rack", HOST)) == {
        "a.io/rack": "A.IO/RACK",
        "b.io/rack": "B.IO/RACK",
        HOST: "KUBERNETES.IO/HOSTNAME",
    }
