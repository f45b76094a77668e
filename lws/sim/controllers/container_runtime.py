"""A simulated container runtime and the pod status a kubelet reports from it, as pure code.

Each pod a kubelet runs has a :class:`PodRuntime`: its init containers and containers, each with
start, ready and termination times. :func:`advance` moves a runtime forward to a moment (image pull
and start delay, init containers one after another, readiness delay, crash-loop restarts with
back-off) and says when the next change is due; :func:`render_status` turns the runtime into
``pod.status`` as the kubelet writes it (phase, the PodReadyToStartContainers, Initialized,
ContainersReady and Ready conditions with readiness gates, container statuses, IPs, start time).
Faults (:func:`restart_container`, :func:`crash_pod`) change a runtime the way a dying process
would. Times are POSIX seconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lws.sim.topology import NodeTiming

KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")


@dataclass(frozen=True)
class Termination:
    """How a container run ended."""

    exit_code: int
    reason: str
    started_at: float
    finished_at: float


@dataclass
class ContainerRuntime:
    """One (init) container's life so far."""

    name: str
    image: str
    restart_count: int = 0
    started_at: float | None = None
    ready_at: float | None = None
    terminated: Termination | None = None
    last_terminated: Termination | None = None
    restart_at: float | None = None
    crash_looping: bool = False
    generation: int = 0

    @property
    def running(self) -> bool:
        """Started and not terminated."""
        return self.started_at is not None and self.terminated is None

    def container_id(self, pod_uid: str) -> str:
        """A stable, per-run container id."""
        digest = hashlib.sha256(f"{pod_uid}/{self.name}/{self.generation}".encode()).hexdigest()
        return f"containerd://{digest}"


@dataclass
class PodRuntime:
    """What a kubelet remembers about one pod it runs."""

    uid: str
    admitted_at: float
    timing: NodeTiming
    restart_policy: str
    init_containers: list[ContainerRuntime]
    containers: list[ContainerRuntime]
    pod_ip: str = ""
    failed: Termination | None = None
    failure_reason: str = ""
    failure_message: str = ""
    crash_after: float = 1.0
    backoff_base: float = 1.0
    backoff_max: float = 30.0

    @property
    def initialized_at(self) -> float | None:
        """When the last init container completed (or the pod started, without init containers)."""
        start = self.admitted_at + self.timing.start_delay
        if not self.init_containers:
            return start
        last = self.init_containers[-1].terminated
        return last.finished_at if last is not None and last.exit_code == 0 else None


def new_runtime(pod: Mapping[str, Any], now: float, timing: NodeTiming) -> PodRuntime:
    """Admit a pod: nothing has started yet."""
    spec = pod.get("spec") or {}
    return PodRuntime(
        uid=str(pod["metadata"].get("uid", "")),
        admitted_at=now,
        timing=timing,
        restart_policy=str(spec.get("restartPolicy") or "Always"),
        init_containers=[_container(c) for c in spec.get("initContainers") or []],
        containers=[_container(c) for c in spec.get("containers") or []],
    )


def adopt_running(pod: Mapping[str, Any], now: float, timing: NodeTiming) -> PodRuntime:
    """A runtime for a pod that was already running before this kubelet started (restart counts kept)."""
    runtime = new_runtime(pod, now - timing.start_delay - timing.ready_delay, timing)
    statuses = {s.get("name"): s for s in (pod.get("status") or {}).get("containerStatuses") or []}
    for init in runtime.init_containers:
        init.started_at = runtime.admitted_at
        init.terminated = Termination(0, "Completed", runtime.admitted_at, runtime.admitted_at)
    for container in runtime.containers:
        container.restart_count = int((statuses.get(container.name) or {}).get("restartCount") or 0)
        container.started_at = runtime.admitted_at + timing.start_delay
        container.ready_at = container.started_at + timing.ready_delay
    return runtime


def _container(spec: Mapping[str, Any]) -> ContainerRuntime:
    return ContainerRuntime(name=str(spec.get("name", "")), image=str(spec.get("image", "")))


# ---------------------------------------------------------------------------------------------------
# Moving time forward


