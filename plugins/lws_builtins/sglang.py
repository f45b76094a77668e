"""SGLang wiring: turn a group into one multi-node SGLang server.

Opt in with ``sglang.lws.x-k8s.io/launch: native``; without it the plugin does nothing. SGLang's multi-node
launch runs ``python3 -m sglang.launch_server`` on every pod with ``--dist-init-addr <leader>:<port>``,
``--nnodes <size>`` and ``--node-rank <worker index>``; the leader (rank 0) serves the HTTP API. The plugin
works out the parallel sizes from the group's shape and gives every pod's server container (the first
container, or the one named by ``sglang.lws.x-k8s.io/container``), unless the user already defines them:

* env ``DIST_INIT_ADDR`` (``<leader address>:<dist-init-port>``), ``MASTER_ADDR``, ``MASTER_PORT``,
  ``NNODES``, ``NODE_RANK``, ``TENSOR_PARALLEL_SIZE`` and ``PIPELINE_PARALLEL_SIZE``, for your own command:
  ``--dist-init-addr $(DIST_INIT_ADDR) --nnodes $(NNODES) --node-rank $(NODE_RANK) --tp
  $(TENSOR_PARALLEL_SIZE)``;
* a memory-backed ``/dev/shm`` (``sglang.lws.x-k8s.io/shm-size``, default ``16Gi``) unless one is mounted;
* on the leader: the API port (``sglang.lws.x-k8s.io/port``, default SGLang's 30000) and an HTTP readiness
  probe on ``/health``, unless it has a readiness probe.

Parallel sizes: SGLang's ``--tp`` counts every GPU of the group, so by default ``tensor = GPUs per pod x
size`` and ``pipeline = 1``; with ``sglang.lws.x-k8s.io/pipeline-parallel-size`` (``--pp-size``) the GPUs
are split between the two, and ``tensor x pipeline`` must always equal GPUs per pod x ``size``. Admission
rejects sizes that do not fit, pods without GPUs, and leader and worker templates whose GPU counts differ.

``sglang.lws.x-k8s.io/command: auto`` writes the container's command (``sglang.lws.x-k8s.io/model`` names
the model, ``sglang.lws.x-k8s.io/args`` appends arguments); otherwise the command is left alone.
``sglang.lws.x-k8s.io/leader-service: "true"`` adds a ClusterIP Service ``<name>-leader`` on the API port.
``sglang.lws.x-k8s.io/dist-init-port`` (default ``20000``) is the leader's port for the distributed
initialisation.

Example::

    metadata:
      annotations:
        sglang.lws.x-k8s.io/launch: native
        sglang.lws.x-k8s.io/command: auto
        sglang.lws.x-k8s.io/model: meta-llama/Meta-Llama-3.1-8B-Instruct
    spec:
      leaderWorkerTemplate:
        size: 2
        workerTemplate:
          spec:
            containers:
              - name: sglang
                image: lmsysorg/sglang:latest
                resources: {limits: {nvidia.com/gpu: "1"}}

gives ``python3 -m sglang.launch_server --model-path meta-llama/Meta-Llama-3.1-8B-Instruct --tp 2
--dist-init-addr <leader>:20000 --nnodes 2 --node-rank 0 --host 0.0.0.0 --port 30000`` on the leader and
the same with ``--node-rank 1`` (and no ``--host``/``--port``) on the worker, as upstream's SGLang example.

All settings (annotations on the LeaderWorkerSet; they are copied onto the pod templates, with the resolved
parallel sizes, so changing them rolls the groups):

``sglang.lws.x-k8s.io/launch``                  ``native``; turns the wiring on
``sglang.lws.x-k8s.io/tensor-parallel-size``    ``--tp`` (default: every GPU of the group / pipeline size)
``sglang.lws.x-k8s.io/pipeline-parallel-size``  ``--pp-size`` (default ``1``)
``sglang.lws.x-k8s.io/port``                    the leader's API port (default ``30000``)
``sglang.lws.x-k8s.io/dist-init-port``          the leader's distributed-init port (default ``20000``)
``sglang.lws.x-k8s.io/command``                 ``auto``: generate the command
``sglang.lws.x-k8s.io/model``                   the model, for the generated command
``sglang.lws.x-k8s.io/args``                    more arguments for the generated command (shell words)
``sglang.lws.x-k8s.io/shm-size``                size of ``/dev/shm`` (default ``16Gi``)
``sglang.lws.x-k8s.io/leader-service``          ``"true"``: a ClusterIP Service ``<name>-leader``
``sglang.lws.x-k8s.io/container``               the server container's name (default: the first one)
``sglang.lws.x-k8s.io/gpu-resource``            the resource that counts GPUs (default ``nvidia.com/gpu``)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.plugin import ExtraObject, FieldError, LeaderWorkerSet, PodContext, Settings, hookimpl
from lws_builtins import _inference as inference

NATIVE = "native"

SETTINGS = Settings("sglang")
ENGINE = inference.declare_engine_settings(SETTINGS, launches=(NATIVE,), port=30000, engine="SGLang")
DIST_INIT_PORT = SETTINGS.integer(
    "dist-init-port", default=20000, minimum=1, maximum=65535, help="the leader's distributed-init port"
)


def launch_args(tensor: int, pipeline: int, ctx: PodContext, annotations: Mapping[str, str]) -> list[str]:
    """``sglang.launch_server`` arguments for one pod."""
    words = ["--model-path", ENGINE.model.require(annotations), "--tp", str(tensor)]
    if pipeline > 1:
        words += ["--pp-size", str(pipeline)]
    if ctx.group_size > 1:
        words += ["--dist-init-addr", f"{ctx.leader_address}:{DIST_INIT_PORT.require(annotations)}"]
        words += ["--nnodes", str(ctx.group_size), "--node-rank", str(ctx.worker_index)]
    if ctx.is_leader:
        words += ["--host", "0.0.0.0", "--port", str(ENGINE.port.require(annotations))]
    return inference.generated_args(words, ENGINE.args.find(annotations))


@hookimpl
def lws_pod_annotations(lws: LeaderWorkerSet) -> dict[str, str] | None:
    """Propagate the settings, with the resolved parallel sizes, to both pod templates."""
    return inference.pod_annotations(lws, ENGINE, default_pipeline="one")


@hookimpl
def lws_mutate_pod(pod: dict[str, Any], ctx: PodContext) -> None:
    """Wire the server container of a group pod (see the module doc)."""
    found = inference.server_container(pod, ctx, ENGINE)
    if found is None:
        return
    spec, container = found
    annotations = ctx.annotations
    tensor = ENGINE.tensor_parallel.require(annotations)
    pipeline = ENGINE.pipeline_parallel.require(annotations)
    dist_port = DIST_INIT_PORT.require(annotations)
    inference.add_env(
        container,
        [
            ("DIST_INIT_ADDR", f"{ctx.leader_address}:{dist_port}"),
            ("MASTER_ADDR", ctx.leader_address),
            ("MASTER_PORT", str(dist_port)),
            ("NNODES", str(ctx.group_size)),
            ("NODE_RANK", str(ctx.worker_index)),
            ("TENSOR_PARALLEL_SIZE", str(tensor)),
            ("PIPELINE_PARALLEL_SIZE", str(pipeline)),
        ],
    )
    inference.add_serving(spec, container, ctx, ENGINE)
    if ENGINE.command.find(annotations) == "auto":
        container["command"] = ["python3", "-m", "sglang.launch_server"]
        container["args"] = launch_args(tensor, pipeline, ctx, annotations)


@hookimpl
def lws_set_objects(lws: LeaderWorkerSet) -> list[ExtraObject] | None:
    """The leader Service, when asked for."""
    return inference.set_objects(lws, ENGINE)


@hookimpl
def lws_validate(lws: LeaderWorkerSet, old: LeaderWorkerSet | None) -> list[FieldError]:
    """Settings, GPUs and parallel sizes that fit the group, and no user command under ``command: auto``."""
    return inference.validate_engine(lws, ENGINE, default_pipeline="one")
