"""What multi-node inference servers (vLLM, SGLang) need from a group, shared by their plugins.

Pure helpers: pick the server container, count its GPUs, solve the parallel sizes against the group's
shape, and add env, shared memory, a readiness probe, a port or a leader Service without overriding what
the user wrote; and the parts of the hooks that both plugins share.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lws.plugin import (
    ExtraObject,
    FieldError,
    LeaderWorkerSet,
    PodContext,
    Setting,
    SettingError,
    Settings,
    annotation_path,
    container_request,
)
from lws.plugin import constants as c

SHM_PATH = "/dev/shm"
SHM_VOLUME = "lws-dshm"
LEADER_TEMPLATE_PATH = "spec.leaderWorkerTemplate.leaderTemplate"
WORKER_TEMPLATE_PATH = "spec.leaderWorkerTemplate.workerTemplate"


class ParallelError(ValueError):
    """The parallel sizes cannot cover the group's GPUs; the message shows the arithmetic."""


@dataclass(frozen=True)
class EngineSettings:
    """The settings every inference plugin declares (each under its own prefix)."""

    settings: Settings
    launch: Setting[str]
    tensor_parallel: Setting[int]
    pipeline_parallel: Setting[int]
    port: Setting[int]
    command: Setting[str]
    model: Setting[str]
    args: Setting[str]
    shm_size: Setting[str]
    leader_service: Setting[bool]
    container: Setting[str]
    gpu_resource: Setting[str]


def declare_engine_settings(
    settings: Settings, *, launches: tuple[str, ...], port: int, engine: str
) -> EngineSettings:
    """Declare the common settings on ``settings``, in the order ``lws plugins`` lists them."""
    return EngineSettings(
        settings=settings,
        launch=settings.choice(
            "launch", launches, help=f"turn the {engine} wiring on, and choose how to launch"
        ),
        tensor_parallel=settings.integer("tensor-parallel-size", minimum=1, help="tensor-parallel size"),
        pipeline_parallel=settings.integer(
            "pipeline-parallel-size", minimum=1, help="pipeline-parallel size"
        ),
        port=settings.integer("port", default=port, minimum=1, maximum=65535, help="the leader's API port"),
        command=settings.choice(
            "command", ("auto",), help=f"auto: generate the {engine} command (else keep the container's)"
        ),
        model=settings.text("model", help="the model to serve, for the generated command"),
        args=settings.text(
            "args",
            help="extra arguments appended to the generated command (shell words)",
            pattern=r"(?s).*",
            rule="must be shell words",
        ),
        shm_size=settings.quantity("shm-size", default="16Gi", help="size of the /dev/shm memory volume"),
        leader_service=settings.boolean(
            "leader-service", help="create a ClusterIP Service <name>-leader on the API port of the leaders"
        ),
        container=settings.text(
            "container",
            help="name of the server container (default: the first container)",
            pattern=r"[a-z0-9]([-a-z0-9]*[a-z0-9])?",
            rule="must be a container name",
        ),
        gpu_resource=settings.text(
            "gpu-resource",
            default="nvidia.com/gpu",
            help="the extended resource that counts GPUs",
            pattern=r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?",
            rule="must be a resource name such as nvidia.com/gpu or amd.com/gpu",
        ),
    )


# --- reading the group -------------------------------------------------------------------------------------


def find_container(spec: Mapping[str, Any], name: str | None) -> dict[str, Any] | None:
    """The named container, or the first one."""
    containers: list[dict[str, Any]] = spec.get("containers") or []
    if name is None:
        return containers[0] if containers else None
    return next((x for x in containers if x.get("name") == name), None)


def gpus_of(container: Mapping[str, Any], resource: str) -> int:
    """Whole GPUs a container asks for (limit, else request); a fraction is an error."""
    amount: Decimal = container_request(container, resource)
    if amount != amount.to_integral_value():
        raise ParallelError(f"{resource} must be a whole number of GPUs, got {amount}")
    return int(amount)


def parallel_sizes(
    gpus_per_pod: int, size: int, tensor: int | None, pipeline: int | None, *, default_pipeline: str
) -> tuple[int, int]:
    """Solve ``tensor * pipeline == gpus_per_pod * size`` for the sizes the user left out.

    :param default_pipeline: ``"nodes"`` (one pipeline stage per pod, tensor parallel within a pod: vLLM's
        recommendation) or ``"one"`` (tensor parallel across every GPU of the group: SGLang's ``--tp``).
    :raises ParallelError: when no sizes fit; the message shows the arithmetic.
    """
    total = gpus_per_pod * size
    if gpus_per_pod <= 0:
        raise ParallelError("each pod must request at least one GPU")
    shape = f"{gpus_per_pod} GPUs per pod x {size} pods = {total} GPUs"
    if tensor is not None and pipeline is not None:
        if tensor * pipeline != total:
            raise ParallelError(
                f"tensor-parallel-size x pipeline-parallel-size = {tensor} x {pipeline} = "
                f"{tensor * pipeline}, but the group has {shape}; they must be equal"
            )
        return tensor, pipeline
    if tensor is not None:
        if total % tensor:
            raise ParallelError(
                f"tensor-parallel-size {tensor} does not divide the group's {shape}; "
                f"pick a divisor of {total} or set pipeline-parallel-size too"
            )
        return tensor, total // tensor
    if pipeline is not None:
        if total % pipeline:
            raise ParallelError(
                f"pipeline-parallel-size {pipeline} does not divide the group's {shape}; "
                f"pick a divisor of {total} or set tensor-parallel-size too"
            )
        return total // pipeline, pipeline
    if default_pipeline == "nodes":
        return gpus_per_pod, size
    return total, 1


