"""Plugins see roles: a DisaggregatedSet's children are ordinary LeaderWorkerSets, so each role gets its own
plugin wiring from the annotations on its ``roles[i].metadata``, with no plugin code that knows about
DisaggregatedSets.

A prefill role (vLLM, two 8-GPU pods per group, kept in one rack by the placement plugin), a decode role
(vLLM, one 4-GPU pod) and an encode role (SGLang, two 1-GPU pods) each get their own parallel sizes, ranks
and leader address; a role whose sizes do not fit is refused by the DisaggregatedSet webhook with the
child's error, named under that role.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.cluster.resources import DISAGGREGATEDSETS, NODES, PODS
from lws.sim.testing import wait_until
from tests.operator.e2e_kit import Obj
from tests.plugins.plugin_cluster import PluginCluster, env_map, worker_index

pytestmark = pytest.mark.e2e

RACK = "example.com/rack"


def server_role(name: str, *, size: int, gpus: int, annotations: dict[str, str]) -> Obj:
    server = {
        "name": "server",
        "image": f"example.com/{name}:1",
        "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
    }
    return {
        "name": name,
        "metadata": {"annotations": annotations},
        "spec": {
            "replicas": 1,
            "leaderWorkerTemplate": {"size": size, "workerTemplate": {"spec": {"containers": [server]}}},
        },
    }


def disaggregated(*roles: Obj) -> Obj:
    return {
        "apiVersion": d.API_VERSION,
        "kind": d.KIND,
        "metadata": {"name": "pd"},
        "spec": {"roles": list(roles)},
    }


VLLM = {"vllm.lws.x-k8s.io/launch": "native"}
SGLANG = {"sglang.lws.x-k8s.io/launch": "native"}
COLOCATE = {"placement.lws.x-k8s.io/mode": "colocate", "placement.lws.x-k8s.io/topology": RACK}


def _apply(env: PluginCluster, ns: str, body: Obj, *, check: bool = True) -> Any:
    return env.kube.kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(body), check=check)


def _running(env: PluginCluster, ns: str, role: str) -> list[Obj]:
    pods = env.kube.list(PODS, ns, f"{d.SET_NAME_LABEL}=pd,{d.ROLE_LABEL}={role}")
    return sorted(
        (p for p in pods if (p.get("status") or {}).get("phase") == "Running"),
        key=lambda p: str(p["metadata"]["name"]),
    )


def test_each_role_gets_its_own_inference_wiring_and_placement(
    default_plugins: PluginCluster, ns: str
) -> None:
    env = default_plugins
    body = disaggregated(
        server_role("prefill", size=2, gpus=8, annotations={**VLLM, **COLOCATE}),
        server_role("decode", size=1, gpus=4, annotations=VLLM),
        server_role("encode", size=2, gpus=1, annotations=SGLANG),
    )
    _apply(env, ns, body)

    def available() -> bool:
        obj = env.kube.get(DISAGGREGATEDSETS, ns, "pd") or {}
        return any(
            cd["type"] == d.CONDITION_AVAILABLE and cd["status"] == "True"
            for cd in (obj.get("status") or {}).get("conditions") or []
        )

    wait_until(available, 60, "the DisaggregatedSet to be Available")
    wanted = {"prefill": ("8", "2", "2"), "decode": ("4", "1", "1"), "encode": ("2", "1", "2")}
    for role, (tensor, pipeline, nodes) in wanted.items():
        pods = _running(env, ns, role)
        assert len(pods) == int(nodes), role
        for pod in pods:
            (server,) = pod["spec"]["containers"]
            wired = env_map(server)
            rank = worker_index(pod)
            assert (wired["TENSOR_PARALLEL_SIZE"], wired["PIPELINE_PARALLEL_SIZE"]) == (tensor, pipeline), (
                role
            )
            assert (wired["NNODES"], wired["NODE_RANK"]) == (nodes, str(rank)), role
            set_name = pod["metadata"]["labels"][c.SET_NAME_LABEL]
            group = pod["metadata"]["labels"][c.GROUP_INDEX_LABEL]
            assert wired["MASTER_ADDR"] == f"{set_name}-{group}.{set_name}.{ns}", "its own group's leader"
            if role == "encode":
                assert wired["DIST_INIT_ADDR"] == f"{set_name}-{group}.{set_name}.{ns}:20000"
            else:
                assert "DIST_INIT_ADDR" not in wired, "vLLM wiring, not SGLang's"
    racks = {n["metadata"]["name"]: n["metadata"]["labels"][RACK] for n in env.kube.list(NODES, None)}
    prefill_racks = {racks[p["spec"]["nodeName"]] for p in _running(env, ns, "prefill")}
    assert len(prefill_racks) == 1, f"the prefill group colocated in one rack: {prefill_racks}"


def test_a_role_whose_parallel_sizes_do_not_fit_is_refused_naming_the_role(
    default_plugins: PluginCluster, ns: str
) -> None:
    env = default_plugins
    body = disaggregated(
        server_role(
            "prefill", size=2, gpus=8, annotations={**VLLM, "vllm.lws.x-k8s.io/tensor-parallel-size": "3"}
        ),
        server_role("decode", size=1, gpus=4, annotations=VLLM),
    )
    result = _apply(env, ns, body, check=False)
    assert result.returncode != 0
    assert d.WEBHOOK_NAME_VALIDATE in result.stderr, result.stderr
    assert "spec.roles[0]" in result.stderr and "(in the child LeaderWorkerSet pd-0-" in result.stderr
    assert "(plugin vllm)" in result.stderr, result.stderr
    assert env.kube.get(DISAGGREGATEDSETS, ns, "pd") is None
