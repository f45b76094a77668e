"""vLLM wiring: turn a group into one multi-node vLLM server, with Ray or with vLLM's own multi-node launch.

Opt in with ``vllm.lws.x-k8s.io/launch``; without it the plugin does nothing. From the group's shape (``size``
pods, each with the same number of GPUs) the plugin works out the parallel sizes and gives every pod what a
multi-node vLLM needs. Every pod's server container (the first container, or the one named by
``vllm.lws.x-k8s.io/container``) gets, unless the user already defines them:

* env ``MASTER_ADDR`` (the leader's address), ``MASTER_PORT``, ``NNODES`` (the group size), ``NODE_RANK``
  (the worker index, 0 on the leader), ``TENSOR_PARALLEL_SIZE``, ``PIPELINE_PARALLEL_SIZE``, and with Ray
  ``RAY_PORT``; use them in your own command as ``$(NODE_RANK)``. (Names without the ``VLLM_`` prefix on
  purpose: vLLM warns about, and can refuse, ``VLLM_*`` variables it does not know.)
* a memory-backed ``/dev/shm`` (``vllm.lws.x-k8s.io/shm-size``, default ``16Gi``), unless something is
  mounted there already: NCCL needs more shared memory than the container runtime's 64Mi;
* on the leader: the API port and an HTTP readiness probe on ``/health``, unless it has a readiness probe.

Parallel sizes: ``tensor x pipeline`` must equal GPUs per pod x ``size``. By default tensor parallelism spans
the GPUs of one pod and the pipeline has one stage per pod (``tensor = GPUs per pod``, ``pipeline = size``),
vLLM's advice for multi-node serving; set one of the two and the other follows, set both and they are
checked. Admission rejects sizes that do not fit, pods without GPUs, and leader and worker templates whose
GPU counts differ, with the arithmetic in the message.

Launch modes (``vllm.lws.x-k8s.io/launch``):

``ray``
    The leader runs the Ray head and vLLM with ``--distributed-executor-backend ray``; workers join the head
    at ``$(LWS_LEADER_ADDRESS):6379`` (``vllm.lws.x-k8s.io/ray-port``). This is upstream's vLLM example.
``native``
    vLLM's own multi-node launch with its multiprocessing backend (recent vLLM releases; check that
    ``vllm serve --help`` lists ``--nnodes``): every pod runs ``vllm serve`` with ``--nnodes``,
    ``--node-rank``, ``--master-addr`` and ``--master-port`` (``vllm.lws.x-k8s.io/master-port``, default
    vLLM's 29501); workers add ``--headless``. No Ray needed in the image.

The container's command is left alone unless ``vllm.lws.x-k8s.io/command: auto``: then the plugin writes
it (and admission rejects a server container that sets ``command`` or ``args`` itself). It needs
``vllm.lws.x-k8s.io/model``; ``vllm.lws.x-k8s.io/args`` appends more vLLM arguments (shell words). With
Ray the leader waits until all ``size`` nodes have joined before starting vLLM, and workers retry joining
until the head answers.

``vllm.lws.x-k8s.io/leader-service: "true"`` adds a ClusterIP Service ``<name>-leader`` on the API port,
selecting the leader pods of every group (upstream issue #689): the Service every vLLM example writes by hand.
Note that Kubernetes injects ``<NAME>_LEADER_*`` variables for it into pods created later.

Example::

    metadata:
      name: llama
      annotations:
        vllm.lws.x-k8s.io/launch: ray
        vllm.lws.x-k8s.io/command: auto
        vllm.lws.x-k8s.io/model: meta-llama/Llama-3.1-405B-Instruct
        vllm.lws.x-k8s.io/leader-service: "true"
    spec:
      leaderWorkerTemplate:
        size: 2
        workerTemplate:
          spec:
            containers:
              - name: vllm
                image: vllm/vllm-openai:v0.11.0
                resources: {limits: {nvidia.com/gpu: "8"}}

gives tensor-parallel 8, pipeline-parallel 2, and ``vllm serve meta-llama/Llama-3.1-405B-Instruct
--tensor-parallel-size 8 --pipeline-parallel-size 2 --distributed-executor-backend ray --host 0.0.0.0
--port 8000`` on each leader once both nodes of its group have joined the Ray cluster.

All settings (annotations on the LeaderWorkerSet; they are copied onto the pod templates, with the resolved
parallel sizes, so changing them rolls the groups):

``vllm.lws.x-k8s.io/launch``                  ``ray`` or ``native``; turns the wiring on
``vllm.lws.x-k8s.io/tensor-parallel-size``    default: GPUs per pod (or what the pipeline size leaves)
``vllm.lws.x-k8s.io/pipeline-parallel-size``  default: ``size`` (or what the tensor size leaves)
``vllm.lws.x-k8s.io/port``                    the leader's API port (default ``8000``)
``vllm.lws.x-k8s.io/master-port``             torch.distributed port, native launch (default ``29501``)
``vllm.lws.x-k8s.io/ray-port``                the Ray head's port, Ray launch (default ``6379``)
``vllm.lws.x-k8s.io/command``                 ``auto``: generate the command
``vllm.lws.x-k8s.io/model``                   the model, for the generated command
``vllm.lws.x-k8s.io/args``                    more arguments for the generated command (shell words)
``vllm.lws.x-k8s.io/shm-size``                size of ``/dev/shm`` (default ``16Gi``)
``vllm.lws.x-k8s.io/leader-service``          ``"true"``: a ClusterIP Service ``<name>-leader``
``vllm.lws.x-k8s.io/container``               the server container's name (default: the first one)
``vllm.lws.x-k8s.io/gpu-resource``            the resource that counts GPUs (default ``nvidia.com/gpu``)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.plugin import ExtraObject, FieldError, LeaderWorkerSet, PodContext, Settings, hookimpl
from lws_builtins import _inference as inference

RAY = "ray"
NATIVE = "native"

SETTINGS = Settings("vllm")
ENGINE = inference.declare_engine_settings(SETTINGS, launches=(RAY, NATIVE), port=8000, engine="vLLM")
MASTER_PORT = SETTINGS.integer(
    "master-port",
    default=29501,
    minimum=1,
    maximum=65535,
    help="torch.distributed port of the leader (native)",
)
RAY_PORT = SETTINGS.integer(
    "ray-port", default=6379, minimum=1, maximum=65535, help="the Ray head's port (ray)"
)

# Inputs come from the environment and "$@" (the container's args), never pasted into the script.
RAY_LEADER_SCRIPT = """\
ray start --head --port="$RAY_PORT" --disable-usage-stats || exit 1
count='import ray; ray.init(address="auto"); print(sum(n["Alive"] for n in ray.nodes()))'
while :; do
  alive=$(python3 -c "$count" 2>/dev/null)
  [ "${alive:-0}" -ge "$NNODES" ] && break
  echo "waiting for the Ray cluster: ${alive:-0} of $NNODES nodes"
  sleep 5