def advance(runtime: PodRuntime, now: float) -> float | None:
    """Apply every transition due by ``now``; return when the next one is due (None: nothing pending)."""
    if runtime.failed is not None:
        return None
    timing = runtime.timing
    moment = runtime.admitted_at + timing.start_delay
    if now < moment:
        return moment
    for init in runtime.init_containers:
        if init.terminated is not None and init.terminated.exit_code == 0:
            moment = init.terminated.finished_at
            continue
        if init.started_at is None:
            init.started_at = moment
            init.generation += 1
        finish = init.started_at + timing.init_delay
        if now < finish:
            return finish
        init.terminated = Termination(0, "Completed", init.started_at, finish)
        moment = finish
    due: list[float] = []
    for container in runtime.containers:
        next_at = _advance_container(runtime, container, moment, now)
        if next_at is not None:
            due.append(next_at)
    if runtime.containers and all(_finished_for_good(runtime, c) for c in runtime.containers):
        return None
    return min(due) if due else None


def _advance_container(
    runtime: PodRuntime, container: ContainerRuntime, start: float, now: float
) -> float | None:
    timing = runtime.timing
    for _ in range(1000):  # a crash loop can cycle several times between two syncs
        if container.started_at is None:
            container.started_at = start
            container.ready_at = start + timing.ready_delay
            container.generation += 1
        if container.terminated is not None:
            if container.restart_at is None or not _may_restart(runtime, container.terminated):
                return None
            if now < container.restart_at:
                return container.restart_at
            _restart(container, container.restart_at, timing)
            continue
        if container.crash_looping:
            crash = container.started_at + runtime.crash_after
            if now < crash:
                ready_first = container.ready_at is not None and now < container.ready_at < crash
                return container.ready_at if ready_first and container.ready_at is not None else crash
            _terminate(runtime, container, Termination(1, "Error", container.started_at, crash))
            continue
        if container.ready_at is not None and now < container.ready_at:
            return container.ready_at
        return None
    return None


def _may_restart(runtime: PodRuntime, termination: Termination) -> bool:
    if runtime.restart_policy == "Always":
        return True
    return runtime.restart_policy == "OnFailure" and termination.exit_code != 0


def _finished_for_good(runtime: PodRuntime, container: ContainerRuntime) -> bool:
    return container.terminated is not None and not _may_restart(runtime, container.terminated)


def _terminate(runtime: PodRuntime, container: ContainerRuntime, termination: Termination) -> None:
    container.terminated = termination
    container.ready_at = None
    # A single kill restarts at once; a crash loop backs off 1x, 2x, 4x ... the base delay, capped
    # (the kubelet's CrashLoopBackOff uses 10 s doubling to 5 min; ours is configurable).
    backoff = 0.0
    if container.crash_looping:
        backoff = min(runtime.backoff_base * 2 ** max(0, container.restart_count - 1), runtime.backoff_max)
    container.restart_at = termination.finished_at + backoff


def _restart(container: ContainerRuntime, at: float, timing: NodeTiming) -> None:
    container.last_terminated = container.terminated
    container.terminated = None
    container.restart_at = None
    container.restart_count += 1
    container.started_at = at
    container.ready_at = at + timing.ready_delay
    container.generation += 1


# ---------------------------------------------------------------------------------------------------
# Faults


def restart_container(runtime: PodRuntime, name: str | None, now: float, *, exit_code: int = 137) -> str:
    """Kill one container (the first by default); the kubelet restarts it as its restart policy says.

    Returns the container's name. Raises ``KeyError`` when the pod has no such container.
    """
    container = _find(runtime, name)
    started = container.started_at if container.started_at is not None else now
    _terminate(
        runtime, container, Termination(exit_code, "Completed" if exit_code == 0 else "Error", started, now)
    )
    return container.name


def set_crash_loop(runtime: PodRuntime, name: str | None, enabled: bool) -> str:
    """Make a container exit with code 1 shortly after every start (restarts back off exponentially)."""
    container = _find(runtime, name)
    container.crash_looping = enabled
    return container.name


def crash_pod(
    runtime: PodRuntime, now: float, *, reason: str = "Error", message: str = "", exit_code: int = 1
) -> None:
    """Every container dies and the pod is Failed, whatever its restart policy (as an eviction)."""
    for container in runtime.containers:
        started = container.started_at if container.started_at is not None else now
        if container.terminated is None:
            container.terminated = Termination(exit_code, "Error", started, now)
        container.restart_at = None
        container.ready_at = None
    runtime.failed = Termination(exit_code, reason, runtime.admitted_at, now)
    runtime.failure_reason = reason
    runtime.failure_message = message


