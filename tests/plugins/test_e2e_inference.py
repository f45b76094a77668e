"""The vllm and sglang plugins, end to end: a LeaderWorkerSet applied with kubectl becomes groups of pods
wired for a multi-node inference server (env, shared memory, the leader's port and readiness probe), the
leader Service selects exactly the leaders, and admission turns away parallel sizes that do not fit."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from lws_builtins import vllm

from lws.api import constants as c
from lws.cluster.resources import PODS, SERVICES
from lws.plugin_testing import lws_manifest
from lws.sim.selectors import label_selector_from_dict
from tests.operator.e2e_kit import Obj
from tests.plugins.plugin_cluster import PluginCluster, env_map, worker_index

pytestmark = pytest.mark.e2e


def server_set(name: str, *, size: int, gpus: int, annotations: dict[str, str], container: str) -> Obj:
    """``replicas: 2`` groups of ``size`` pods, each asking for ``gpus`` GPUs, nothing else wired by hand."""
    server = {
        "name": container,
        "image": f"example.com/{container}:1",
        "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
    }
    return lws_manifest(name, replicas=2, size=size, annotations=annotations, containers=[server])


def apply(env: PluginCluster, ns: str, body: Obj, *, check: bool = True) -> Any:
    return env.kube.kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(body), check=check)


def shared_memory(pod: Obj, container: Obj) -> tuple[Obj, list[str]]:
    volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
    mounts = [m["name"] for m in container.get("volumeMounts") or [] if m["mountPath"] == "/dev/shm"]
    return volumes.get("lws-dshm", {}), mounts


def assert_leader_service(env: PluginCluster, ns: str, name: str, port: int) -> None:
    """``<name>-leader``: ClusterIP on the API port, owned by the set, selecting exactly its leaders."""
    service = env.kube.get(SERVICES, ns, f"{name}-leader")
    assert service is not None
    spec = service["spec"]
    assert spec["type"] == "ClusterIP" and spec["clusterIP"] not in ("", "None")
    assert [(p["port"], p["targetPort"]) for p in spec["ports"]] == [(port, port)]
    (owner,) = service["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == (c.KIND, name)
    selector = label_selector_from_dict({"matchLabels": spec["selector"]})
    selected = {
        p["metadata"]["name"] for p in env.kube.list(PODS, ns) if selector.matches(p["metadata"]["labels"])
    }
    assert selected == {f"{name}-0", f"{name}-1"}, "the leaders of both groups, and no worker"


def test_vllm_ray_groups_are_wired_and_reachable_through_the_leader_service(
    default_plugins: PluginCluster, ns: str
) -> None:
    env = default_plugins
    annotations = {
        "vllm.lws.x-k8s.io/launch": "ray",
        "vllm.lws.x-k8s.io/command": "auto",
        "vllm.lws.x-k8s.io/model": "meta-llama/Llama-3.1-70B-Instruct",
        "vllm.lws.x-k8s.io/leader-service": "true",
    }
    apply(env, ns, server_set("llm", size=2, gpus=8, annotations=annotations, container="vllm"))
    env.kube.wait_available(ns, "llm")

    pods = env.pods(ns, "llm")
    assert [p["metadata"]["name"] for p in pods] == ["llm-0", "llm-0-1", "llm-1", "llm-1-1"]
    for pod in pods:
        (server,) = pod["spec"]["containers"]
        rank = worker_index(pod)
        leader = f"llm-{pod['metadata']['labels'][c.GROUP_INDEX_LABEL]}.llm.{ns}"
        wired = {k: v for k, v in env_map(server).items() if not k.startswith("LWS_")}
        assert wired == {
            "MASTER_ADDR": leader,
            "MASTER_PORT": "29501",
            "NNODES": "2",
            "NODE_RANK": str(rank),
            "TENSOR_PARALLEL_SIZE": "8",
            "PIPELINE_PARALLEL_SIZE": "2",
            "RAY_PORT": "6379",
        }
        volume, mounts = shared_memory(pod, server)
        assert volume["emptyDir"] == {"medium": "Memory", "sizeLimit": "16Gi"} and mounts == ["lws-dshm"]
        if rank == 0:
            assert server["readinessProbe"]["httpGet"] == {"path": "/health", "port": 8000, "scheme": "HTTP"}
            assert [p["containerPort"] for p in server["ports"]] == [8000]
            assert server["command"] == ["sh", "-c", vllm.RAY_LEADER_SCRIPT, "vllm-leader"]
            assert server["args"] == [
                "meta-llama/Llama-3.1-70B-Instruct",
                "--tensor-parallel-size",
                "8",
                "--pipeline-parallel-size",
                "2",
                "--distributed-executor-backend",
                "ray",
                "--host",
                "0.0.0.0",
                "--port",
                "8000",
            ]
        else:
            assert "readinessProbe" not in server and not server.get("ports")
            assert server["command"] == ["sh", "-c", vllm.RAY_WORKER_SCRIPT] and not server.get("args")
    assert_leader_service(env, ns, "llm", 8000)


def test_sglang_groups_are_wired_and_reachable_through_the_leader_service(
    default_plugins: PluginCluster, ns: str
) -> None:
    env = default_plugins
    annotations = {
        "sglang.lws.x-k8s.io/launch": "native",
        "sglang.lws.x-k8s.io/command": "auto",
        "sglang.lws.x-k8s.io/model": "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "sglang.lws.x-k8s.io/leader-service": "true",
        "sglang.lws.x-k8s.io/shm-size": "8Gi",
    }
    apply(env, ns, server_set("sgl", size=3, gpus=2, annotations=annotations, container="sglang"))
    env.kube.wait_available(ns, "sgl")

    pods = env.pods(ns, "sgl")
    assert len(pods) == 6
    for pod in pods:
        (server,) = pod["spec"]["containers"]
        rank = worker_index(pod)
        leader = f"sgl-{pod['metadata']['labels'][c.GROUP_INDEX_LABEL]}.sgl.{ns}"
        wired = {k: v for k, v in env_map(server).items() if not k.startswith("LWS_")}
        assert wired == {
            "DIST_INIT_ADDR": f"{leader}:20000",
            "MASTER_ADDR": leader,
            "MASTER_PORT": "20000",
            "NNODES": "3",
            "NODE_RANK": str(rank),
            "TENSOR_PARALLEL_SIZE": "6",
            "PIPELINE_PARALLEL_SIZE": "1",
        }
        volume, mounts = shared_memory(pod, server)
        assert volume["emptyDir"] == {"medium": "Memory", "sizeLimit": "8Gi"} and mounts == ["lws-dshm"]
        assert server["command"] == ["python3", "-m", "sglang.launch_server"]
        args = server["args"]
        assert args[:4] == ["--model-path", "meta-llama/Meta-Llama-3.1-8B-Instruct", "--tp", "6"]
        assert args[4:10] == [
            "--dist-init-addr",
            f"{leader}:20000",
            "--nnodes",
            "3",
            "--node-rank",
            str(rank),
        ]
        if rank == 0:
            assert args[10:] == ["--host", "0.0.0.0", "--port", "30000"]
            assert server["readinessProbe"]["httpGet"] == {"path": "/health", "port": 30000, "scheme": "HTTP"}
        else:
            assert args[10:] == [] and "readinessProbe" not in server
    assert_leader_service(env, ns, "sgl", 30000)


@pytest.mark.parametrize(
    ("engine", "sizes", "error"),
    [
        (
            "vllm",
            {"vllm.lws.x-k8s.io/launch": "native", "vllm.lws.x-k8s.io/tensor-parallel-size": "3"},
            "metadata.annotations.vllm.lws.x-k8s.io/tensor-parallel-size: Invalid value: tensor-parallel-size 3 does not divide the group's 8 GPUs per pod x 2 pods = 16 GPUs",
        ),
        (
            "sglang",
            {
                "sglang.lws.x-k8s.io/launch": "native",
                "sglang.lws.x-k8s.io/tensor-parallel-size": "4",
                "sglang.lws.x-k8s.io/pipeline-parallel-size": "2",
            },
            "metadata.annotations.sglang.lws.x-k8s.io/tensor-parallel-size: Invalid value: "
            "tensor-parallel-size x pipeline-parallel-size = 4 x 2 = 8, but the group has 8 GPUs per pod x 2 "
            "pods = 16 GPUs; they must be equal",
        ),
    ],
)
def test_kubectl_apply_is_refused_when_the_parallel_sizes_do_not_fit_the_group(
    default_plugins: PluginCluster, ns: str, engine: str, sizes: dict[str, str], error: str
) -> None:
    result = apply(
        default_plugins,
        ns,
        server_set("misfit", size=2, gpus=8, annotations=sizes, container=engine),
        check=False,
    )
    assert result.returncode != 0
    assert 'admission webhook "vleaderworkerset.kb.io" denied the request' in result.stderr, result.stderr
    assert f'LeaderWorkerSet.leaderworkerset.x-k8s.io "misfit" is invalid: {error}' in result.stderr
    assert result.stderr.rstrip().endswith(f"(plugin {engine})"), (
        "the denial names the plugin whose rule failed"
    )
    assert default_plugins.kube.lws(ns, "misfit") is None
