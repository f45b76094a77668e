"""The scheduler's pure filters and scoring (lws.sim.controllers.placement), table by table."""

from __future__ import annotations

from typing import Any

import pytest

from lws.sim.controllers.placement import (
    ClusterSnapshot,
    PodSpecError,
    find_node,
    pod_info,
    pod_requests,
    tolerates,
)
from lws.sim.topology import load_topology, parse_topology

RACK = "example.com/rack"
HOST = "kubernetes.io/hostname"


def node(name: str, labels: dict[str, str] | None = None, **status: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if "taints" in status:
        spec["taints"] = status.pop("taints")
    if status.pop("unschedulable", False):
        spec["unschedulable"] = True
    ready = status.pop("ready", "True")
    allocatable = {"cpu": "4", "memory": "8Gi", "pods": "110", **status}
    return {
        "metadata": {"name": name, "labels": {HOST: name, **(labels or {})}},
        "spec": spec,
        "status": {"allocatable": allocatable, "conditions": [{"type": "Ready", "status": ready}]},
    }


def pod(name: str, *, labels: dict[str, str] | None = None, node_name: str = "", ns: str = "default", **spec):
    requests = spec.pop("requests", {})
    body = {"containers": [{"name": "c", "resources": {"requests": requests}}], **spec}
    if node_name:
        body["nodeName"] = node_name
    return {"metadata": {"name": name, "namespace": ns, "labels": labels or {}}, "spec": body}


def snapshot_of(nodes: list[dict[str, Any]], pods: list[dict[str, Any]] = ()) -> ClusterSnapshot:
    snap = ClusterSnapshot()
    for n in nodes:
        snap.set_node(n)
    for p in pods:
        snap.add_pod(pod_info(p))
    return snap


def place(snap: ClusterSnapshot, p: dict[str, Any]):
    return find_node(pod_info(p), snap)


def affinity_term(key: str, values: list[str], topology_key: str, op: str = "In") -> dict[str, Any]:
    return {
        "labelSelector": {"matchExpressions": [{"key": key, "operator": op, "values": values}]},
        "topologyKey": topology_key,
    }


# --- resources ------------------------------------------------------------------------------------


def test_requests_take_max_of_init_and_sum_of_containers_and_limits_default_requests():
    spec = {
        "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "3"}}}],
        "containers": [
            {"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "b", "resources": {"limits": {"cpu": "500m", "nvidia.com/gpu": "2"}}},
        ],
    }
    assert pod_requests(spec) == {"cpu": 3000, "memory": 2**30 * 1000, "nvidia.com/gpu": 2000}


def test_bad_quantity_is_a_pod_spec_error():
    with pytest.raises(PodSpecError, match="container 'c'"):
        pod_info(pod("p", requests={"cpu": "lots"}))


@pytest.mark.parametrize(
    ("requests", "expected"),
    [
        ({"cpu": "2"}, "a"),
        ({"cpu": "5"}, None),
        ({"nvidia.com/gpu": "1"}, "b"),
        ({"nvidia.com/gpu": "9"}, None),
    ],
)
def test_resource_fit(requests, expected):
    snap = snapshot_of([node("a"), node("b", **{"nvidia.com/gpu": "8"})])
    assert place(snap, pod("p", requests=requests)).node == expected


def test_resource_usage_accumulates_and_is_released():
    snap = snapshot_of([node("a")])
    first = pod_info(pod("p1", requests={"cpu": "3"}, node_name="a"))
    snap.add_pod(first)
    assert place(snap, pod("p2", requests={"cpu": "2"})).node is None
    snap.remove_pod(first.key)
    assert place(snap, pod("p2", requests={"cpu": "2"})).node == "a"


def test_too_many_pods():
    snap = snapshot_of([node("a", pods="1")], [pod("p1", node_name="a")])
    placement = place(snap, pod("p2"))
    assert placement.message == "0/1 nodes are available: 1 Too many pods."


# --- node selection -------------------------------------------------------------------------------


def test_node_selector_and_required_node_affinity():
    snap = snapshot_of([node("a", {"pool": "cpu", "gen": "3"}), node("b", {"pool": "gpu", "gen": "5"})])
    assert place(snap, pod("p", nodeSelector={"pool": "gpu"})).node == "b"
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "gen", "operator": "Lt", "values": ["4"]}]}
                ]
            }
        }
    }
    assert place(snap, pod("p", affinity=affinity)).node == "a"
    by_name = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}
                ]
            }
        }
    }
    assert place(snap, pod("p", affinity=by_name)).node == "b"
    missing = place(snap, pod("p", nodeSelector={"pool": "tpu"}))
    assert missing.message == "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."


