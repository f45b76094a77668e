"""vllm and sglang: what each pod of a group gets, the generated commands, the leader Service, and the
parallel-size arithmetic (as a table and as properties)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lws_builtins._inference import ParallelError, parallel_sizes

from lws.plugin_testing import admission_errors, lws_manifest

GPU = "nvidia.com/gpu"


def server(gpus: str | None = "8", **extra) -> dict:
    container: dict = {"name": "server", "image": "vllm/vllm-openai:v0.11.0", **extra}
    if gpus is not None:
        container["resources"] = {"limits": {GPU: gpus}}
    return container


def vllm(size: int = 2, gpus: str | None = "8", leader_gpus: str | None = None, **annotations: str) -> dict:
    return lws_manifest(
        "llama",
        size=size,
        annotations={"vllm.lws.x-k8s.io/launch": "ray", **annotations},
        containers=[server(gpus)],
        leader_containers=None if leader_gpus is None else [server(leader_gpus)],
    )


def anno(**settings: str) -> dict[str, str]:
    """``tensor_parallel_size="8"`` -> ``{"vllm.lws.x-k8s.io/tensor-parallel-size": "8"}``."""
    return {f"vllm.lws.x-k8s.io/{k.replace('_', '-')}": v for k, v in settings.items()}


# --- vLLM ------------------------------------------------------------------------------------------------


def test_every_pod_gets_ranks_sizes_and_shared_memory(lws_render):
    rendered = lws_render(vllm(size=3, gpus="4"))
    for pod, rank in (("llama-0", "0"), ("llama-0-1", "1"), ("llama-0-2", "2")):
        env = rendered.env(pod)
        assert env["LWS_WORKER_INDEX"] == rank  # the core's variables stay first and untouched
        assert {k: env[k] for k in ("MASTER_ADDR", "NNODES", "NODE_RANK", "RAY_PORT")} == {
            "MASTER_ADDR": "llama-0.llama.default",
            "NNODES": "3",
            "NODE_RANK": rank,
            "RAY_PORT": "6379",
        }
        assert (env["TENSOR_PARALLEL_SIZE"], env["PIPELINE_PARALLEL_SIZE"]) == ("4", "3")
        spec = rendered.pod(pod)["spec"]
        assert {"name": "lws-dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}} in spec["volumes"]
        assert {"name": "lws-dshm", "mountPath": "/dev/shm"} in rendered.container(pod)["volumeMounts"]
    leader = rendered.container("llama-0")
    assert leader["readinessProbe"] == {"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": 10}
    assert leader["ports"] == [{"containerPort": 8000, "protocol": "TCP", "name": "http"}]
    assert "readinessProbe" not in rendered.container("llama-0-1")
    assert "command" not in leader  # without command: auto the user's command is left alone


def test_user_values_win(lws_render):
    obj = vllm()
    container = obj["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]
    container["env"] = [{"name": "MASTER_PORT", "value": "1234"}]
    container["volumeMounts"] = [{"name": "shm", "mountPath": "/dev/shm"}]
    container["readinessProbe"] = {"tcpSocket": {"port": 8000}}
    obj["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["volumes"] = [
        {"name": "shm", "emptyDir": {}}
    ]
    rendered = lws_render(obj)
    assert rendered.env("llama-0")["MASTER_PORT"] == "1234"
    assert [v["name"] for v in rendered.pod("llama-0")["spec"]["volumes"]] == ["shm"]
    assert rendered.container("llama-0")["readinessProbe"] == {"tcpSocket": {"port": 8000}}


def test_ray_generated_commands(lws_render):
    rendered = lws_render(
        vllm(**anno(command="auto", model="meta-llama/Llama-3.1-405B-Instruct", args="--max-model-len 8192"))
    )
    leader, worker = rendered.container("llama-0"), rendered.container("llama-0-1")
    assert leader["command"][:2] == ["sh", "-c"] and "ray start --head" in leader["command"][2]
    assert 'exec vllm serve "$@"' in leader["command"][2]
    assert leader["args"] == [
        "meta-llama/Llama-3.1-405B-Instruct",
        "--tensor-parallel-size", "8",
        "--pipeline-parallel-size", "2",
        "--distributed-executor-backend", "ray",
        "--host", "0.0.0.0",
        "--port", "8000",
        "--max-model-len", "8192",
    ]  # fmt: skip
    assert 'ray start --address="$MASTER_ADDR:$RAY_PORT"' in worker["command"][2]
    assert "args" not in worker


def test_native_generated_commands(lws_render):
    obj = vllm(
        **{"vllm.lws.x-k8s.io/launch": "native"},
        **anno(command="auto", model="m", tensor_parallel_size="16", master_port="29600"),
    )
    rendered = lws_render(obj)
    worker = rendered.container("llama-0-1")
    assert worker["command"] == ["vllm", "serve"]
    assert worker["args"] == [
        "m", "--tensor-parallel-size", "16", "--pipeline-parallel-size", "1",
        "--nnodes", "2", "--node-rank", "1",
        "--master-addr", "llama-0.llama.default", "--master-port", "29600",
        "--headless",
    ]  # fmt: skip
    leader_args = rendered.container("llama-0")["args"]
    assert leader_args[leader_args.index("--node-rank") + 1] == "0"
    assert "--headless" not in leader_args and leader_args[-4:] == ["--host", "0.0.0.0", "--port", "8000"]


def test_leader_service(lws_render):
    rendered = lws_render(vllm(**anno(leader_service="true", port="8080")))
    service = rendered.get("Service", "llama-leader")
    assert service["spec"] == {
        "type": "ClusterIP",
        "selector": {
            "leaderworkerset.sigs.k8s.io/name": "llama",
            "leaderworkerset.sigs.k8s.io/worker-index": "0",
        },
        "ports": [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}],
    }
    assert service["metadata"]["ownerReferences"][0]["kind"] == "LeaderWorkerSet"
    assert ("Service", "llama-leader") not in lws_render(vllm()).names()


def test_resolved_sizes_are_part_of_the_revision(lws_render):
    template = lws_render(vllm(**anno(pipeline_parallel_size="1"))).get("StatefulSet", "llama")["spec"][
        "template"
    ]
    assert template["metadata"]["annotations"]["vllm.lws.x-k8s.io/tensor-parallel-size"] == "16"
    assert template["metadata"]["annotations"]["vllm.lws.x-k8s.io/pipeline-parallel-size"] == "1"


@pytest.mark.parametrize(
    ("obj", "path", "detail"),
    [
        (
            vllm(**anno(tensor_parallel_size="8", pipeline_parallel_size="4")),
            "metadata.annotations.vllm.lws.x-k8s.io/tensor-parallel-size",
            "= 8 x 4 = 32, but the group has 8 GPUs per pod x 2 pods = 16 GPUs",
        ),
        (
            vllm(**anno(tensor_parallel_size="3")),
            "metadata.annotations.vllm.lws.x-k8s.io/tensor-parallel-size",
            "tensor-parallel-size 3 does not divide the group's 8 GPUs per pod x 2 pods = 16 GPUs",
        ),
        (
            vllm(**anno(pipeline_parallel_size="0")),
            "metadata.annotations.vllm.lws.x-k8s.io/pipeline-parallel-size",
            "must be a positive integer",
        ),
        (
            vllm(gpus=None),
            "spec.leaderWorkerTemplate.workerTemplate.spec.containers[server].resources",
            "must request nvidia.com/gpu",
        ),
        (
            vllm(leader_gpus="4"),
            "spec.leaderWorkerTemplate.workerTemplate.spec.containers[server].resources",
            "must request the same number of GPUs",
        ),
        (
            vllm(gpus="0.5"),
            "spec.leaderWorkerTemplate.workerTemplate.spec.containers[server].resources",
            "whole number of GPUs",
        ),
        (
            vllm(**{"vllm.lws.x-k8s.io/launch": "torchrun"}),
            "metadata.annotations.vllm.lws.x-k8s.io/launch",
            'supported values: "ray", "native"',
        ),
        (
            vllm(**anno(command="auto")),
            "metadata.annotations.vllm.lws.x-k8s.io/model",
            "must be set with vllm.lws.x-k8s.io/command: auto",
        ),
        (
            vllm(**anno(container="sidecar")),
            "spec.leaderWorkerTemplate.workerTemplate.spec.containers",
            "has no container named 'sidecar'",
        ),
        (
            lws_manifest(annotations=anno(model="m")),
            "metadata.annotations.vllm.lws.x-k8s.io/launch",
            "must be set for the other vllm.lws.x-k8s.io/* settings to apply",
        ),
    ],
)
def test_validation(lws_hooks, obj, path, detail):
    errors = admission_errors(obj, lws_hooks)
    assert [e.path for e in errors] == [path], [str(e) for e in errors]
    assert detail in errors[0].detail
    assert errors[0].origin == "vllm"


def test_command_auto_rejects_a_user_command(lws_hooks):
    obj = vllm(**anno(command="auto", model="m"))
    obj["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["command"] = ["python3"]
    errors = admission_errors(obj, lws_hooks)
    assert [(e.path, e.type) for e in errors] == [
        ("spec.leaderWorkerTemplate.workerTemplate.spec.containers[server].command", "Forbidden")
    ]


# --- SGLang ----------------------------------------------------------------------------------------------


def test_sglang_matches_upstreams_example(lws_render):
    obj = lws_manifest(
        "sglang",
        size=2,
        annotations={
            "sglang.lws.x-k8s.io/launch": "native",
            "sglang.lws.x-k8s.io/command": "auto",
            "sglang.lws.x-k8s.io/model": "meta-llama/Meta-Llama-3.1-8B-Instruct",
            "sglang.lws.x-k8s.io/args": "--trust-remote-code",
        },
        containers=[
            {"name": "sglang", "image": "lmsysorg/sglang:latest", "resources": {"limits": {GPU: "1"}}}
        ],
    )
    rendered = lws_render(obj)
    leader, worker = rendered.container("sglang-0"), rendered.container("sglang-0-1")
    assert leader["command"] == worker["command"] == ["python3", "-m", "sglang.launch_server"]
    common = ["--model-path", "meta-llama/Meta-Llama-3.1-8B-Instruct", "--tp", "2",
              "--dist-init-addr", "sglang-0.sglang.default:20000", "--nnodes", "2"]  # fmt: skip
    assert leader["args"] == [
        *common,
        "--node-rank",
        "0",
        "--host",
        "0.0.0.0",
        "--port",
        "30000",
        "--trust-remote-code",
    ]
    assert worker["args"] == [*common, "--node-rank", "1", "--trust-remote-code"]
    env = rendered.env("sglang-0-1")
    assert (env["DIST_INIT_ADDR"], env["NODE_RANK"], env["TENSOR_PARALLEL_SIZE"]) == (
        "sglang-0.sglang.default:20000", "1", "2",
    )  # fmt: skip
    assert leader["readinessProbe"]["httpGet"] == {"path": "/health", "port": 30000}


def test_sglang_pipeline_and_validation(lws_render, lws_hooks):
    obj = lws_manifest(
        size=4,
        annotations={
            "sglang.lws.x-k8s.io/launch": "native",
            "sglang.lws.x-k8s.io/pipeline-parallel-size": "2",
        },
        containers=[server("8")],
    )
    env = lws_render(obj).env("demo-0-3")
    assert (env["TENSOR_PARALLEL_SIZE"], env["PIPELINE_PARALLEL_SIZE"]) == ("16", "2")
    obj["metadata"]["annotations"]["sglang.lws.x-k8s.io/pipeline-parallel-size"] = "5"
    errors = admission_errors(obj, lws_hooks)
    assert [e.origin for e in errors] == ["sglang"]
    assert (
        "pipeline-parallel-size 5 does not divide the group's 8 GPUs per pod x 4 pods = 32 GPUs"
        in errors[0].detail
    )


# --- the arithmetic --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gpus", "size", "tp", "pp", "default", "expected"),
    [
        (8, 2, None, None, "nodes", (8, 2)),
        (8, 2, None, None, "one", (16, 1)),
        (8, 2, 16, None, "nodes", (16, 1)),
        (8, 2, None, 4, "nodes", (4, 4)),
        (1, 1, None, None, "nodes", (1, 1)),
        (4, 3, 6, 2, "nodes", (6, 2)),
    ],
)
def test_parallel_sizes_table(gpus, size, tp, pp, default, expected):
    assert parallel_sizes(gpus, size, tp, pp, default_pipeline=default) == expected


@given(
    gpus=st.integers(min_value=1, max_value=16),
    size=st.integers(min_value=1, max_value=64),
    tp=st.none() | st.integers(min_value=1, max_value=2048),
    pp=st.none() | st.integers(min_value=1, max_value=2048),
    default=st.sampled_from(["nodes", "one"]),
)
def test_parallel_sizes_cover_exactly_the_groups_gpus_or_explain(gpus, size, tp, pp, default):
    total = gpus * size
    try:
        tensor, pipeline = parallel_sizes(gpus, size, tp, pp, default_pipeline=default)
    except ParallelError as exc:
        assert str(total) in str(exc)
        if tp is not None and pp is not None:
            assert tp * pp != total
        else:
            given_size = tp if tp is not None else pp
            assert given_size is not None and total % given_size != 0
        return
    assert tensor * pipeline == total
    assert tp in (None, tensor) and pp in (None, pipeline)


def test_other_gpu_resources(lws_render, lws_hooks):
    obj = lws_manifest(
        size=2,
        annotations={"vllm.lws.x-k8s.io/launch": "native", "vllm.lws.x-k8s.io/gpu-resource": "amd.com/gpu"},
        containers=[{"name": "server", "image": "rocm/vllm", "resources": {"limits": {"amd.com/gpu": "4"}}}],
    )
    assert lws_render(obj).env("demo-0-1")["TENSOR_PARALLEL_SIZE"] == "4"
    obj["metadata"]["annotations"]["vllm.lws.x-k8s.io/gpu-resource"] = "amd gpu"
    errors = admission_errors(obj, lws_hooks)
    assert [e.path for e in errors] == ["metadata.annotations.vllm.lws.x-k8s.io/gpu-resource"]
    assert "must be a resource name such as nvidia.com/gpu" in errors[0].detail