@dataclass(frozen=True)
class GroupShape:
    """What an inference plugin needs to know about a group, read from the LeaderWorkerSet."""

    gpus_per_pod: int
    size: int
    tensor: int
    pipeline: int


def group_shape(lws: LeaderWorkerSet, engine: EngineSettings, *, default_pipeline: str) -> GroupShape:
    """Read and check the group's GPUs and parallel sizes.

    :raises SettingError: a setting is malformed, or the sizes do not fit (path: the setting, or the
        container's resources when GPUs are missing or differ between leader and workers).
    """
    annotations = lws.annotations
    name = engine.container.find(annotations)
    resource = engine.gpu_resource.require(annotations)
    counts: list[tuple[str, int]] = []
    templates = [
        (LEADER_TEMPLATE_PATH if lws.has_leader_template else WORKER_TEMPLATE_PATH, lws.leader_template)
    ]
    if lws.size > 1 and lws.has_leader_template:
        templates.append((WORKER_TEMPLATE_PATH, lws.worker_template))
    for path, template in templates:
        spec = template.get("spec") or {}
        container = find_container(spec, name)
        if container is None:
            raise SettingError(
                FieldError(
                    f"{path}.spec.containers",
                    f"has no container named {name!r} ({engine.container.key})"
                    if name
                    else "must have a container to run the inference server",
                    "Required",
                )
            )
        where = f"{path}.spec.containers[{container.get('name')}].resources"
        try:
            counts.append((where, gpus_of(container, resource)))
        except ParallelError as exc:
            raise SettingError(FieldError(where, str(exc))) from None
    for where, count in counts:
        if count <= 0:
            raise SettingError(
                FieldError(
                    where,
                    f"must request {resource} (limits or requests): {engine.launch.key} needs GPUs on every "
                    f"pod of the group; set {engine.gpu_resource.key} if your GPUs use another resource name",
                    "Required",
                )
            )
    if len({n for _, n in counts}) > 1:
        detail = ", ".join(f"{w}: {n}" for w, n in counts)
        raise SettingError(
            FieldError(
                counts[-1][0], f"every pod of the group must request the same number of GPUs ({detail})"
            )
        )
    gpus = counts[0][1]
    tensor = engine.tensor_parallel.find(annotations)
    pipeline = engine.pipeline_parallel.find(annotations)
    try:
        tensor, pipeline = parallel_sizes(gpus, lws.size, tensor, pipeline, default_pipeline=default_pipeline)
    except ParallelError as exc:
        key = engine.tensor_parallel.key if tensor is not None else engine.pipeline_parallel.key
        raise SettingError(FieldError(annotation_path(key), str(exc))) from None
    return GroupShape(gpus_per_pod=gpus, size=lws.size, tensor=tensor, pipeline=pipeline)


def validate_engine(
    lws: LeaderWorkerSet, engine: EngineSettings, *, default_pipeline: str
) -> list[FieldError]:
    """Every problem with an inference plugin's settings and the group they describe."""
    annotations = lws.annotations
    errors = engine.settings.validate(annotations)
    if errors or engine.launch.key not in annotations:
        if not errors and engine.settings.present(annotations):
            errors.append(
                FieldError(
                    annotation_path(engine.launch.key),
                    f"must be set for the other {engine.settings.prefix}* settings to apply: one of "
                    f"{', '.join(engine.launch.choices)}",
                    "Required",
                )
            )
        return errors
    try:
        group_shape(lws, engine, default_pipeline=default_pipeline)
    except SettingError as exc:
        errors.append(exc.error)
    if engine.command.find(annotations) == "auto":
        if engine.model.key not in annotations:
            errors.append(
                FieldError(
                    annotation_path(engine.model.key),
                    f"must be set with {engine.command.key}: auto, to name the model to serve",
                    "Required",
                )
            )
        try:
            shlex.split(annotations.get(engine.args.key, ""))
        except ValueError as exc:
            errors.append(
                FieldError(annotation_path(engine.args.key), f"must be shell words: {exc}", value="...")
            )
        errors.extend(_user_commands(lws, engine))
    return errors


