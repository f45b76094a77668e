"""Topology fixtures: YAML → validated Topology → Node objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from lws.sim.topology import (
    HOSTNAME_LABEL,
    TopologyError,
    builtin_topologies,
    load_topology,
    parse_topology,
)


def minimal(**changes: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "name": "t",
        "levels": [
            {"key": "topology.kubernetes.io/zone", "names": ["zone-a", "zone-b"]},
            {"key": "example.com/rack", "count": 2},
            {"key": HOSTNAME_LABEL, "count": 3, "prefix": "n"},
        ],
        "node": {"capacity": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": 8}},
    }
    doc.update(changes)
    return doc


def test_every_shipped_topology_loads_and_has_unique_nodes():
    names = builtin_topologies()
    assert {"tiny", "gpu-small", "gpu-multilevel", "tpu", "gpu-large"} <= set(names)
    for name in names:
        nodes = load_topology(name).nodes()
        node_names = [node["metadata"]["name"] for node in nodes]
        assert len(set(node_names)) == len(node_names), name
        ips = [node["status"]["addresses"][0]["address"] for node in nodes]
        assert len(set(ips)) == len(ips), name
        cidrs = [node["spec"]["podCIDR"] for node in nodes]
        assert len(set(cidrs)) == len(cidrs), name


def test_shipped_sizes_match_their_descriptions():
    assert len(load_topology("gpu-small").nodes()) == 8
    assert len(load_topology("gpu-large").nodes()) == 512
    racks = {node["metadata"]["labels"]["example.com/rack"] for node in load_topology("gpu-large").nodes()}
    assert len(racks) == 64


def test_levels_become_labels_whose_values_are_paths():
    nodes = parse_topology(minimal()).nodes()
    assert len(nodes) == 2 * 2 * 3
    last = nodes[-1]
    labels = last["metadata"]["labels"]
    assert labels["topology.kubernetes.io/zone"] == "zone-b"
    assert labels["example.com/rack"] == "zone-b-rack-1"
    assert labels[HOSTNAME_LABEL] == "zone-b-rack-1-n2" == last["metadata"]["name"]
    # rack values are distinct across zones, so a rack is one domain even with equal segment names
    racks = {node["metadata"]["labels"]["example.com/rack"] for node in nodes}
    assert racks == {"zone-a-rack-0", "zone-a-rack-1", "zone-b-rack-0", "zone-b-rack-1"}


def test_node_object_shape():
    node = parse_topology(minimal()).nodes()[0]
    assert node["apiVersion"] == "v1"
    assert node["kind"] == "Node"
    status = node["status"]
    assert status["capacity"] == {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "8", "pods": "110"}
    assert status["allocatable"] == status["capacity"]
    ready = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"
    assert "taints" not in node["spec"]


def test_overrides_change_matching_nodes_only():
    doc = minimal(
        overrides=[
            {
                "match": {"example.com/rack": "zone-b-rack-1"},
                "capacity": {"nvidia.com/gpu": "4"},
                "labels": {"gpu": "a100"},
                "taints": [{"key": "old", "value": "yes", "effect": "NoSchedule"}],
                "kubelet": {"startDelaySeconds": 2},
            }
        ],
        kubelet={"startDelaySeconds": 0.5, "readyDelaySeconds": 1},
    )
    topology = parse_topology(doc)
    specs = {spec.name: spec for spec in topology.node_specs()}
    changed = specs["zone-b-rack-1-n0"]
    same = specs["zone-a-rack-1-n0"]
    assert changed.capacity["nvidia.com/gpu"] == "4"
    assert changed.allocatable["nvidia.com/gpu"] == "4"
    assert changed.labels["gpu"] == "a100"
    assert changed.taints == ({"key": "old", "value": "yes", "effect": "NoSchedule"},)
    assert changed.timing.start_delay == 2
    assert changed.timing.ready_delay == 1
    assert same.capacity["nvidia.com/gpu"] == "8"
    assert "gpu" not in same.labels
    assert same.timing.start_delay == 0.5
    assert topology.timings()["zone-b-rack-1-n0"].start_delay == 2


def test_allocatable_may_be_smaller_than_capacity():
    doc = minimal(node={"capacity": {"cpu": "8"}, "allocatable": {"cpu": "7500m"}})
    node = parse_topology(doc).nodes()[0]
    assert node["status"]["allocatable"]["cpu"] == "7500m"
    assert node["status"]["capacity"]["cpu"] == "8"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"levels": []}, "levels"),
        ({"levels": [{"key": "example.com/rack", "count": 2}]}, "levels[0].key"),
        ({"levels": [{"key": HOSTNAME_LABEL, "count": 0}]}, "levels[0].count"),
        ({"levels": [{"key": HOSTNAME_LABEL, "count": "two"}]}, "levels[0].count"),
        ({"levels": [{"key": HOSTNAME_LABEL, "count": 2, "names": ["a"]}]}, "levels[0]"),
        ({"levels": [{"key": HOSTNAME_LABEL, "names": ["a", "a"]}]}, "levels[0].names"),
        ({"levels": [{"key": HOSTNAME_LABEL, "count": 1, "size": 3}]}, "levels[0].size"),
        ({"node": {"capacity": {"cpu": "eight"}}}, "node.capacity.cpu"),
        ({"node": {"capacity": {"cpu": "8"}, "labels": {"tier": 1}}}, "node.labels.tier"),
        ({"node": {"capacity": {}, "labels": {HOSTNAME_LABEL: "x"}}}, f"node.labels.{HOSTNAME_LABEL}"),
        ({"node": {"taints": [{"key": "k", "effect": "Sometimes"}]}}, "node.taints[0].effect"),
        ({"kubelet": {"startDelaySeconds": -1}}, "kubelet.startDelaySeconds"),
        ({"kubelet": {"startDelay": 1}}, "kubelet.startDelay"),
        ({"overrides": [{"capacity": {"cpu": "1"}}]}, "overrides[0].match"),
        ({"zones": 3}, "zones"),
    ],
)
def test_validation_errors_name_the_bad_key(changes, named):
    with pytest.raises(TopologyError) as caught:
        parse_topology(minimal(**changes), source="bad.yaml")
    message = str(caught.value)
    assert "bad.yaml" in message
    assert f"{named}:" in message


def test_load_by_path_and_unknown_name(tmp_path: Path):
    path = tmp_path / "mine.yaml"
    path.write_text("levels:\n  - {key: kubernetes.io/hostname, count: 2}\n", encoding="utf-8")
    topology = load_topology(path)
    assert topology.name == "mine"
    assert [node["metadata"]["name"] for node in topology.nodes()] == ["node-0", "node-1"]
    with pytest.raises(TopologyError, match=r"no topology named 'nope'.*tiny"):
        load_topology("nope")
    with pytest.raises(TopologyError, match="does not exist"):
        load_topology(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("levels: [\n", encoding="utf-8")
    with pytest.raises(TopologyError, match="not valid YAML"):
        load_topology(tmp_path / "broken.yaml")


def test_scheduler_names_default_to_the_default_scheduler_and_can_be_listed() -> None:
    base = {
        "name": "t",
        "levels": [{"key": "kubernetes.io/hostname", "count": 1}],
        "node": {"capacity": {"cpu": "1"}},
    }
    assert parse_topology(base).scheduler_names == ("default-scheduler",)
    assert parse_topology({**base, "schedulerNames": ["default-scheduler", "volcano"]}).scheduler_names == (
        "default-scheduler",
        "volcano",
    )
    with pytest.raises(TopologyError, match="schedulerNames"):
        parse_topology({**base, "schedulerNames": []})
