"""`lws simulate`: placement modes land where they say, on a real embedded cluster with the operator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from lws.cli.main import cli
from lws.plugin_testing import lws_manifest

pytestmark = pytest.mark.e2e

RACKS = Path(__file__).parent / "racks.yaml"
RACK = "example.com/rack"
ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"


#: One container that takes a whole 8-GPU node, so every pod needs a node of its own.
WHOLE_NODE = [{"name": "srv", "image": "srv:1", "resources": {"limits": {"nvidia.com/gpu": "8"}}}]


def lws(name: str, *, replicas: int, size: int, annotations: dict[str, str]) -> dict[str, Any]:
    """A set whose every pod takes a whole 8-GPU node."""
    return lws_manifest(name, replicas=replicas, size=size, annotations=annotations, containers=WHOLE_NODE)


def simulate(tmp_path: Path, *objects: dict[str, Any], args: tuple[str, ...] = ()) -> Result:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump_all(objects))
    return CliRunner().invoke(cli, ["simulate", "-f", str(manifest), "--topology", str(RACKS), *args])


def test_exclusive_in_set_puts_each_group_in_a_rack_of_its_own_and_json_keeps_its_schema(
    tmp_path: Path,
) -> None:
    mode = {"placement.lws.x-k8s.io/mode": "exclusive-in-set", "placement.lws.x-k8s.io/topology": RACK}
    result = simulate(tmp_path, lws("excl", replicas=3, size=2, annotations=mode), args=("-o", "json"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)

    assert report["topology"] == {"name": "racks", "nodes": 6, "levels": [ZONE, RACK, HOST]}
    assert "placement" in report["plugins"] and report["settled"] is True
    assert isinstance(report["seconds"], float)
    [placed] = report["leaderWorkerSets"]
    assert {k: placed[k] for k in ("namespace", "name", "replicas", "size")} == {
        "namespace": "default",
        "name": "excl",
        "replicas": 3,
        "size": 2,
    }
    assert (placed["placed"], placed["unschedulable"], placed["missing"]) == (6, 0, 0)
    assert placed["annotations"]["placement.lws.x-k8s.io/mode"] == "exclusive-in-set"
    racks = []
    for index, group in enumerate(placed["groups"]):
        assert group["index"] == index
        assert group["spans"] == {ZONE: 1, RACK: 1, HOST: 2}
        assert (group["placed"], group["unschedulable"], group["missing"]) == (2, 0, 0)
        assert [(p["name"], p["role"], p["workerIndex"]) for p in group["pods"]] == [
            (f"excl-{index}", "leader", 0),
            (f"excl-{index}-1", "worker", 1),
        ]
        for pod in group["pods"]:
            assert pod["phase"] == "Running" and pod["unschedulable"] is None
            assert pod["topology"][HOST] == pod["node"]
            assert pod["node"].startswith(pod["topology"][RACK] + "-")
        racks.append(group["pods"][0]["topology"][RACK])
    assert sorted(racks) == ["zone-a-rack-0", "zone-a-rack-1", "zone-a-rack-2"], "one rack per group"


def test_a_group_too_big_for_any_rack_is_reported_unschedulable_with_the_schedulers_reason(
    tmp_path: Path,
) -> None:
    mode = {"placement.lws.x-k8s.io/mode": "colocate", "placement.lws.x-k8s.io/topology": RACK}
    result = simulate(tmp_path, lws("big", replicas=1, size=3, annotations=mode))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()

    assert "LeaderWorkerSet default/big: 1 group of 3 pods; 2 placed, 1 unschedulable" in lines
    header = next(line for line in lines if line.strip().startswith("GROUP"))
    assert header.split() == ["GROUP", "POD", "NODE", "ZONE", "RACK", "STATUS"]
    rows = [line.split() for line in lines if line.strip().startswith(("0 ", "big-"))]
    placed = [row for row in rows if row[-1] == "Running"]
    pending = [row for row in rows if row[-1] == "Unschedulable"]
    assert len(placed) == 2 and len(pending) == 1, rows
    assert len({row[-2] for row in placed}) == 1, "the two placed pods share one rack"
    assert "  group 0: 2/3 placed, in 1 zone, 1 rack, 2 nodes, 1 unschedulable" in lines
    name = next(token for token in pending[0] if token.startswith("big-"))
    [reason] = [line for line in lines if line.startswith("    big-")]
    assert reason.startswith(f"    {name}: Unschedulable: 0/6 nodes are available"), reason


def test_upstream_exclusive_topology_leaves_the_extra_leader_pending_and_its_workers_uncreated(
    tmp_path: Path,
) -> None:
    upstream = {"leaderworkerset.sigs.k8s.io/exclusive-topology": RACK}
    result = simulate(tmp_path, lws("up", replicas=4, size=2, annotations=upstream), args=("-o", "json"))
    assert result.exit_code == 0, result.output
    [placed] = json.loads(result.stdout)["leaderWorkerSets"]

    assert (placed["placed"], placed["unschedulable"], placed["missing"]) == (6, 1, 1)
    full = [g for g in placed["groups"] if g["placed"] == 2]
    assert len(full) == 3 and all(g["spans"][RACK] == 1 for g in full)
    assert len({g["pods"][0]["topology"][RACK] for g in full}) == 3, "each group alone in its rack"
    [stuck] = [g for g in placed["groups"] if g["placed"] == 0]
    assert (stuck["unschedulable"], stuck["missing"]) == (1, 1)
    [leader] = stuck["pods"]
    assert leader["role"] == "leader" and leader["node"] is None and leader["phase"] == "Pending"
    assert leader["topology"] == {}
    assert leader["unschedulable"]["reason"] == "Unschedulable"
    assert "0/6 nodes are available" in leader["unschedulable"]["message"]


def test_an_invalid_manifest_gets_error_lines_and_no_cluster(tmp_path: Path) -> None:
    too_small = lws("bad", replicas=1, size=0, annotations={})
    unknown_mode = lws("odd", replicas=1, size=1, annotations={"placement.lws.x-k8s.io/mode": "everywhere"})
    result = simulate(tmp_path, too_small, unknown_mode)
    assert result.exit_code == 1
    assert result.stdout == ""
    errors = result.stderr.splitlines()
    assert errors and all(line.startswith("error: ") for line in errors), errors
    assert any("LeaderWorkerSet default/bad" in line and "size" in line for line in errors), errors
    assert any("LeaderWorkerSet default/odd" in line and "everywhere" in line for line in errors), errors


def test_an_unknown_topology_is_a_usage_error_naming_the_shipped_ones(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump(lws("x", replicas=1, size=1, annotations={})))
    result = CliRunner().invoke(cli, ["simulate", "-f", str(manifest), "--topology", "nope"])
    assert result.exit_code == 2
    assert "Invalid value for --topology" in result.stderr
    assert "no topology named 'nope'" in result.stderr and "gpu-large" in result.stderr
    assert "Traceback" not in result.output


def test_input_without_a_leaderworkerset_is_an_error(tmp_path: Path) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80}]},
    }
    result = simulate(tmp_path, service)
    assert result.exit_code == 1
    assert "error: no LeaderWorkerSet or DisaggregatedSet in" in result.stderr


@pytest.mark.parametrize(("topology", "placed"), [("standard", True), ("gpu-small", False)])
def test_pods_for_a_second_scheduler_are_placed_only_where_the_cluster_serves_it(
    tmp_path: Path, topology: str, placed: bool
) -> None:
    """`standard` has a volcano scheduler profile: its pods are waited for and placed. Elsewhere they
    are reported as having no scheduler, without waiting for the timeout."""
    body = lws_manifest("gang", replicas=1, size=2)
    body["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["schedulerName"] = "volcano"
    manifest = tmp_path / "gang.yaml"
    manifest.write_text(yaml.safe_dump(body))
    result = CliRunner().invoke(cli, ["simulate", "-f", str(manifest), "--topology", topology, "-o", "json"])
    assert result.exit_code == 0, result.output
    [lws_report] = json.loads(result.stdout)["leaderWorkerSets"]
    pods = [pod for group in lws_report["groups"] for pod in group["pods"]]
    assert len(pods) == 2
    if placed:
        assert all(pod["node"] for pod in pods), pods
    else:
        assert all(pod["node"] is None for pod in pods)
        assert {pod["unschedulable"]["reason"] for pod in pods} == {"NoScheduler"}


def test_hash_groups_are_reported_by_their_keys(tmp_path: Path) -> None:
    # groupIdentity Hash: no ordinals; each group is its key (the text report shows the 8 characters its
    # leader's host name carries), with its leader and its workers.
    obj = lws("hashed", replicas=2, size=2, annotations={})
    obj["spec"]["groupIdentity"] = "Hash"
    result = simulate(tmp_path, obj, args=("-o", "json"))
    assert result.exit_code == 0, result.output
    [placed] = json.loads(result.stdout)["leaderWorkerSets"]
    assert (placed["placed"], placed["unschedulable"], placed["missing"]) == (4, 0, 0)
    keys = [group["index"] for group in placed["groups"]]
    assert len(keys) == 2 and all(isinstance(k, str) and len(k) == 40 for k in keys), keys
    text = simulate(tmp_path, obj)
    assert text.exit_code == 0, text.output
    assert sum(1 for line in text.stdout.splitlines() if line.strip().startswith("group ")) == 2


def test_a_disaggregatedset_is_placed_slice_by_slice_with_its_roles_named() -> None:
    """ExclusiveSlice on racks: each slice's prefill and decode groups share a rack, the slices take
    different racks; every child LeaderWorkerSet is reported with its set, role and slice."""
    whole_node = {"spec": {"containers": WHOLE_NODE}}
    roles = [
        {"name": name, "spec": {"replicas": 1, "leaderWorkerTemplate": {"workerTemplate": whole_node}}}
        for name in ("prefill", "decode")
    ]
    ds = {
        "apiVersion": "disaggregatedset.x-k8s.io/v1",
        "kind": "DisaggregatedSet",
        "metadata": {"name": "pd"},
        "spec": {
            "slices": 2,
            "placementPolicy": {"type": "ExclusiveSlice", "topology": RACK},
            "roles": roles,
        },
    }
    result = CliRunner().invoke(
        cli, ["simulate", "-f", "-", "--topology", str(RACKS), "-o", "json"], input=yaml.safe_dump(ds)
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["settled"] is True
    children = report["leaderWorkerSets"]
    assert sorted((c["disaggregatedSet"]["role"], c["disaggregatedSet"]["slice"]) for c in children) == [
        ("decode", 0),
        ("decode", 1),
        ("prefill", 0),
        ("prefill", 1),
    ]
    assert all(c["disaggregatedSet"]["name"] == "pd" and c["placed"] == 1 for c in children)
    racks: dict[int, set[str]] = {}
    for child in children:
        for group in child["groups"]:
            for pod in group["pods"]:
                racks.setdefault(child["disaggregatedSet"]["slice"], set()).add(pod["topology"][RACK])
    assert all(len(r) == 1 for r in racks.values()), f"each slice within one rack: {racks}"
    assert len(racks[0] | racks[1]) == 2, f"the slices in different racks: {racks}"

    text = CliRunner().invoke(
        cli, ["simulate", "-f", "-", "--topology", str(RACKS)], input=yaml.safe_dump(ds)
    )
    assert text.exit_code == 0, text.output
    assert "(DisaggregatedSet pd, role prefill, slice 1)" in text.stdout