done
exec vllm serve "$@"
"""
RAY_WORKER_SCRIPT = """\
until ray start --address="$MASTER_ADDR:$RAY_PORT" --disable-usage-stats --block; do
  echo "waiting for the Ray head at $MASTER_ADDR:$RAY_PORT"
  sleep 5
done
"""


def serve_args(shape: inference.GroupShape, ctx: PodContext, annotations: Mapping[str, str]) -> list[str]:
    """``vllm serve`` arguments for one pod (model first)."""
    launch = ENGINE.launch.require(annotations)
    words = [
        ENGINE.model.require(annotations),
        "--tensor-parallel-size",
        str(shape.tensor),
        "--pipeline-parallel-size",
        str(shape.pipeline),
    ]
    if shape.size > 1 and launch == RAY:
        words += ["--distributed-executor-backend", "ray"]
    elif shape.size > 1:
        words += ["--nnodes", str(shape.size), "--node-rank", str(ctx.worker_index)]
        words += ["--master-addr", ctx.leader_address, "--master-port", str(MASTER_PORT.require(annotations))]
        if not ctx.is_leader:
            words.append("--headless")
    if ctx.is_leader:
        words += ["--host", "0.0.0.0", "--port", str(ENGINE.port.require(annotations))]
    return inference.generated_args(words, ENGINE.args.find(annotations))


def command_for(
    shape: inference.GroupShape, ctx: PodContext, annotations: Mapping[str, str]
) -> tuple[list[str], list[str]]:
    """The ``command`` and ``args`` of the server container under ``command: auto``."""
    if ENGINE.launch.require(annotations) == RAY and shape.size > 1:
        if ctx.is_leader:
            return ["sh", "-c", RAY_LEADER_SCRIPT, "vllm-leader"], serve_args(shape, ctx, annotations)
        return ["sh", "-c", RAY_WORKER_SCRIPT], []
    return ["vllm", "serve"], serve_args(shape, ctx, annotations)


def _shape_from_pod(ctx: PodContext) -> inference.GroupShape:
    annotations = ctx.annotations
    tensor = ENGINE.tensor_parallel.require(annotations)
    pipeline = ENGINE.pipeline_parallel.require(annotations)
    return inference.GroupShape(
        gpus_per_pod=tensor * pipeline // ctx.group_size,
        size=ctx.group_size,
        tensor=tensor,
        pipeline=pipeline,
    )


@hookimpl
def lws_pod_annotations(lws: LeaderWorkerSet) -> dict[str, str] | None:
    """Propagate the settings, with the resolved parallel sizes, to both pod templates."""
    return inference.pod_annotations(lws, ENGINE, default_pipeline="nodes")


@hookimpl
def lws_mutate_pod(pod: dict[str, Any], ctx: PodContext) -> None:
    """Wire the server container of a group pod (see the module doc)."""
    found = inference.server_container(pod, ctx, ENGINE)
    if found is None:
        return
    spec, container = found
    annotations = ctx.annotations
    shape = _shape_from_pod(ctx)
    env = [
        ("MASTER_ADDR", ctx.leader_address),
        ("MASTER_PORT", str(MASTER_PORT.require(annotations))),
        ("NNODES", str(shape.size)),
        ("NODE_RANK", str(ctx.worker_index)),
        ("TENSOR_PARALLEL_SIZE", str(shape.tensor)),
        ("PIPELINE_PARALLEL_SIZE", str(shape.pipeline)),
    ]
    if ENGINE.launch.require(annotations) == RAY:
        env.append(("RAY_PORT", str(RAY_PORT.require(annotations))))
    inference.add_env(container, env)
    inference.add_serving(spec, container, ctx, ENGINE)
    if ENGINE.command.find(annotations) == "auto":
        container["command"], args = command_for(shape, ctx, annotations)
        if args:
            container["args"] = args


@hookimpl
def lws_set_objects(lws: LeaderWorkerSet) -> list[ExtraObject] | None:
    """The leader Service, when asked for."""
    return inference.set_objects(lws, ENGINE)


@hookimpl
def lws_validate(lws: LeaderWorkerSet, old: LeaderWorkerSet | None) -> list[FieldError]:
    """Settings, GPUs and parallel sizes that fit the group, and no user command under ``command: auto``."""
    return inference.validate_engine(lws, ENGINE, default_pipeline="nodes")
