"""Simulated kubelets: run the pods bound to each node and report their status; node failure and recovery.

One controller plays the kubelet of every Node. For each bound pod it keeps a simulated container
runtime (:mod:`lws.sim.controllers.container_runtime`) and writes ``pods/status`` when the
rendered status changes: Pending with ContainerCreating, then (after the node's start delay and
init containers) Running, then Ready after the readiness delay; with zero delays a pod goes to
Running and Ready in one write. A pod being deleted is terminated (for its grace period, capped by
:attr:`KubeletConfig.max_termination_seconds`), reported Succeeded, then removed.

Node failure, simplified from the node lifecycle controller (documented in docs/design):

1. :meth:`Kubelets.fail_node` stops the node's kubelet, sets the node's conditions to ``Unknown``
   (``NodeStatusUnknown``) and adds the ``node.kubernetes.io/unreachable`` NoSchedule and NoExecute
   taints, so nothing new is scheduled there. Its pods get ``Ready=False`` at once.
2. After :attr:`KubeletConfig.node_eviction_seconds` (Kubernetes waits 300 s of toleration), pods
   still on the node become ``Failed`` with reason ``NodeLost``, and pods already being deleted
   there are removed (as the pod GC does for out-of-service nodes), so controllers can replace them.
3. :meth:`Kubelets.recover_node` restores ``Ready=True``, removes the taints and resumes the
   kubelet: pods that were not evicted become Ready again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lws.sim.apiserver import MERGE_PATCH, APIServer
from lws.sim.controllers import container_runtime as cr
from lws.sim.controllers.informer import Informers
from lws.sim.controllers.status_patch import patch_status
from lws.sim.errors import APIError
from lws.sim.topology import NodeTiming
from lws.sim.workqueue import WorkQueue, run_workers

log = logging.getLogger(__name__)

PODS = ("", "v1", "pods")
NODES = ("", "v1", "nodes")
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
FALLBACK_POD_NETWORK = ipaddress.IPv4Network("10.128.0.0/9")

Key = tuple[str, str]


@dataclass(frozen=True)
class KubeletConfig:
    """How the simulated kubelets behave; per-node timing usually comes from the topology."""

    timing: NodeTiming = field(default_factory=NodeTiming)
    node_timing: Mapping[str, NodeTiming] = field(default_factory=dict)
    max_termination_seconds: float = 0.2
    """Grace periods are honoured up to this many seconds, so deletions stay fast in tests."""
    node_eviction_seconds: float = 1.0
    """How long pods stay on a failed node before they are marked Failed (NodeLost)."""
    crash_after_seconds: float = 0.5
    """How long a crash-looping container runs before it exits."""
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 10.0
    workers: int = 4
    clock: Callable[[], float] = time.time
    """The kubelets' time (POSIX seconds): every delay above is measured on it. A test that must see each
    step of a pod's life drives a clock of its own, since on the wall clock a busy event loop can sleep
    through a short step (a kubelet reports what it finds when it looks, as a real one does)."""

    def timing_for(self, node: str) -> NodeTiming:
        """The timing of one node's kubelet."""
        return self.node_timing.get(node, self.timing)


def _node_ip(node: Mapping[str, Any]) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address"))
    return ""


class _IPPool:
    """Pod IPs per node, from the node's podCIDR (or a fallback network), never handed out twice."""

    def __init__(self) -> None:
        self._used: dict[str, set[str]] = {}
        self._fallback_next = 0

    def allocate(self, node: Mapping[str, Any]) -> str:
        name = node["metadata"]["name"]
        used = self._used.setdefault(name, set())
        cidr = (node.get("spec") or {}).get("podCIDR")
        if cidr:
            network = ipaddress.IPv4Network(cidr)
            for offset in range(2, network.num_addresses - 1):
                candidate = str(network.network_address + offset)
                if candidate not in used:
                    used.add(candidate)
                    return candidate
        while True:
            self._fallback_next += 1
            candidate = str(FALLBACK_POD_NETWORK.network_address + self._fallback_next)
            if all(candidate not in ips for ips in self._used.values()):
                used.add(candidate)
                return candidate

    def release(self, node: str, ip: str) -> None:
        self._used.get(node, set()).discard(ip)