@pytest.mark.parametrize(
    ("toleration", "taint", "expected"),
    [
        (
            {"key": "k", "operator": "Equal", "value": "v"},
            {"key": "k", "value": "v", "effect": "NoSchedule"},
            True,
        ),
        ({"key": "k", "value": "other"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, False),
        ({"key": "k", "operator": "Exists"}, {"key": "k", "value": "v", "effect": "NoExecute"}, True),
        ({"operator": "Exists"}, {"key": "anything", "effect": "NoSchedule"}, True),
        (
            {"key": "k", "operator": "Exists", "effect": "NoExecute"},
            {"key": "k", "effect": "NoSchedule"},
            False,
        ),
        (
            {"key": "k", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "k", "effect": "NoSchedule"},
            True,
        ),
    ],
)
def test_tolerations(toleration, taint, expected):
    assert tolerates([toleration], taint) is expected


def test_taints_unschedulable_and_not_ready_nodes():
    snap = snapshot_of(
        [
            node("a", taints=[{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]),
            node("b", unschedulable=True),
            node("c", ready="False"),
            node("d", ready="Unknown"),
            node("e", taints=[{"key": "soft", "effect": "PreferNoSchedule"}]),
        ]
    )
    assert place(snap, pod("p")).node == "e"
    snap.remove_node("e")
    assert place(snap, pod("p")).message == (
        "0/4 nodes are available: 1 node(s) had untolerated taint {gpu: yes}, "
        "1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "
        "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, "
        "1 node(s) were unschedulable."
    )
    tolerant = pod("p", tolerations=[{"key": "gpu", "operator": "Exists"}])
    assert place(snap, tolerant).node == "a"


# --- inter-pod affinity ---------------------------------------------------------------------------


def racks(n_racks: int = 2, per_rack: int = 2) -> list[dict[str, Any]]:
    return [
        node(f"r{r}-n{i}", {RACK: f"r{r}"}, **{"nvidia.com/gpu": "8"})
        for r in range(n_racks)
        for i in range(per_rack)
    ]


def test_required_affinity_follows_matching_pods_and_first_pod_may_go_anywhere():
    affinity = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [affinity_term("app", ["db"], RACK)]
        }
    }
    snap = snapshot_of(racks())
    # nobody matches yet and the pod matches its own term: the first of a group may go anywhere
    first = place(snap, pod("db-0", labels={"app": "db"}, affinity=affinity))
    assert first.node == "r0-n0"
    # a pod that does not match its own term must wait for a match
    stranger = place(snap, pod("web", labels={"app": "web"}, affinity=affinity))
    assert stranger.message == "0/4 nodes are available: 4 node(s) didn't match pod affinity rules."
    snap.add_pod(pod_info(pod("db-0", labels={"app": "db"}, node_name="r1-n1")))
    assert place(snap, pod("web", labels={"app": "web"}, affinity=affinity)).node in {"r1-n0", "r1-n1"}


def test_required_anti_affinity_of_incoming_and_of_existing_pods():
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [affinity_term("app", ["db"], RACK)]
        }
    }
    snap = snapshot_of(racks(), [pod("db-0", labels={"app": "db"}, node_name="r0-n0", affinity=anti)])
    # incoming pod's own anti-affinity keeps it out of rack r0
    assert place(snap, pod("db-1", labels={"app": "db"}, affinity=anti)).node in {"r1-n0", "r1-n1"}
    # an incoming pod without any affinity is still kept out by the existing pod's anti-affinity (symmetry)
    plain = place(snap, pod("db-2", labels={"app": "db"}))
    assert plain.node in {"r1-n0", "r1-n1"}
    snap.add_pod(pod_info(pod("db-1", labels={"app": "db"}, node_name="r1-n0", affinity=anti)))
    own = place(snap, pod("db-2", labels={"app": "db"}, affinity=anti))
    assert own.message == "0/4 nodes are available: 4 node(s) didn't match pod anti-affinity rules."
    blocked = place(snap, pod("db-2", labels={"app": "db"}))
    assert blocked.message == (
        "0/4 nodes are available: 4 node(s) didn't satisfy existing pods anti-affinity rules."
    )
    # pods the term does not select are not affected
    assert place(snap, pod("web", labels={"app": "web"})).node is not None


