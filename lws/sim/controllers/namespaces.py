"""Namespace lifecycle, as the kube-controller-manager's namespace controller does it.

Deleting a namespace marks it ``Terminating`` (the API server does that); this controller then deletes
everything in it and, once nothing is left (objects with finalizers and terminating pods may take a while),
removes the ``kubernetes`` finalizer through ``namespaces/<name>/finalize``, which lets the namespace go.
"""

from __future__ import annotations

from typing import Any

from lws.sim.apiserver import NAMESPACE_FINALIZER, NAMESPACES_GVR, APIServer
from lws.sim.errors import ignoring_not_found
from lws.sim.objects import clone
from lws.sim.resources import GroupResource
from lws.sim.store import StoredEvent
from lws.sim.workqueue import WorkQueue, run_workers

_NAMESPACES: GroupResource = ("", "namespaces")


async def run_namespace_lifecycle(api: APIServer) -> None:
    """Run until cancelled: empty and then finalize every namespace being deleted."""
    queue: WorkQueue[str] = WorkQueue()

    def on_event(gr: GroupResource, event: StoredEvent) -> None:
        meta = event.obj["metadata"]
        if gr == _NAMESPACES:
            if meta.get("deletionTimestamp") and event.type != "DELETED":
                queue.add(meta["name"])
        elif event.type == "DELETED" and meta.get("namespace"):
            namespace = api.store.get(_NAMESPACES, "", meta["namespace"])
            if namespace is not None and namespace["metadata"].get("deletionTimestamp"):
                queue.add(meta["namespace"])

    api.store.add_listener(on_event)
    try:
        for namespace in api.store.items(_NAMESPACES):
            if namespace["metadata"].get("deletionTimestamp"):
                queue.add(namespace["metadata"]["name"])
        # A failed step (a webhook refusing a delete, a conflict) is retried with back-off, not left waiting
        # for a change that may never come.
        await run_workers("namespace lifecycle", queue, lambda name: _sync(api, name))
    finally:
        api.store.remove_listener(on_event)


async def _sync(api: APIServer, name: str) -> None:
    namespace = api.store.get(_NAMESPACES, "", name)
    if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
        return
    remaining = 0
    for gr in api.store.group_resources():
        versions = api.registry.versions_of(gr)
        if not versions or not versions[0].namespaced:
            continue
        resource = versions[0]
        for obj in api.store.items(gr, name):
            remaining += 1
            if obj["metadata"].get("deletionTimestamp"):
                continue
            with ignoring_not_found():
                await api.delete(resource.gvr, name, obj["metadata"]["name"], propagation_policy="Background")
    if remaining and any(
        api.store.items(gr, name) for gr in api.store.group_resources() if _namespaced(api, gr)
    ):
        return  # objects still going away; their DELETED events bring us back here
    await _finalize(api, name)


def _namespaced(api: APIServer, gr: GroupResource) -> bool:
    versions = api.registry.versions_of(gr)
    return bool(versions) and versions[0].namespaced


async def _finalize(api: APIServer, name: str) -> None:
    namespace = api.store.get(_NAMESPACES, "", name)
    if namespace is None:
        return
    body: dict[str, Any] = clone(namespace)
    body["metadata"].pop("resourceVersion", None)  # unconditional: only the finalizers change
    body.setdefault("spec", {})["finalizers"] = [
        f for f in body["spec"].get("finalizers") or [] if f != NAMESPACE_FINALIZER
    ]
    await api.update(NAMESPACES_GVR, None, name, body, subresource="finalize")