def _user_commands(lws: LeaderWorkerSet, engine: EngineSettings) -> list[FieldError]:
    name = engine.container.find(lws.annotations)
    found: list[FieldError] = []
    templates = [(LEADER_TEMPLATE_PATH, lws.leader_template)] if lws.has_leader_template else []
    templates.append((WORKER_TEMPLATE_PATH, lws.worker_template))
    for path, template in templates:
        container = find_container(template.get("spec") or {}, name) or {}
        for field in ("command", "args"):
            if container.get(field):
                found.append(
                    FieldError(
                        f"{path}.spec.containers[{container.get('name')}].{field}",
                        f"must be empty with {engine.command.key}: auto, which generates it; remove it, or "
                        f"remove {engine.command.key} to keep your own command",
                        "Forbidden",
                    )
                )
    return found


# --- what both plugins' hooks do --------------------------------------------------------------------------


def pod_annotations(
    lws: LeaderWorkerSet, engine: EngineSettings, *, default_pipeline: str
) -> dict[str, str] | None:
    """The engine's settings and resolved parallel sizes, for both pod templates; ``None`` if not asked."""
    if engine.launch.key not in lws.annotations:
        return None
    shape = group_shape(lws, engine, default_pipeline=default_pipeline)
    return {
        **engine.settings.present(lws.annotations),
        engine.tensor_parallel.key: str(shape.tensor),
        engine.pipeline_parallel.key: str(shape.pipeline),
    }


def server_container(
    pod: dict[str, Any], ctx: PodContext, engine: EngineSettings
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The pod's spec and server container when its group asked for the engine, else ``None``.

    :raises ValueError: the pod has no such container (admission checks the templates, but a set admitted
        before the plugin was installed was not checked).
    """
    if engine.launch.find(ctx.annotations) is None:
        return None
    spec: dict[str, Any] = pod.setdefault("spec", {})
    name = engine.container.find(ctx.annotations)
    container = find_container(spec, name)
    if container is None:
        raise ValueError(f"pod {ctx.pod_name} has no container {name!r} to wire")
    return spec, container


def add_serving(
    spec: dict[str, Any], container: dict[str, Any], ctx: PodContext, engine: EngineSettings
) -> None:
    """Shared memory on every pod; on the leader, the API port and a readiness probe on it."""
    add_shared_memory(spec, container, engine.shm_size.require(ctx.annotations))
    if ctx.is_leader:
        port = engine.port.require(ctx.annotations)
        add_port(container, port)
        add_readiness_probe(container, port)


def set_objects(lws: LeaderWorkerSet, engine: EngineSettings) -> list[ExtraObject] | None:
    """The leader Service, when the set asked for the engine and for the Service."""
    annotations = lws.annotations
    if engine.launch.key not in annotations or not engine.leader_service.require(annotations):
        return None
    return [leader_service(lws, engine.port.require(annotations))]


# --- changing a pod ----------------------------------------------------------------------------------------


def add_env(container: dict[str, Any], entries: Sequence[tuple[str, str]]) -> None:
    """Append variables the container does not define yet (a user's value wins)."""
    env: list[dict[str, Any]] = container.setdefault("env", [])
    have = {e.get("name") for e in env}
    env.extend({"name": n, "value": v} for n, v in entries if n not in have)


def add_shared_memory(spec: dict[str, Any], container: dict[str, Any], size: str) -> None:
    """Mount a memory-backed ``/dev/shm`` (NCCL needs more than the runtime's 64Mi) unless one is mounted."""
    mounts: list[dict[str, Any]] = container.setdefault("volumeMounts", [])
    if any(m.get("mountPath") == SHM_PATH for m in mounts):
        return
    volumes: list[dict[str, Any]] = spec.setdefault("volumes", [])
    if not any(v.get("name") == SHM_VOLUME for v in volumes):
        volumes.append({"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": size}})
    mounts.append({"name": SHM_VOLUME, "mountPath": SHM_PATH})


def add_readiness_probe(container: dict[str, Any], port: int, path: str = "/health") -> None:
    """An HTTP readiness probe on the API port, unless the container has a readiness probe."""
    container.setdefault("readinessProbe", {"httpGet": {"path": path, "port": port}, "periodSeconds": 10})


def add_port(container: dict[str, Any], port: int, name: str = "http") -> None:
    """Declare the API port, unless it is declared (a taken name is left off, not duplicated)."""
    ports: list[dict[str, Any]] = container.setdefault("ports", [])
    if any(p.get("containerPort") == port for p in ports):
        return
    entry: dict[str, Any] = {"containerPort": port, "protocol": "TCP"}
    if not any(p.get("name") == name for p in ports):
        entry["name"] = name
    ports.append(entry)


def generated_args(words: Sequence[str], extra: str | None) -> list[str]:
    return [*words, *shlex.split(extra or "")]


def leader_service(lws: LeaderWorkerSet, port: int) -> ExtraObject:
    """A ClusterIP Service ``<name>-leader`` that reaches the leaders of every group on the API port."""
    return ExtraObject(
        manifest={
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"{lws.name}-leader"},
            "spec": {
                "type": "ClusterIP",
                "selector": {c.SET_NAME_LABEL: lws.name, c.WORKER_INDEX_LABEL: "0"},
                "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
            },
        },
        mode="apply",
    )
