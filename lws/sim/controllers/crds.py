"""CustomResourceDefinition cleanup: deleting a CRD deletes all its objects first, as Kubernetes does.

The API server adds the ``customresourcecleanup.apiextensions.k8s.io`` finalizer when a CRD is deleted; this
controller deletes every object of the CRD's resource and, when none is left (objects with finalizers may
take a while), removes the finalizer so the CRD goes and stops being served.
"""

from __future__ import annotations

from typing import Any

from lws.sim.apiserver import MERGE_PATCH, APIServer
from lws.sim.crds import CLEANUP_FINALIZER, CRD_GVR
from lws.sim.errors import ignoring_not_found
from lws.sim.resources import GroupResource
from lws.sim.store import StoredEvent
from lws.sim.workqueue import WorkQueue, run_workers

_CRDS: GroupResource = ("apiextensions.k8s.io", "customresourcedefinitions")


async def run_crd_cleanup(api: APIServer) -> None:
    """Run until cancelled: empty and then release every CRD being deleted."""
    queue: WorkQueue[str] = WorkQueue()
    # group-resource -> name of the CRD being deleted that serves it
    terminating: dict[GroupResource, str] = {}

    def on_event(gr: GroupResource, event: StoredEvent) -> None:
        if gr == _CRDS:
            meta = event.obj["metadata"]
            if meta.get("deletionTimestamp") and event.type != "DELETED":
                spec = event.obj.get("spec") or {}
                terminating[(spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))] = meta[
                    "name"
                ]
                queue.add(meta["name"])
        elif event.type == "DELETED" and gr in terminating:
            queue.add(terminating[gr])

    api.store.add_listener(on_event)
    try:
        for crd in api.store.items(_CRDS):
            if crd["metadata"].get("deletionTimestamp"):
                on_event(_CRDS, StoredEvent(0, "MODIFIED", crd, None))

        async def sync(name: str) -> None:
            if await _sync(api, name):
                for gr in [gr for gr, crd in terminating.items() if crd == name]:
                    del terminating[gr]

        # A failed step is retried with back-off, not left waiting for a change that may never come.
        await run_workers("CRD cleanup", queue, sync)
    finally:
        api.store.remove_listener(on_event)


async def _sync(api: APIServer, name: str) -> bool:
    """Delete what is left; True once the CRD has been released."""
    crd = api.store.get(_CRDS, "", name)
    if crd is None or not crd["metadata"].get("deletionTimestamp"):
        return True
    resources = [rt for rt in api.registry if rt.crd_name == name]
    if resources:
        resource = resources[0]
        items = api.store.items(resource.group_resource)
        for obj in items:
            meta = obj["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            with ignoring_not_found():
                await api.delete(resource.gvr, meta.get("namespace"), meta["name"])
        if api.store.items(resource.group_resource):
            return False
    # A merge patch without a resourceVersion applies to whatever the CRD is now.
    kept = [f for f in crd["metadata"].get("finalizers") or [] if f != CLEANUP_FINALIZER]
    patch: dict[str, Any] = {"metadata": {"finalizers": kept or None}}
    await api.patch(CRD_GVR, None, name, patch, MERGE_PATCH)
    return True