class Kubelets:
    """The kubelets of every node, plus the simplified node lifecycle (see the module docstring)."""

    def __init__(
        self,
        api: APIServer,
        informers: Informers,
        config: KubeletConfig | None = None,
    ) -> None:
        self.api = api
        self.config = config or KubeletConfig()
        self.clock = self.config.clock
        self.informers = informers
        self.queue: WorkQueue[Key] = WorkQueue()
        self.pods = informers.get(PODS)
        self.nodes = informers.get(NODES)
        self.pods.add_index("node", _node_index)
        self.pods.add_handler(self._on_pod)
        self.runtimes: dict[str, cr.PodRuntime] = {}
        self.terminating_since: dict[str, float] = {}
        self.down: set[str] = set()
        self._ips = _IPPool()
        self._ip_owner: dict[str, tuple[str, str]] = {}
        self._evictions: dict[str, asyncio.TimerHandle] = {}
        self._eviction_tasks: set[asyncio.Task[None]] = set()

    def _on_pod(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if new is None:
            if old is not None:
                self._forget(old)
            return
        if (new.get("spec") or {}).get("nodeName"):
            meta = new["metadata"]
            self.queue.add((meta.get("namespace") or "", meta["name"]))

    def _forget(self, pod: Mapping[str, Any]) -> None:
        uid = pod["metadata"].get("uid", "")
        runtime = self.runtimes.pop(uid, None)
        self.terminating_since.pop(uid, None)
        if runtime is not None and runtime.pod_ip:
            owner = self._ip_owner.pop(uid, None)
            if owner is not None:
                self._ips.release(owner[0], runtime.pod_ip)

    async def run(self) -> None:
        """Run the kubelets until cancelled."""
        await self.informers.wait_synced()
        try:
            await run_workers("kubelet", self.queue, self.sync, workers=self.config.workers)
        finally:
            self.queue.close()
            for handle in self._evictions.values():
                handle.cancel()
            for task in self._eviction_tasks:
                task.cancel()

    # -- one pod ---------------------------------------------------------------------------------

    async def sync(self, key: Key) -> None:
        """Advance one pod's containers and report its status."""
        pod = self.pods.get(*key)
        if pod is None:
            return
        spec = pod.get("spec") or {}
        node_name = spec.get("nodeName")
        if not node_name or node_name in self.down:
            return
        node = self.nodes.get("", node_name)
        if node is None:
            return  # bound to a node that does not exist: nobody runs it (as on a real cluster)
        meta = pod["metadata"]
        uid = meta.get("uid", "")
        phase = (pod.get("status") or {}).get("phase")
        now = self.clock()
        runtime = self.runtimes.get(uid)
        if meta.get("deletionTimestamp"):
            await self._terminate(pod, runtime, node, now)
            return
        if phase in ("Failed", "Succeeded") and runtime is None:
            return
        if runtime is None:
            runtime = self._admit(pod, node, now)
        next_at = cr.advance(runtime, now)
        await self.write_status(pod, runtime, node, now)
        if next_at is not None:
            self.queue.add_after(key, max(0.0, next_at - now) + 0.001)

    def _admit(self, pod: dict[str, Any], node: Mapping[str, Any], now: float) -> cr.PodRuntime:
        timing = self.config.timing_for(node["metadata"]["name"])
        status = pod.get("status") or {}
        if status.get("phase") == "Running":
            runtime = cr.adopt_running(pod, now, timing)  # this kubelet (re)started under a running pod
        else:
            runtime = cr.new_runtime(pod, now, timing)
        runtime.crash_after = self.config.crash_after_seconds
        runtime.backoff_base = self.config.backoff_base_seconds
        runtime.backoff_max = self.config.backoff_max_seconds
        if (pod.get("spec") or {}).get("hostNetwork"):
            runtime.pod_ip = _node_ip(node)
        else:
            runtime.pod_ip = status.get("podIP") or self._ips.allocate(node)
            self._ip_owner[runtime.uid] = (node["metadata"]["name"], pod["metadata"]["name"])
        self.runtimes[runtime.uid] = runtime
        return runtime

    async def write_status(
        self,
        pod: dict[str, Any],
        runtime: cr.PodRuntime,
        node: Mapping[str, Any],
        now: float,
        *,
        terminating: bool = False,
    ) -> None:
        """Patch ``pods/status`` with the rendered status, if it differs from the cached one."""
        status = cr.render_status(pod, runtime, now, host_ip=_node_ip(node), terminating=terminating)
        current = pod.get("status") or {}
        if all(current.get(k) == v for k, v in status.items()):
            return
        # Pinning the resourceVersion makes a concurrent writer's change (a readiness-gate condition)
        # a conflict to retry, instead of something this merge patch would overwrite.
        body = {"metadata": {"resourceVersion": pod["metadata"].get("resourceVersion")}, "status": status}
        await patch_status(self.api, PODS, pod, body)

    async def _terminate(
        self, pod: dict[str, Any], runtime: cr.PodRuntime | None, node: Mapping[str, Any], now: float
    ) -> None:
        meta = pod["metadata"]
        uid = meta.get("uid", "")
        key = (meta.get("namespace") or "", meta["name"])
        phase = (pod.get("status") or {}).get("phase")
        if runtime is not None and phase not in ("Failed", "Succeeded"):
            since = self.terminating_since.setdefault(uid, now)
            grace = float(meta.get("deletionGracePeriodSeconds") or 0)
            done_at = since + min(grace, self.config.max_termination_seconds)
            if now < done_at:
                self.queue.add_after(key, done_at - now + 0.001)
                return
            cr.terminate_all(runtime, now)
            await self.write_status(pod, runtime, node, now, terminating=True)
        await self.remove(pod)

    async def remove(self, pod: Mapping[str, Any]) -> None:
        """Finish a pod's deletion (grace period 0), as the kubelet does once its containers stopped."""
        meta = pod["metadata"]
        namespace = meta.get("namespace") or ""
        try:
            await self.api.delete(
                PODS, namespace, meta["name"], grace_period_seconds=0, preconditions={"uid": meta["uid"]}
            )
        except APIError as exc:
            if exc.code not in (404, 409):
                raise

    # -- faults on pods --------------------------------------------------------------------------

    def runtime_of(self, pod: Mapping[str, Any]) -> cr.PodRuntime | None:
        """The runtime of a pod this kubelet runs (None if it is not running here)."""
        return self.runtimes.get(pod["metadata"].get("uid", ""))

    async def apply_fault(self, pod: dict[str, Any], change: Callable[[cr.PodRuntime, float], Any]) -> Any:
        """Change a running pod's runtime, report the result at once, then let time move on."""
        runtime = self.runtime_of(pod)
        node = self.nodes.get("", (pod.get("spec") or {}).get("nodeName") or "")
        if runtime is None or node is None:
            meta = pod["metadata"]
            raise LookupError(f"pod {meta.get('namespace')}/{meta['name']} is not running on any kubelet")
        now = self.clock()
        result = change(runtime, now)
        await self.write_status(pod, runtime, node, now)
        meta = pod["metadata"]
        self.queue.add((meta.get("namespace") or "", meta["name"]))
        return result

    # -- node lifecycle --------------------------------------------------------------------------

    async def fail_node(self, name: str) -> None:
        """Stop a node's kubelet: node Unknown and tainted, its pods NotReady, evicted after a delay."""
        node = self.nodes.get("", name)
        if node is None:
            raise LookupError(f"node {name!r} does not exist")
        self.down.add(name)
        stamp = cr.rfc3339(self.clock())
        conditions = []
        for condition in (node.get("status") or {}).get("conditions") or []:
            changed = dict(condition)
            changed.update(
                status="Unknown",
                reason="NodeStatusUnknown",
                message="Kubelet stopped posting node status.",
                lastTransitionTime=stamp,
            )
            conditions.append(changed)
        await self._patch_node(name, {"status": {"conditions": conditions}}, subresource="status")
        taints = [
            t for t in (node.get("spec") or {}).get("taints") or [] if t.get("key") != UNREACHABLE_TAINT
        ]
        taints += [
            {"key": UNREACHABLE_TAINT, "effect": "NoSchedule", "timeAdded": stamp},
            {"key": UNREACHABLE_TAINT, "effect": "NoExecute", "timeAdded": stamp},
        ]
        await self._patch_node(name, {"spec": {"taints": taints}})
        for pod in self.pods.by_index("node", name):
            if (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                await self._mark_not_ready(pod, stamp)
        loop = asyncio.get_running_loop()
        old = self._evictions.pop(name, None)
        if old is not None:
            old.cancel()
        self._evictions[name] = loop.call_later(self.config.node_eviction_seconds, self._start_eviction, name)

    def _start_eviction(self, name: str) -> None:
        # Keep a reference: the loop holds tasks only weakly.
        task = asyncio.get_running_loop().create_task(self._evict(name))
        self._eviction_tasks.add(task)
        task.add_done_callback(self._eviction_tasks.discard)

    async def _mark_not_ready(self, pod: Mapping[str, Any], stamp: str | None) -> None:
        conditions = []
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if condition.get("type") in ("Ready", "ContainersReady") and condition.get("status") == "True":
                conditions.append({**condition, "status": "False", "lastTransitionTime": stamp})
            else:
                conditions.append(condition)
        await patch_status(self.api, PODS, pod, {"status": {"conditions": conditions}})

    async def _evict(self, name: str) -> None:
        self._evictions.pop(name, None)
        if name not in self.down:
            return
        for pod in self.pods.by_index("node", name):
            meta = pod["metadata"]
            try:
                if meta.get("deletionTimestamp"):
                    await self.remove(pod)
                elif (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                    await self.api.patch(
                        PODS,
                        meta.get("namespace") or "",
                        meta["name"],
                        {
                            "status": {
                                "phase": "Failed",
                                "reason": "NodeLost",
                                "message": f"Node {name} which was running pod {meta['name']} "
                                "is unresponsive",
                            }
                        },
                        MERGE_PATCH,
                        subresource="status",
                    )
                    self._forget(pod)
            except APIError as exc:
                log.debug("evicting %s from failed node %s: %s", meta["name"], name, exc)

    async def recover_node(self, name: str) -> None:
        """Restart a failed node's kubelet: Ready again, untainted, its remaining pods resume."""
        node = self.nodes.get("", name)
        if node is None:
            raise LookupError(f"node {name!r} does not exist")
        self.down.discard(name)
        handle = self._evictions.pop(name, None)
        if handle is not None:
            handle.cancel()
        stamp = cr.rfc3339(self.clock())
        healthy = {
            "Ready": ("True", "KubeletReady", "kubelet is posting ready status"),
            "MemoryPressure": (
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        }
        conditions = []
        for condition in (node.get("status") or {}).get("conditions") or []:
            status, reason, message = healthy.get(condition.get("type", ""), ("False", "", ""))
            conditions.append(
                {
                    **condition,
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": stamp,
                }
            )
        await self._patch_node(name, {"status": {"conditions": conditions}}, subresource="status")
        taints = [
            t for t in (node.get("spec") or {}).get("taints") or [] if t.get("key") != UNREACHABLE_TAINT
        ]
        await self._patch_node(name, {"spec": {"taints": taints or None}})
        for pod in self.pods.by_index("node", name):
            self.queue.add((pod["metadata"].get("namespace") or "", pod["metadata"]["name"]))

    async def _patch_node(self, name: str, body: dict[str, Any], *, subresource: str | None = None) -> None:
        await self.api.patch(NODES, None, name, body, MERGE_PATCH, subresource=subresource)


def _node_index(pod: dict[str, Any]) -> list[str]:
    node = (pod.get("spec") or {}).get("nodeName")
    return [node] if node else []