def test_exclusive_placement_one_group_per_rack():
    """LWS exclusive topology: affinity to the own group-key, anti-affinity to every other group-key."""

    def exclusive(group: str) -> dict[str, Any]:
        return {
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [affinity_term("group", [group], RACK)]
            },
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {
                            "matchExpressions": [
                                {"key": "group", "operator": "Exists"},
                                {"key": "group", "operator": "NotIn", "values": [group]},
                            ]
                        },
                        "topologyKey": RACK,
                    }
                ]
            },
        }

    snap = snapshot_of(racks(n_racks=3, per_rack=2))
    placed: dict[str, str] = {}
    for group in ("g0", "g1", "g2"):
        for member in range(2):
            p = pod(
                f"{group}-{member}",
                labels={"group": group},
                affinity=exclusive(group),
                requests={"nvidia.com/gpu": "8"},
            )
            placement = place(snap, p)
            assert placement.node is not None, placement.message
            placed[f"{group}-{member}"] = placement.node
            p["spec"]["nodeName"] = placement.node
            snap.add_pod(pod_info(p))
    rack_of = {name: snap.nodes[n].labels[RACK] for name, n in placed.items()}
    for group in ("g0", "g1", "g2"):
        assert rack_of[f"{group}-0"] == rack_of[f"{group}-1"]
    assert len({rack_of[f"{g}-0"] for g in ("g0", "g1", "g2")}) == 3
    # a fourth group has no rack left
    placement = place(snap, pod("g3-0", labels={"group": "g3"}, affinity=exclusive("g3")))
    assert placement.node is None
    assert "6 node(s) didn't match pod anti-affinity rules" in placement.message


def test_affinity_namespaces_and_namespace_selector():
    term = affinity_term("app", ["db"], RACK)
    snap = snapshot_of(racks(), [pod("db", labels={"app": "db"}, node_name="r0-n0", ns="data")])
    snap.set_namespace("data", {"team": "storage"})
    own_ns = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    # the term defaults to the pod's own namespace, where no db runs; web does not match its own term
    assert place(snap, pod("web", labels={"app": "web"}, affinity=own_ns)).node is None
    listed = {
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{**term, "namespaces": ["data"]}]}
    }
    assert place(snap, pod("web", labels={"app": "web"}, affinity=listed)).node in {"r0-n0", "r0-n1"}
    selected = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {**term, "namespaceSelector": {"matchLabels": {"team": "storage"}}}
            ]
        }
    }
    assert place(snap, pod("web", labels={"app": "web"}, affinity=selected)).node in {"r0-n0", "r0-n1"}


def test_match_label_keys_and_mismatch_label_keys():
    snap = snapshot_of(
        racks(),
        [
            pod("a-old", labels={"app": "a", "rev": "1"}, node_name="r0-n0"),
            pod("a-new", labels={"app": "a", "rev": "2"}, node_name="r1-n0"),
        ],
    )
    with_keys = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {**affinity_term("app", ["a"], RACK), "matchLabelKeys": ["rev"]}
            ]
        }
    }
    assert place(snap, pod("a-x", labels={"app": "a", "rev": "2"}, affinity=with_keys)).node in {
        "r1-n0",
        "r1-n1",
    }
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {**affinity_term("app", ["a"], RACK), "mismatchLabelKeys": ["rev"]}
            ]
        }
    }
    # rev NotIn (1): avoid racks holding app-a pods of another revision, i.e. r1 where rev 2 runs
    assert place(snap, pod("a-y", labels={"app": "a", "rev": "1"}, affinity=anti)).node in {"r0-n0", "r0-n1"}


# --- topology spread ------------------------------------------------------------------------------


