"""The default scheduler: bind pending pods to nodes, one at a time, in creation order.

It schedules pods whose ``spec.schedulerName`` is one of its names — ``default-scheduler`` (also for an
empty name) unless configured otherwise, as kube-scheduler serves the names of its profiles; pods naming
another scheduler, such as ``volcano``, stay Pending, as on a cluster without that scheduler.
Placement is decided by :func:`lws.sim.controllers.placement.find_node` over a :class:`ClusterSnapshot`
that watch events keep current; a pod just bound is counted at once ("assumed"), before its event comes back.

A pod that fits nowhere gets ``PodScheduled=False`` with reason ``Unschedulable`` and kube-scheduler's
message (written only when it changes); it is tried again whenever the cluster changes in a way
that could matter (a pod bound, removed or relabelled, a node or namespace changed) or the pod
itself changes. A pod with ``schedulingGates`` gets reason ``SchedulingGated`` and waits for its
gates to be removed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from lws.sim.apiserver import APIServer
from lws.sim.controllers.container_runtime import rfc3339
from lws.sim.controllers.informer import Informers
from lws.sim.controllers.placement import ClusterSnapshot, PodInfo, PodSpecError, find_node, pod_info
from lws.sim.controllers.status_patch import patch_status
from lws.sim.errors import APIError

log = logging.getLogger(__name__)

PODS = ("", "v1", "pods")
NODES = ("", "v1", "nodes")
NAMESPACES = ("", "v1", "namespaces")
DEFAULT_SCHEDULER = "default-scheduler"
GATED_MESSAGE = "Scheduling is blocked due to non-empty scheduling gates"

Key = tuple[str, str]


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


def _terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded")


def _gated_and_told(pod: Mapping[str, Any]) -> bool:
    """Whether the pod has scheduling gates and its PodScheduled condition already says so."""
    if not (pod.get("spec") or {}).get("schedulingGates"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(
        c.get("type") == "PodScheduled"
        and c.get("reason") == "SchedulingGated"
        and c.get("status") == "False"
        for c in conditions
    )


def _placement_fields(pod: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """What of a bound pod matters to placement decisions (a kubelet status write changes none of it)."""
    if pod is None:
        return ()
    meta = pod["metadata"]
    return (
        (pod.get("spec") or {}).get("nodeName"),
        meta.get("labels"),
        bool(meta.get("deletionTimestamp")),
        _terminal(pod),
    )


class Scheduler:
    """Schedules pods for its profiles' names (``default-scheduler`` unless configured otherwise)."""

    def __init__(
        self, api: APIServer, informers: Informers, *, names: tuple[str, ...] = (DEFAULT_SCHEDULER,)
    ) -> None:
        self.api = api
        # Pods with no schedulerName get default-scheduler (the API's default), so "" means that name.
        self.names = frozenset(names)
        self.informers = informers
        self.snapshot = ClusterSnapshot()
        self.pods = informers.get(PODS)
        self.nodes = informers.get(NODES)
        self.namespaces = informers.get(NAMESPACES)
        self.pending: dict[Key, dict[str, Any]] = {}
        self.failed_at: dict[Key, float] = {}
        self.generation = 0
        self.bound = 0
        self._wake = asyncio.Event()
        self.pods.add_handler(self._on_pod)
        self.nodes.add_handler(self._on_node)
        self.namespaces.add_handler(self._on_namespace)

    # -- events ----------------------------------------------------------------------------------

    def _changed(self) -> None:
        self.generation += 1
        if self.pending:
            self._wake.set()

    def _on_pod(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        key = _key(new or old or {"metadata": {"name": ""}})
        if new is None:
            self.pending.pop(key, None)
            self.failed_at.pop(key, None)
            if key in self.snapshot.pods:
                self.snapshot.remove_pod(key)
                self._changed()
            return
        spec = new.get("spec") or {}
        if spec.get("nodeName"):
            self.pending.pop(key, None)
            self.failed_at.pop(key, None)
            if _placement_fields(old) == _placement_fields(new) and key in self.snapshot.pods:
                return
            if _terminal(new):
                self.snapshot.remove_pod(key)
            else:
                self.snapshot.add_pod(_bound_info(new))
            self._changed()
            return
        if (spec.get("schedulerName") or DEFAULT_SCHEDULER) not in self.names or _terminal(new):
            return
        if new["metadata"].get("deletionTimestamp") or _gated_and_told(new):
            # A gated pod that already says so waits outside the pending set until it changes, so that
            # thousands of gated pods cost nothing when others come.
            self.pending.pop(key, None)
            return
        self.pending[key] = new
        self.failed_at.pop(key, None)  # the pod itself changed (gates removed, affinity edited): try again
        self._wake.set()

    def _on_node(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if new is None:
            if old is not None:
                self.snapshot.remove_node(old["metadata"]["name"])
        else:
            self.snapshot.set_node(new)
        self._changed()

    def _on_namespace(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if new is not None:
            self.snapshot.set_namespace(new["metadata"]["name"], new["metadata"].get("labels") or {})
            self._changed()

    # -- the loop --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Schedule until cancelled."""
        await self.informers.wait_synced()
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.schedule_pending()

    async def schedule_pending(self) -> None:
        """Try every pending pod not yet tried since the cluster last changed, oldest first."""
        while True:
            candidates = [
                pod for key, pod in self.pending.items() if self.failed_at.get(key, -1.0) < self.generation
            ]
            if not candidates:
                return
            candidates.sort(
                key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"])
            )
            for pod in candidates:
                key = _key(pod)
                current = self.pending.get(key)
                if current is None or self.failed_at.get(key, -1.0) >= self.generation:
                    continue
                try:
                    await self.schedule_one(current)
                except APIError as exc:
                    log.debug("scheduling %s/%s: %s", key[0], key[1], exc)
                    self.failed_at[key] = self.generation
                except Exception:  # one bad pod must not stop scheduling for everyone
                    log.exception("scheduling %s/%s failed", key[0], key[1])
                    self.failed_at[key] = self.generation

    async def schedule_one(self, pod: dict[str, Any]) -> None:
        """Bind one pod, or record why it cannot be scheduled."""
        key = _key(pod)
        attempt = self.generation
        if (pod.get("spec") or {}).get("schedulingGates"):
            self.pending.pop(key, None)  # back when its condition is written, or when it changes
            await self._set_condition(pod, "SchedulingGated", GATED_MESSAGE)
            return
        try:
            info = pod_info(pod)
        except PodSpecError as exc:
            self.failed_at[key] = attempt
            await self._set_condition(pod, "Unschedulable", str(exc))
            return
        placement = find_node(info, self.snapshot)
        if placement.node is None:
            self.failed_at[key] = attempt
            await self._set_condition(pod, "Unschedulable", placement.message)
            return
        meta = pod["metadata"]
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"], "namespace": key[0], "uid": meta.get("uid")},
            "target": {"apiVersion": "v1", "kind": "Node", "name": placement.node},
        }
        # Assume the binding before awaiting it, so pods scheduled meanwhile see this one placed.
        info.node_name = placement.node
        self.snapshot.add_pod(info)
        self.pending.pop(key, None)
        try:
            await self.api.create(PODS, key[0], binding, subresource="binding", name=meta["name"])
        except APIError as exc:
            self.snapshot.remove_pod(key)
            if exc.code == 404:
                return
            if exc.code == 409:
                return
            self.pending[key] = pod
            raise
        self.bound += 1
        self._changed()

    async def _set_condition(self, pod: dict[str, Any], reason: str, message: str) -> None:
        status = pod.get("status") or {}
        conditions = list(status.get("conditions") or [])
        current = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
        if (
            current is not None
            and current.get("status") == "False"
            and current.get("reason") == reason
            and current.get("message") == message
        ):
            return
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": reason,
            "message": message,
            "lastProbeTime": None,
            "lastTransitionTime": rfc3339(time.time()),
        }
        conditions = [c for c in conditions if c.get("type") != "PodScheduled"] + [condition]
        body: dict[str, Any] = {"status": {"conditions": conditions}}
        if not status.get("phase"):
            body["status"]["phase"] = "Pending"
        await patch_status(self.api, PODS, pod, body)


def _bound_info(pod: dict[str, Any]) -> PodInfo:
    """A bound pod for the snapshot; a pod whose constraints do not parse still uses its resources."""
    try:
        return pod_info(pod)
    except PodSpecError:
        meta = pod["metadata"]
        return PodInfo(
            namespace=meta.get("namespace") or "",
            name=meta["name"],
            labels=meta.get("labels") or {},
            node_name=(pod.get("spec") or {}).get("nodeName") or "",
            requests={},
        )
