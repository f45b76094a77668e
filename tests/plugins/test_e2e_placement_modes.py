"""The placement plugin's modes, end to end: where groups land on the embedded cluster, read from
``lws simulate`` (a fresh cluster with the operator per run, so every case starts with all capacity free).

Every pod asks for whole GPUs, so capacity decides what fits: on ``gpu-small`` (one zone, two racks of four
8-GPU nodes) a pod of 8 GPUs takes a node; on ``gpu-multilevel`` (zone > block > rack, four 8-GPU nodes per
rack) pods of 4 GPUs go two to a node and a group of 8 fills a rack. Upstream's ``exclusive-topology``
annotation is proven in ``tests/operator/test_e2e_placement.py`` and ``tests/demo/test_simulate_command.py``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lws.api import constants as c
from lws.plugin_testing import lws_manifest
from tests.operator.e2e_kit import Obj
from tests.plugins.plugin_cluster import placed_set, simulate

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("restore_logging")]

ZONE = "topology.kubernetes.io/zone"
BLOCK = "example.com/block"
RACK = "example.com/rack"
MODE = "placement.lws.x-k8s.io/mode"
TOPOLOGY = "placement.lws.x-k8s.io/topology"


def gpu_set(name: str, *, replicas: int, size: int, gpus: int, annotations: dict[str, str]) -> Obj:
    server = {
        "name": "server",
        "image": "example.com/server:1",
        "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
    }
    return lws_manifest(name, replicas=replicas, size=size, annotations=annotations, containers=[server])


def placement(mode: str, *keys: str) -> dict[str, str]:
    return {MODE: mode, TOPOLOGY: ",".join(keys)}


def domain_of(group: dict[str, Any], level: str) -> str:
    """The one domain of ``level`` a fully placed group occupies."""
    assert group["missing"] == 0 and group["unschedulable"] == 0, group
    assert group["spans"][level] == 1, f"group {group['index']} spans {group['spans']}"
    return str(group["pods"][0]["topology"][level])


# --- one level: the three modes on two racks ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "replicas", "groups_per_rack"),
    [
        # colocate keeps each group in one rack, and lets groups share one (here, the first fills it)
        ("colocate", 2, [2]),
        # spread and exclusive-in-set give each group a rack of its own while there are racks enough
        ("spread", 2, [1, 1]),
        ("exclusive-in-set", 2, [1, 1]),
        # with more groups than racks spreading is only a preference: every group is still placed
        ("spread", 3, [2, 1]),
    ],
)
def test_each_mode_keeps_groups_whole_and_shares_racks_as_it_says(
    tmp_path: Path, mode: str, replicas: int, groups_per_rack: list[int]
) -> None:
    body = gpu_set("mode", replicas=replicas, size=2, gpus=8, annotations=placement(mode, RACK))
    placed = placed_set(simulate(tmp_path, "gpu-small", body), "mode")

    assert (placed["placed"], placed["unschedulable"], placed["missing"]) == (2 * replicas, 0, 0)
    racks = Counter(domain_of(group, RACK) for group in placed["groups"])
    assert sorted(racks.values(), reverse=True) == groups_per_rack, racks


def test_exclusive_in_set_leaves_a_group_without_a_rack_of_its_own_unschedulable(tmp_path: Path) -> None:
    body = gpu_set("excl", replicas=3, size=2, gpus=8, annotations=placement("exclusive-in-set", RACK))
    placed = placed_set(simulate(tmp_path, "gpu-small", body), "excl")

    whole = [g for g in placed["groups"] if g["placed"] == 2]
    assert len({domain_of(g, RACK) for g in whole}) == 2, "two groups, one rack each"
    (stuck,) = [g for g in placed["groups"] if g["placed"] == 0]
    # Both pods exist (workers do not wait for their leader's node) and neither may join another group.
    assert (stuck["unschedulable"], stuck["missing"]) == (2, 0)
    for pod in stuck["pods"]:
        assert pod["unschedulable"]["reason"] == "Unschedulable"
        assert "didn't match pod anti-affinity rules" in pod["unschedulable"]["message"]


@pytest.mark.parametrize(
    ("annotations", "groups_placed"),
    [
        (placement("exclusive-in-set", RACK), 4),
        # upstream's annotation keeps out the groups of every LeaderWorkerSet in the namespace (#539): one
        # group per rack, whichever set it belongs to
        ({c.EXCLUSIVE_KEY_ANNOTATION: RACK}, 2),
    ],
    ids=["exclusive-in-set", "upstream-exclusive-topology"],
)
def test_exclusive_in_set_does_not_keep_out_another_sets_groups(
    tmp_path: Path, annotations: dict[str, str], groups_placed: int
) -> None:
    """Two sets of two groups on two racks of four nodes: each rack has room for one group of each set."""
    first = gpu_set("first", replicas=2, size=2, gpus=8, annotations=annotations)
    second = gpu_set("second", replicas=2, size=2, gpus=8, annotations=annotations)
    report = simulate(tmp_path, "gpu-small", first, second)

    groups = [g for name in ("first", "second") for g in placed_set(report, name)["groups"]]
    whole = [g for g in groups if g["placed"] == 2]
    assert len(whole) == groups_placed
    assert all(g["placed"] == 0 for g in groups if g not in whole), "the others are not placed at all"
    for name in ("first", "second"):
        own = [g for g in whole if g in placed_set(report, name)["groups"]]
        assert len({domain_of(g, RACK) for g in own}) == len(own), "a set's groups never share a rack"


# --- several levels: zone > block > rack ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "keys", "spans"),
    [
        # 8 pods x 4 GPUs fit in one rack: the heaviest preferred level keeps them there
        (8, (ZONE, BLOCK, RACK), {ZONE: 1, BLOCK: 1, RACK: 1}),
        # 16 pods fit in no rack, but in one block: they take both racks of one block
        (16, (ZONE, BLOCK, RACK), {ZONE: 1, BLOCK: 1, RACK: 2}),
        # without the inner levels the scheduler fills the emptiest nodes first, whatever their rack
        (8, (ZONE,), {ZONE: 1, BLOCK: 1, RACK: 2}),
        (16, (ZONE,), {ZONE: 1, BLOCK: 2, RACK: 4}),
    ],
    ids=["rack-sized-in-one-rack", "block-sized-in-one-block", "zone-only-8", "zone-only-16"],
)
def test_a_group_lands_in_the_tightest_level_that_fits_it(
    tmp_path: Path, size: int, keys: tuple[str, ...], spans: dict[str, int]
) -> None:
    body = gpu_set("tight", replicas=1, size=size, gpus=4, annotations=placement("colocate", *keys))
    placed = placed_set(simulate(tmp_path, "gpu-multilevel", body), "tight")

    (group,) = placed["groups"]
    assert (group["placed"], group["unschedulable"], group["missing"]) == (size, 0, 0)
    assert {level: group["spans"][level] for level in spans} == spans


@pytest.mark.parametrize("mode", ["spread", "exclusive-in-set"])
def test_groups_keep_apart_at_the_outermost_level_and_tight_within_it(tmp_path: Path, mode: str) -> None:
    body = gpu_set("apart", replicas=2, size=8, gpus=4, annotations=placement(mode, ZONE, BLOCK, RACK))
    placed = placed_set(simulate(tmp_path, "gpu-multilevel", body), "apart")

    zones = {domain_of(group, ZONE) for group in placed["groups"]}
    assert zones == {"zone-a", "zone-b"}, "one zone per group"
    assert all(domain_of(group, RACK) for group in placed["groups"]), "each group in one rack"