def test_topology_spread_do_not_schedule():
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": RACK,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "w"}},
        }
    ]
    snap = snapshot_of(racks())
    for i in range(4):
        p = pod(f"w-{i}", labels={"app": "w"}, topologySpreadConstraints=spread)
        placement = place(snap, p)
        assert placement.node is not None
        p["spec"]["nodeName"] = placement.node
        snap.add_pod(pod_info(p))
    per_rack = [snap.nodes[n].labels[RACK] for n in (pi.node_name for pi in snap.pods.values())]
    assert per_rack.count("r0") == per_rack.count("r1") == 2
    # pinned to r0, only r0's nodes are spreading domains (nodeAffinityPolicy: Honor), so skew stays 1
    pinned = pod("w-4", labels={"app": "w"}, topologySpreadConstraints=spread, nodeSelector={RACK: "r0"})
    first = place(snap, pinned)
    assert first.node is not None
    pinned["spec"]["nodeName"] = first.node
    snap.add_pod(pod_info(pinned))
    pinned2 = pod("w-5", labels={"app": "w"}, topologySpreadConstraints=spread, nodeSelector={RACK: "r0"})
    assert place(snap, pinned2).node is not None
    free = pod("w-5", labels={"app": "w"}, topologySpreadConstraints=spread)
    assert snap.nodes[place(snap, free).node].labels[RACK] == "r1"


def test_topology_spread_missing_label():
    spread = [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {}}
    ]
    snap = snapshot_of([node("a")])
    assert place(snap, pod("p", topologySpreadConstraints=spread)).message == (
        "0/1 nodes are available: "
        "1 node(s) didn't match pod topology spread constraints (missing required label)."
    )


# --- messages and scoring -------------------------------------------------------------------------


def test_message_mixes_reasons_like_kube_scheduler():
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [affinity_term("app", ["x"], HOST)]
        }
    }
    nodes = [node(f"gpu-{i}", **{"nvidia.com/gpu": "8"}) for i in range(4)] + [
        node(f"cpu-{i}") for i in range(4)
    ]
    existing = [pod(f"x-{i}", labels={"app": "x"}, node_name=f"gpu-{i}") for i in range(4)]
    snap = snapshot_of(nodes, existing)
    placement = place(
        snap, pod("x-new", labels={"app": "x"}, affinity=anti, requests={"nvidia.com/gpu": "8"})
    )
    assert placement.message == (
        "0/8 nodes are available: "
        "4 Insufficient nvidia.com/gpu, 4 node(s) didn't match pod anti-affinity rules."
    )


def test_scoring_prefers_preferred_affinity_then_least_allocated_then_name():
    snap = snapshot_of([node("a", {"disk": "hdd"}), node("b", {"disk": "ssd"}), node("c", {"disk": "hdd"})])
    assert place(snap, pod("p")).node == "a"
    snap.add_pod(pod_info(pod("busy", node_name="a", requests={"cpu": "2"})))
    assert place(snap, pod("p")).node == "b"
    preferred = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 10,
                    "preference": {
                        "matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]
                    },
                }
            ]
        }
    }
    assert place(snap, pod("p", affinity=preferred)).node == "c"
    with_friend = {
        "podAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 5, "podAffinityTerm": affinity_term("app", ["db"], HOST)}
            ]
        }
    }
    snap.add_pod(pod_info(pod("db", labels={"app": "db"}, node_name="c")))
    assert place(snap, pod("p", affinity=with_friend)).node == "c"


def test_large_topology_places_a_thousand_pods():
    """1,000 GPU pods on the 512-node fixture: every pod placed, no node over capacity."""
    snap = ClusterSnapshot()
    for n in load_topology("gpu-large").nodes():
        snap.set_node(n)
    for i in range(1000):
        p = pod(f"w-{i}", labels={"app": "w", "group": str(i // 4)}, requests={"nvidia.com/gpu": "4"})
        placement = place(snap, p)
        assert placement.node is not None
        p["spec"]["nodeName"] = placement.node
        snap.add_pod(pod_info(p))
    assert all(info.requested["nvidia.com/gpu"] <= 8000 for info in snap.nodes.values())


def test_topology_nodes_feed_the_snapshot():
    topo = parse_topology({"levels": [{"key": HOST, "count": 2}], "node": {"capacity": {"cpu": "1"}}})
    snap = snapshot_of(topo.nodes())
    assert place(snap, pod("p", requests={"cpu": "1"})).node == "node-0"
