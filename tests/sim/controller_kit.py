"""Helpers for the built-in controller tests: an in-process API server with nodes and controllers, and
waits that are driven by watch events (never by sleeping)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from lws.sim.apiserver import APIServer
from lws.sim.controllers import Controllers, ControllersConfig, KubeletConfig, start_controllers
from lws.sim.gc import run_garbage_collector
from lws.sim.resources import GVR
from lws.sim.store import StoredEvent
from lws.sim.topology import NodeTiming, load_topology

PODS: GVR = ("", "v1", "pods")
NODES: GVR = ("", "v1", "nodes")
STATEFULSETS: GVR = ("apps", "v1", "statefulsets")
REVISIONS: GVR = ("apps", "v1", "controllerrevisions")
CLAIMS: GVR = ("", "v1", "persistentvolumeclaims")
SERVICES: GVR = ("", "v1", "services")
VOLUMES: GVR = ("", "v1", "persistentvolumes")

FAST = KubeletConfig(timing=NodeTiming(), max_termination_seconds=0.01, node_eviction_seconds=0.05)


class ManualClock:
    """A kubelet clock that moves only when the test says: each step of a pod's life is then reported
    on its own, however busy the machine (on the wall clock a stalled loop merges short steps)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward; the kubelets notice at their next look (they re-check a pending pod
        after the delay they expected, in real time)."""
        self.now += seconds


@dataclass
class Sim:
    api: APIServer
    controllers: Controllers


@contextlib.asynccontextmanager
async def running_cluster(
    topology: str = "tiny", *, kubelet: KubeletConfig = FAST, timing: NodeTiming | None = None, **config: Any
) -> AsyncIterator[Sim]:
    """An API server with the topology's nodes, the garbage collector and the workload controllers."""
    api = APIServer()
    api.bootstrap()
    topo = load_topology(topology)
    for node in topo.nodes():
        await api.create(NODES, None, node)
    kubelet = replace(kubelet, timing=timing or kubelet.timing)
    controllers = start_controllers(api, ControllersConfig(kubelet=kubelet, **config))
    gc = asyncio.get_running_loop().create_task(run_garbage_collector(api))
    try:
        await asyncio.wait_for(controllers.wait_synced(), 5)
        yield Sim(api, controllers)
    finally:
        gc.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gc
        await controllers.stop()
        api.drop_watches()


Objects = dict[str, dict[str, Any]]


class Watcher:
    """Follows one resource type through the store's listeners from the moment it is made.

    ``on_change`` sees every committed state; :meth:`until` waits for a predicate over the objects.
    """

    def __init__(
        self,
        api: APIServer,
        gvr: GVR,
        namespace: str | None,
        on_change: Callable[[Objects], None] | None = None,
    ) -> None:
        self.api = api
        self.gr = api.resource(gvr).group_resource
        self.namespace = namespace
        self.on_change = on_change
        self.objects: Objects = {obj["metadata"]["name"]: obj for obj in api.store.items(self.gr, namespace)}
        self._waiters: list[tuple[Callable[[Objects], bool], asyncio.Future[None]]] = []
        api.store.add_listener(self._listener)
        if on_change is not None:
            on_change(self.objects)

    def _listener(self, changed: Any, event: StoredEvent) -> None:
        meta = event.obj["metadata"]
        if changed != self.gr or (self.namespace is not None and meta.get("namespace") != self.namespace):
            return
        if event.type == "DELETED":
            self.objects.pop(meta["name"], None)
        else:
            self.objects[meta["name"]] = event.obj
        if self.on_change is not None:
            self.on_change(self.objects)
        for predicate, future in self._waiters:
            if not future.done() and predicate(self.objects):
                future.set_result(None)

    async def until(
        self, predicate: Callable[[Objects], bool], *, timeout: float = 10.0, what: str = "the condition"
    ) -> Objects:
        """The objects (by name) once ``predicate`` holds; re-checked on every committed change."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if predicate(self.objects):
            return dict(self.objects)
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(future, timeout)
            return dict(self.objects)
        except TimeoutError:
            summary = {name: _brief(obj) for name, obj in sorted(self.objects.items())}
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; last seen: {summary}"
            ) from None
        finally:
            self._waiters.remove(entry)

    def close(self) -> None:
        """Stop following the store."""
        self.api.store.remove_listener(self._listener)

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def wait_for(
    api: APIServer,
    gvr: GVR,
    namespace: str | None,
    predicate: Callable[[Objects], bool],
    *,
    timeout: float = 10.0,
    what: str = "the condition",
    on_change: Callable[[Objects], None] | None = None,
) -> Objects:
    """Return the objects (by name) once ``predicate`` holds, re-checked on every committed change."""
    with Watcher(api, gvr, namespace, on_change) as watcher:
        return await watcher.until(predicate, timeout=timeout, what=what)


def _brief(obj: Mapping[str, Any]) -> Any:
    status = obj.get("status") or {}
    if obj.get("kind") == "Pod":
        ready = next((c["status"] for c in status.get("conditions") or [] if c.get("type") == "Ready"), "-")
        gone = " terminating" if obj["metadata"].get("deletionTimestamp") else ""
        return f"{status.get('phase')}/ready={ready}{gone} node={obj['spec'].get('nodeName')}"
    return status


def is_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )


def statefulset(
    name: str,
    replicas: int,
    *,
    namespace: str = "default",
    image: str = "nginx:1",
    policy: str = "OrderedReady",
    strategy: Mapping[str, Any] | None = None,
    requests: Mapping[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": image}
    if requests:
        container["resources"] = {"requests": dict(requests)}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": name}},
            "updateStrategy": dict(strategy or {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
            **spec,
        },
    }


def pods_of(objects: Objects, name: str) -> dict[int, dict[str, Any]]:
    """Pods of set ``name`` by ordinal."""
    result = {}
    for pod_name, pod in objects.items():
        prefix, _, ordinal = pod_name.rpartition("-")
        if prefix == name and ordinal.isdigit():
            result[int(ordinal)] = pod
    return result


def all_ready(name: str, count: int) -> Callable[[Objects], bool]:
    def check(objects: Objects) -> bool:
        pods = pods_of(objects, name)
        return len(pods) == count and all(
            is_ready(p) and not p["metadata"].get("deletionTimestamp") for p in pods.values()
        )

    return check
