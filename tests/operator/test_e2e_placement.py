"""Exclusive placement (``leaderworkerset.sigs.k8s.io/exclusive-topology``): one group per topology domain."""

from __future__ import annotations

import pytest
from e2e_kit import Kube, labels, make_lws
from operator_harness import E2E

from lws.api import constants as c
from lws.cluster.resources import LEADERWORKERSETS, NODES, PODS, STATEFULSETS
from lws.sim.testing import skip_if_real_cluster, wait_until

pytestmark = pytest.mark.e2e

RACK = "example.com/rack"


def test_exclusive_topology_places_each_group_alone_in_its_own_rack(e2e: E2E, kube: Kube, ns: str) -> None:
    racks = {n["metadata"]["name"]: n["metadata"]["labels"].get(RACK) for n in kube.list(NODES, None)}
    domains = sorted({r for r in racks.values() if r})
    if len(domains) != 2:
        skip_if_real_cluster(f"nodes labelled {RACK} with exactly two values")
    assert len(domains) == 2, "the test topology has two racks"
    lws = make_lws("excl", replicas=3, size=4, annotations={c.EXCLUSIVE_KEY_ANNOTATION: RACK})
    kube.create(LEADERWORKERSETS, ns, lws)

    def placed() -> dict[int, set[str]] | None:
        pods = [
            p
            for p in kube.list(PODS, ns, f"{c.SET_NAME_LABEL}=excl")
            if (p.get("status") or {}).get("phase") == "Running"
        ]
        by_group: dict[int, set[str]] = {}
        for pod in pods:
            by_group.setdefault(int(labels(pod)[c.GROUP_INDEX_LABEL]), set()).add(
                racks[pod["spec"]["nodeName"]]
            )
        counts = [len([p for p in pods if labels(p)[c.GROUP_INDEX_LABEL] == str(i)]) for i in by_group]
        return by_group if len(by_group) == 2 and counts == [4, 4] else None

    by_group = wait_until(placed, timeout=20, what="two groups of four to run")
    assert all(len(r) == 1 for r in by_group.values()), f"each group within one rack: {by_group}"
    assert len(set.union(*by_group.values())) == 2, f"the groups in different racks: {by_group}"

    # Two racks, three groups: the third leader cannot be placed, so its workers are never created.
    pending = [
        p
        for p in kube.list(PODS, ns, f"{c.SET_NAME_LABEL}=excl,{c.WORKER_INDEX_LABEL}=0")
        if not p["spec"].get("nodeName")
    ]
    assert len(pending) == 1
    if e2e.operator is not None:
        e2e.operator.settle(pending[0]["metadata"]["resourceVersion"])
    stuck = pending[0]["metadata"]["name"]
    assert kube.get(STATEFULSETS, ns, stuck) is None, "no workers for a leader that is not scheduled"

    leader = kube.get(PODS, ns, "excl-0")
    assert leader is not None
    anti = leader["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["topologyKey"] == RACK
    workers = kube.get(STATEFULSETS, ns, "excl-0")
    assert workers is not None
    assert workers["spec"]["template"]["spec"]["nodeSelector"] == {RACK: racks[leader["spec"]["nodeName"]]}
