"""The operator acts on the cluster as it is now, never on what it remembers: Node labels come from a
watched cache, so a relabelled node is seen at once (issue 10, bug 8: they were cached for 300 s with no
watch). Plugin objects deleted out of band: ``tests/plugins/test_e2e_gang_scheduling.py``."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from e2e_kit import make_lws
from operator_harness import Private

from lws.api import constants as c
from lws.cluster.resources import LEADERWORKERSETS, NODES, PODS, STATEFULSETS
from lws.sim.testing import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]

RACK = "example.com/rack"
HOSTNAME = "kubernetes.io/hostname"


def _uid(obj: dict[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("uid") or "")


def test_exclusive_placement_reads_the_labels_a_node_has_now(private: Private) -> None:
    kube, ns = private.kube, "default"
    operator = private.start_operator()
    node = sorted(n["metadata"]["name"] for n in kube.list(NODES, None))[0]
    body = make_lws("moved", replicas=1, size=2, annotations={c.EXCLUSIVE_KEY_ANNOTATION: RACK})
    template = body["spec"]["leaderWorkerTemplate"]
    template["leaderTemplate"] = copy.deepcopy(template["workerTemplate"])
    template["leaderTemplate"]["spec"]["nodeSelector"] = {HOSTNAME: node}  # the leader always lands here
    kube.create(LEADERWORKERSETS, ns, body)
    kube.wait_available(ns, "moved")
    workers = kube.get(STATEFULSETS, ns, "moved-0")
    assert workers is not None
    rack = workers["spec"]["template"]["spec"]["nodeSelector"][RACK]

    # The node moves to another rack; then the group is recreated, its leader on the same node.
    kube.patch(NODES, None, node, {"metadata": {"labels": {RACK: "rack-moved"}}})
    leader = kube.get(PODS, ns, "moved-0")
    private.cluster.faults.restart_container(ns, "moved-0-1")

    def rebuilt() -> dict[str, Any] | None:
        new_leader = kube.get(PODS, ns, "moved-0")
        sts = kube.get(STATEFULSETS, ns, "moved-0")
        owners = ((sts or {}).get("metadata") or {}).get("ownerReferences") or []
        fresh = _uid(new_leader) not in ("", _uid(leader))
        return sts if fresh and owners and owners[0]["uid"] == _uid(new_leader) else None

    recreated = wait_until(rebuilt, timeout=30, what="the recreated group's worker StatefulSet")
    selector = recreated["spec"]["template"]["spec"]["nodeSelector"]
    assert selector == {RACK: "rack-moved"}, f"workers follow the leader's node as labelled now (was {rack})"
    available = kube.wait_available(ns, "moved", timeout=30)
    operator.settle(available["metadata"]["resourceVersion"])
