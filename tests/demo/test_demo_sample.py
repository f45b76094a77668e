"""The demo's LeaderWorkerSet fits its topology, and what the narrator says about it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import lws.demo
from lws.cli.main import cli
from lws.demo.sample import SampleError, Shape, load_sample, shape_for, sized
from lws.demo.scenario import wiring, with_tag
from lws.sim.topology import load_topology, parse_topology

RACK = "example.com/rack"


def topology(racks: int, nodes: int, gpus: str = "8") -> dict:
    return {
        "name": "t",
        "levels": [{"key": RACK, "count": racks}, {"key": "kubernetes.io/hostname", "count": nodes}],
        "node": {"capacity": {"nvidia.com/gpu": gpus}},
    }


@pytest.mark.parametrize(
    ("name", "gpus", "key"),
    [("gpu-small", 8, RACK), ("gpu-multilevel", 8, RACK), ("gpu-large", 8, RACK)],
)
def test_the_sample_fits_every_shipped_gpu_topology(name: str, gpus: int, key: str) -> None:
    shape = shape_for(load_topology(name), load_sample())
    assert shape == Shape(gpus_per_pod=gpus, size=2, replicas=2, placement_key=key)
    assert shape.scaled_replicas == 3


def test_gpus_per_pod_follow_the_nodes_and_the_placement_level_is_the_one_above_them() -> None:
    shape = shape_for(parse_topology(topology(3, 2, gpus="4")), load_sample())
    body = sized(load_sample(), shape)
    container = body["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert body["metadata"]["annotations"]["placement.lws.x-k8s.io/topology"] == RACK
    assert load_sample()["metadata"]["annotations"]["vllm.lws.x-k8s.io/launch"] == "ray", (
        "the sample is unchanged"
    )


def test_racks_too_small_for_a_group_drop_the_placement_annotations() -> None:
    shape = shape_for(parse_topology(topology(6, 1)), load_sample())
    assert shape.placement_key is None
    annotations = sized(load_sample(), shape)["metadata"]["annotations"]
    assert not [key for key in annotations if key.startswith("placement.lws.x-k8s.io/")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (topology(1, 4, gpus="0"), "has no nodes with nvidia.com/gpu"),
        (topology(1, 5), "has 5 nodes with 8 GPUs; the demo needs 6 (3 groups of 2 pods once scaled up)"),
    ],
)
def test_a_topology_that_cannot_hold_the_demo_says_why(data: dict, message: str) -> None:
    with pytest.raises(SampleError, match="use --topology gpu-"):
        shape_for(parse_topology(data), load_sample())
    with pytest.raises(SampleError) as error:
        shape_for(parse_topology(data), load_sample())
    assert message in str(error.value)


def test_the_shipped_sample_is_a_valid_leaderworkerset() -> None:
    # The file users are pointed at (README, `lws simulate --help`) passes the admission rules as shipped.
    result = CliRunner().invoke(cli, ["validate", "-f", str(Path(lws.demo.__file__).with_name("vllm.yaml"))])
    assert result.exit_code == 0, result.stderr
    assert "ok: 1 LeaderWorkerSet valid" in result.stderr


@pytest.mark.parametrize(
    ("image", "tagged"),
    [
        ("vllm/vllm-openai:v0.10.2", "vllm/vllm-openai:v1"),
        ("vllm/vllm-openai", "vllm/vllm-openai:v1"),
        ("registry:5000/vllm", "registry:5000/vllm:v1"),
    ],
)
def test_with_tag(image: str, tagged: str) -> None:
    assert with_tag(image, "v1") == tagged


def test_wiring_shows_the_env_the_command_and_the_services() -> None:
    leader = {
        "metadata": {"name": "vllm-0"},
        "spec": {
            "containers": [
                {
                    "env": [
                        {"name": "LWS_GROUP_SIZE", "value": "2"},
                        {"name": "HF_TOKEN", "valueFrom": {}},
                        {"name": "NODE_RANK", "value": "0"},
                    ],
                    "command": ["sh", "-c", 'ray start --head ...; exec vllm serve "$@"', "vllm-leader"],
                    "args": ["my/model", "--port", "8000"],
                }
            ]
        },
    }
    services = [{"metadata": {"name": "vllm-leader"}}, {"metadata": {"name": "vllm"}}]
    assert wiring(leader, services) == [
        "vllm-0 env: LWS_GROUP_SIZE=2, NODE_RANK=0",
        "vllm-0 runs: vllm serve my/model --port 8000 (once the Ray head has every node of the group)",
        "Services: vllm, vllm-leader",
    ]
    assert wiring({}, []) == []
