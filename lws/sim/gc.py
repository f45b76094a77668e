"""The ownerReference garbage collector, following kube-controller-manager's semantics.

* **Background** (the default): the owner goes at once; afterwards every dependent whose owners are all gone
  is deleted (and so on down: dependents of dependents).
* **Foreground**: the owner keeps existing with ``deletionTimestamp`` and the ``foregroundDeletion``
  finalizer; its dependents are deleted (in foreground themselves, so the chain unwinds bottom-up), and
  once no dependent with ``blockOwnerDeletion: true`` is left the finalizer is removed and the owner goes.
* **Orphan**: the ``orphan`` finalizer makes the collector remove the owner's ownerReferences from its
  dependents, then the finalizer; dependents survive.

An owner is identified by uid. An ownerReference to a uid that does not exist (never did, or is gone), or to
a namespaced owner in another namespace, counts as absent, so such dependents are collected too.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lws.sim.apiserver import FOREGROUND_FINALIZER, MERGE_PATCH, ORPHAN_FINALIZER, APIServer
from lws.sim.errors import APIError, ignoring_not_found
from lws.sim.objects import owner_uids
from lws.sim.resources import GroupResource
from lws.sim.store import DELETED, StoredEvent
from lws.sim.workqueue import WorkQueue, run_workers

Ref = tuple[GroupResource, str, str]
"""``(group-resource, namespace, name)`` of a stored object."""

# Work items: ("dependent", ref) re-examines one object's owners; ("owner", uid) handles an owner that is
# being deleted in foreground or orphan mode.
Work = tuple[str, Any]


class GarbageCollector:
    """The collector's state: who depends on whom, and what needs a look."""

    def __init__(self, api: APIServer) -> None:
        self.api = api
        self.queue: WorkQueue[Work] = WorkQueue()
        self.dependents: defaultdict[str, set[Ref]] = defaultdict(set)

    def observe(self, gr: GroupResource, event: StoredEvent) -> None:
        """Store listener: keep the dependents index and queue what the event makes worth checking."""
        meta = event.obj["metadata"]
        ref: Ref = (gr, meta.get("namespace") or "", meta["name"])
        old_owners = set(owner_uids(event.prev)) if event.prev is not None else set()
        new_owners = set(owner_uids(event.obj)) if event.type != DELETED else set()
        for uid in old_owners - new_owners:
            self.dependents[uid].discard(ref)
            if not self.dependents[uid]:
                del self.dependents[uid]
            self.queue.add(("owner", uid))  # a foreground owner may have been waiting for this one
        for uid in new_owners - old_owners:
            self.dependents[uid].add(ref)
        if new_owners and (event.type == "ADDED" or new_owners != old_owners):
            self.queue.add(("dependent", ref))
        uid = meta.get("uid")
        if not uid:
            return
        if event.type == DELETED:
            for dependent in tuple(self.dependents.get(uid, ())):
                self.queue.add(("dependent", dependent))
        elif meta.get("deletionTimestamp") and {FOREGROUND_FINALIZER, ORPHAN_FINALIZER} & set(
            meta.get("finalizers") or ()
        ):
            self.queue.add(("owner", uid))

    async def process(self, work: Work) -> None:
        """Handle one work item."""
        kind, value = work
        if kind == "dependent":
            await self._collect_if_orphaned(value)
        else:
            await self._handle_owner(value)

    # -- dependents --------------------------------------------------------------------------------

    async def _collect_if_orphaned(self, ref: Ref) -> None:
        gr, namespace, name = ref
        obj = self.api.store.get(gr, namespace, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        solid, waiting, absent = self._classify_owners(obj)
        resource = _served(self.api, gr)
        if resource is None:
            return
        if solid:
            if absent:
                await self._drop_owner_refs(ref, set(absent))
            return
        policy = "Foreground" if waiting else None
        finalizers = set(obj["metadata"].get("finalizers") or ())
        if policy is None:
            policy = (
                "Orphan"
                if ORPHAN_FINALIZER in finalizers
                else "Foreground"
                if FOREGROUND_FINALIZER in finalizers
                else "Background"
            )
        with ignoring_not_found():
            await self.api.delete(resource.gvr, namespace or None, name, propagation_policy=policy)

    def _classify_owners(self, obj: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
        """Owner uids split into solid (alive), waiting (foreground-deleting) and absent."""
        solid: list[str] = []
        waiting: list[str] = []
        absent: list[str] = []
        namespace = obj["metadata"].get("namespace") or ""
        for uid in owner_uids(obj):
            found = self.api.store.by_uid(uid)
            if found is None:
                absent.append(uid)
                continue
            owner_gr, owner = found
            owner_resource = _served(self.api, owner_gr)
            owner_namespace = owner["metadata"].get("namespace") or ""
            if owner_resource is not None and owner_resource.namespaced and owner_namespace != namespace:
                absent.append(uid)  # namespaced owners must live in the dependent's namespace
                continue
            meta = owner["metadata"]
            if meta.get("deletionTimestamp") and FOREGROUND_FINALIZER in (meta.get("finalizers") or ()):
                waiting.append(uid)
            else:
                solid.append(uid)
        return solid, waiting, absent

    # -- owners being deleted ----------------------------------------------------------------------

    async def _handle_owner(self, uid: str) -> None:
        found = self.api.store.by_uid(uid)
        if found is None:
            return
        gr, owner = found
        meta = owner["metadata"]
        finalizers = list(meta.get("finalizers") or ())
        if not meta.get("deletionTimestamp"):
            return
        live = self._live_dependents(uid)
        if ORPHAN_FINALIZER in finalizers:
            for ref in live:
                await self._drop_owner_refs(ref, {uid})
            await self._remove_finalizer(gr, owner, ORPHAN_FINALIZER)
            return
        if FOREGROUND_FINALIZER not in finalizers:
            return
        blocking = False
        for ref, dependent in live.items():
            if not dependent["metadata"].get("deletionTimestamp"):
                self.queue.add(("dependent", ref))
            if _blocks(dependent, uid):
                blocking = True
        if not blocking:
            await self._remove_finalizer(gr, owner, FOREGROUND_FINALIZER)

    def _live_dependents(self, uid: str) -> dict[Ref, dict[str, Any]]:
        live: dict[Ref, dict[str, Any]] = {}
        for ref in tuple(self.dependents.get(uid, ())):
            obj = self.api.store.get(*ref)
            if obj is not None and uid in owner_uids(obj):
                live[ref] = obj
        return live

    async def _drop_owner_refs(self, ref: Ref, uids: set[str]) -> None:
        gr, namespace, name = ref
        obj = self.api.store.get(gr, namespace, name)
        resource = _served(self.api, gr)
        if obj is None or resource is None:
            return
        refs = obj["metadata"].get("ownerReferences") or []
        kept = [r for r in refs if r.get("uid") not in uids]
        if len(kept) == len(refs):
            return
        patch = {
            "metadata": {
                "ownerReferences": kept or None,
                "resourceVersion": obj["metadata"]["resourceVersion"],
            }
        }
        try:
            await self.api.patch(resource.gvr, namespace or None, name, patch, MERGE_PATCH)
        except APIError as exc:
            if exc.code == 409:
                self.queue.add(("dependent", ref))  # changed meanwhile: look again
            elif exc.code != 404:
                raise

    async def _remove_finalizer(self, gr: GroupResource, owner: dict[str, Any], finalizer: str) -> None:
        resource = _served(self.api, gr)
        if resource is None:
            return
        meta = owner["metadata"]
        kept = [f for f in meta.get("finalizers") or () if f != finalizer]
        patch = {"metadata": {"finalizers": kept or None, "resourceVersion": meta["resourceVersion"]}}
        try:
            await self.api.patch(resource.gvr, meta.get("namespace"), meta["name"], patch, MERGE_PATCH)
        except APIError as exc:
            if exc.code == 409:
                self.queue.add(("owner", meta.get("uid")))
            elif exc.code != 404:
                raise


def _blocks(dependent: dict[str, Any], owner_uid: str) -> bool:
    for ref in dependent["metadata"].get("ownerReferences") or ():
        if ref.get("uid") == owner_uid and ref.get("blockOwnerDeletion"):
            return True
    return False


def _served(api: APIServer, gr: GroupResource) -> Any:
    versions = api.registry.versions_of(gr)
    return versions[0] if versions else None


async def run_garbage_collector(api: APIServer) -> None:
    """Run until cancelled: collect dependents as owners go (see the module docstring)."""
    collector = GarbageCollector(api)
    api.store.add_listener(collector.observe)
    try:
        # Objects that exist before the collector starts are indexed as if just added.
        for gr in api.store.group_resources():
            for obj in api.store.items(gr):
                collector.observe(gr, StoredEvent(0, "ADDED", obj, None))
        # A failed write (a webhook down, a conflict) comes back after a growing delay, as in
        # kube-controller-manager: a foreground deletion never sticks because one update failed.
        await run_workers("garbage collector", collector.queue, collector.process)
    finally:
        api.store.remove_listener(collector.observe)