def _find(runtime: PodRuntime, name: str | None) -> ContainerRuntime:
    if not runtime.containers:
        raise KeyError("the pod has no containers")
    if name is None:
        return runtime.containers[0]
    for container in runtime.containers:
        if container.name == name:
            return container
    names = ", ".join(c.name for c in runtime.containers)
    raise KeyError(f"no container named {name!r} (the pod has: {names})")


# ---------------------------------------------------------------------------------------------------
# Rendering


def rfc3339(moment: float | None) -> str | None:
    """A POSIX time as Kubernetes writes timestamps (whole seconds, UTC)."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _image_id(image: str) -> str:
    digest = hashlib.sha256(image.encode()).hexdigest()
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repository}@sha256:{digest}"


def _termination(term: Termination, container_id: str) -> dict[str, Any]:
    return {
        "terminated": {
            "exitCode": term.exit_code,
            "reason": term.reason,
            "startedAt": rfc3339(term.started_at),
            "finishedAt": rfc3339(term.finished_at),
            "containerID": container_id,
        }
    }


def _container_status(
    runtime: PodRuntime, container: ContainerRuntime, now: float, *, init: bool, waiting: str
) -> dict[str, Any]:
    container_id = container.container_id(runtime.uid)
    status: dict[str, Any] = {
        "name": container.name,
        "image": container.image,
        "imageID": "",
        "restartCount": container.restart_count,
        "started": False,
        "ready": False,
    }
    if container.terminated is not None:
        status["state"] = _termination(container.terminated, container_id)
        status["containerID"] = container_id
        status["imageID"] = _image_id(container.image)
        backing_off = (
            container.crash_looping and container.restart_at is not None and now < container.restart_at
        )
        if backing_off and _may_restart(runtime, container.terminated):
            message = f"back-off restarting failed container {container.name}"
            status["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
            status["lastState"] = _termination(container.terminated, container_id)
        if init and container.terminated.exit_code == 0:
            status["ready"] = True
    elif container.started_at is not None and now >= container.started_at:
        status["state"] = {"running": {"startedAt": rfc3339(container.started_at)}}
        status["containerID"] = container_id
        status["imageID"] = _image_id(container.image)
        status["started"] = True
        status["ready"] = container.ready_at is not None and now >= container.ready_at
    else:
        status["state"] = {"waiting": {"reason": waiting}}
    if container.last_terminated is not None and "lastState" not in status:
        status["lastState"] = _termination(container.last_terminated, container_id)
    elif "lastState" not in status:
        status["lastState"] = {}
    return status


def _condition(
    kind: str, ok: bool, old: Mapping[str, Mapping[str, Any]], now: float, reason: str = "", message: str = ""
) -> dict[str, Any]:
    status = "True" if ok else "False"
    previous = old.get(kind)
    since = (
        previous.get("lastTransitionTime") if previous and previous.get("status") == status else rfc3339(now)
    )
    condition: dict[str, Any] = {
        "type": kind,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": since,
    }
    if not ok and reason:
        condition["reason"] = reason
        if message:
            condition["message"] = message
    return condition


def render_status(
    pod: Mapping[str, Any], runtime: PodRuntime, now: float, *, host_ip: str, terminating: bool = False
) -> dict[str, Any]:
    """The ``status`` the kubelet reports for ``pod`` at ``now`` (conditions it does not own are kept)."""
    old_status = pod.get("status") or {}
    old_conditions = {c.get("type", ""): c for c in old_status.get("conditions") or []}
    spec = pod.get("spec") or {}
    started = now >= runtime.admitted_at + runtime.timing.start_delay
    init_statuses = [
        _container_status(
            runtime, c, now, init=True, waiting="PodInitializing" if started else "ContainerCreating"
        )
        for c in runtime.init_containers
    ]
    initialized = runtime.initialized_at is not None and now >= runtime.initialized_at
    waiting = "PodInitializing" if runtime.init_containers and not initialized else "ContainerCreating"
    statuses = [_container_status(runtime, c, now, init=False, waiting=waiting) for c in runtime.containers]

    phase = _phase(runtime, terminating) if started else "Pending"
    unready = [s["name"] for s in statuses if not s["ready"]]
    incomplete = [s["name"] for s in init_statuses if not s["ready"]]
    containers_ready = not unready and phase == "Running"
    gate_problem = _readiness_gate_problem(spec, old_conditions)
    # Why the containers (and so, gates aside, the pod) are not ready: finished, or these are not.
    finished = phase in ("Failed", "Succeeded")
    unready_reason = "PodCompleted" if finished else "ContainersNotReady"
    unready_message = "" if finished else f"containers with unready status: [{' '.join(unready)}]"
    conditions = [c for c in old_status.get("conditions") or [] if c.get("type") not in KUBELET_CONDITIONS]
    conditions += [
        _condition("PodReadyToStartContainers", started and not finished, old_conditions, now),
        _condition(
            "Initialized",
            initialized or (finished and not incomplete),
            old_conditions,
            now,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(incomplete)}]",
        ),
        _condition("ContainersReady", containers_ready, old_conditions, now, unready_reason, unready_message),
    ]
    if containers_ready and gate_problem:
        conditions.append(
            _condition("Ready", False, old_conditions, now, "ReadinessGatesNotReady", gate_problem)
        )
    else:
        conditions.append(
            _condition("Ready", containers_ready, old_conditions, now, unready_reason, unready_message)
        )
    if "PodScheduled" not in old_conditions:
        # A pod bound by its creator (spec.nodeName set) never met the scheduler; the kubelet adds this.
        conditions.append(_condition("PodScheduled", True, old_conditions, now))
    order = {
        "PodReadyToStartContainers": 0,
        "Initialized": 1,
        "Ready": 2,
        "ContainersReady": 3,
        "PodScheduled": 4,
    }
    conditions.sort(key=lambda c: order.get(c.get("type", ""), 5))

    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": old_status.get("startTime") or rfc3339(runtime.admitted_at),
        "containerStatuses": statuses,
        "qosClass": old_status.get("qosClass") or _qos_class(spec),
    }
    if runtime.pod_ip and started:
        status["podIP"] = runtime.pod_ip
        status["podIPs"] = [{"ip": runtime.pod_ip}]
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    if runtime.failed is not None and runtime.failure_reason:
        status["reason"] = runtime.failure_reason
        if runtime.failure_message:
            status["message"] = runtime.failure_message
    return status


def _phase(runtime: PodRuntime, terminating: bool) -> str:
    if runtime.failed is not None:
        return "Failed"
    containers = runtime.containers
    if any(c.started_at is None for c in containers):
        return "Pending"
    stopped = [c for c in containers if c.terminated is not None]
    done = stopped if terminating else [c for c in stopped if _finished_for_good(runtime, c)]
    if containers and len(done) == len(containers):
        failed = any(c.terminated is not None and c.terminated.exit_code != 0 for c in done)
        return "Failed" if failed else "Succeeded"
    return "Running"


def _readiness_gate_problem(spec: Mapping[str, Any], conditions: Mapping[str, Mapping[str, Any]]) -> str:
    for gate in spec.get("readinessGates") or []:
        kind = gate.get("conditionType", "")
        condition = conditions.get(kind)
        if condition is None:
            return f'corresponding condition of pod readiness gate "{kind}" does not exist.'
        if condition.get("status") != "True":
            return f'the status of pod readiness gate "{kind}" is not "True", but {condition.get("status")}'
    return ""


def _qos_class(spec: Mapping[str, Any]) -> str:
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    requests = [((c.get("resources") or {}).get("requests") or {}) for c in containers]
    limits = [((c.get("resources") or {}).get("limits") or {}) for c in containers]
    if not any(requests) and not any(limits):
        return "BestEffort"
    guaranteed = all(
        lim.get("cpu")
        and lim.get("memory")
        and req.get("cpu", lim["cpu"]) == lim["cpu"]
        and req.get("memory", lim["memory"]) == lim["memory"]
        for req, lim in zip(requests, limits, strict=True)
    )
    return "Guaranteed" if guaranteed else "Burstable"


def terminate_all(runtime: PodRuntime, now: float) -> None:
    """Stop every running container for a pod being deleted (SIGTERM honoured: exit code 0)."""
    for container in runtime.containers:
        if container.terminated is None:
            started = container.started_at if container.started_at is not None else now
            container.terminated = Termination(0, "Completed", started, now)
        container.restart_at = None
        container.ready_at = None
