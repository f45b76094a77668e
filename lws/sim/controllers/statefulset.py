"""The StatefulSet controller: read the set, its pods and revisions from caches, plan, write.

Decisions live in :mod:`lws.sim.controllers.statefulset_plan`; this module only keeps the
ControllerRevisions, performs the planned creates and deletes through the API server (so admission
webhooks see every pod, with ``hostname`` and ``subdomain`` already set) and writes the status when
it changed. It reacts to events on StatefulSets and on the pods they control; there is no periodic
relist. Orphaned pods are not adopted (pods are found by their controller ownerReference).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lws.sim.apiserver import MERGE_PATCH, APIServer
from lws.sim.controllers import statefulset_plan as sp
from lws.sim.controllers.informer import Informers, controller_uid
from lws.sim.controllers.status_patch import patch_status
from lws.sim.errors import APIError, ignoring_not_found
from lws.sim.objects import clone
from lws.sim.workqueue import WorkQueue, run_workers

log = logging.getLogger(__name__)

STATEFULSETS = ("apps", "v1", "statefulsets")
PODS = ("", "v1", "pods")
REVISIONS = ("apps", "v1", "controllerrevisions")
CLAIMS = ("", "v1", "persistentvolumeclaims")
# Kubernetes creates a Parallel set's pods in slow-start batches of 1, 2, 4 ... up to this size.
MAX_BATCH = 500

Key = tuple[str, str]


def utc_now() -> datetime:
    """The current time (the controllers' clock)."""
    return datetime.now(UTC)


def _key_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


class StatefulSetController:
    """Keeps every StatefulSet's pods, claims, revisions and status in line with its spec."""

    def __init__(
        self,
        api: APIServer,
        informers: Informers,
        *,
        workers: int = 4,
        clock: Callable[[], datetime] = utc_now,
        resync_seconds: float = 60.0,
    ) -> None:
        self.api = api
        self.resync_seconds = resync_seconds
        self.clock = clock
        self.workers = workers
        self.queue: WorkQueue[Key] = WorkQueue()
        self.sets = informers.get(STATEFULSETS)
        self.pods = informers.get(PODS)
        self.revisions = informers.get(REVISIONS)
        self.claims = informers.get(CLAIMS)
        self.informers = informers
        self.pods.add_index("controller", _controller_index)
        self.revisions.add_index("controller", _controller_index)
        self.sets.add_handler(self._on_set)
        self.pods.add_handler(self._on_owned)
        # No handler on ControllerRevisions, as kube-controller-manager's StatefulSet controller registers
        # none (it only lists them): reacting to a revision's deletion recreated it at once for a set
        # being deleted in the foreground, and the garbage collector, waiting for that set's dependents
        # to go, deleted it again, for ever.

    def _on_set(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        obj = new or old
        if obj is None:
            return
        if old is not None and new is not None and _only_status_changed(old, new):
            return  # usually this controller's own status write: nothing to reconcile
        self.queue.add(_key_of(obj))

    def _on_owned(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for obj in (old, new):
            if obj is None:
                continue
            for ref in obj["metadata"].get("ownerReferences") or []:
                if ref.get("controller") and ref.get("kind") == "StatefulSet":
                    self.queue.add((obj["metadata"].get("namespace") or "", ref["name"]))

    async def run(self) -> None:
        """Process StatefulSets until cancelled."""
        await self.informers.wait_synced()
        try:
            await asyncio.gather(
                run_workers("statefulset", self.queue, self.sync, workers=self.workers), self._resync()
            )
        finally:
            self.queue.close()

    async def _resync(self) -> None:
        # A slow safety net, as controller-runtime's resync: reconcile every set now and then even
        # without events (for instance when minReadySeconds elapses and no pod changed meanwhile).
        while True:
            await asyncio.sleep(self.resync_seconds)
            for sts in self.sets.items():
                self.queue.add(_key_of(sts))

    # -- one sync --------------------------------------------------------------------------------

    async def sync(self, key: Key) -> None:
        """Reconcile one StatefulSet."""
        sts = self.sets.get(*key)
        if sts is None:
            return
        uid = sts["metadata"]["uid"]
        pods = [p for p in self.pods.by_index("controller", uid)]
        revisions = self.revisions.by_index("controller", uid)
        status = sts.get("status") or {}
        collision = int(status.get("collisionCount") or 0)
        update_rev, collision = await self._update_revision(sts, revisions, collision)
        revisions = self.revisions.by_index("controller", uid)
        current_rev = next(
            (r for r in revisions if r["metadata"]["name"] == status.get("currentRevision")), update_rev
        )
        claims_ok = self._claims_ok(sts, pods)
        now = self.clock()
        decided = sp.plan(
            sts,
            pods,
            current_rev["metadata"]["name"],
            update_rev["metadata"]["name"],
            collision,
            now,
            claims_ok=claims_ok,
        )
        templates = {
            "current": (current_rev["metadata"]["name"], sp.template_of(current_rev.get("data") or {})),
            "update": (update_rev["metadata"]["name"], sp.template_of(update_rev.get("data") or {})),
        }
        await self._perform(sts, decided.actions, templates)
        await self._write_status(sts, decided.status)
        await self._truncate_history(sts, [current_rev["metadata"]["name"], update_rev["metadata"]["name"]])
        if decided.requeue_after is not None:
            self.queue.add_after(key, decided.requeue_after + 0.01)

    async def _update_revision(
        self, sts: dict[str, Any], revisions: Sequence[dict[str, Any]], collision: int
    ) -> tuple[dict[str, Any], int]:
        choice = sp.choose_update_revision(sts, revisions, collision)
        if choice.action == "reuse":
            return dict(choice.revision), collision
        namespace = sts["metadata"].get("namespace") or ""
        if choice.action == "renumber":
            renumbered = await self.api.patch(
                REVISIONS,
                namespace,
                choice.revision["metadata"]["name"],
                {"revision": choice.next_number},
                MERGE_PATCH,
            )
            return renumbered, collision
        while True:
            candidate = sp.new_revision(sts, choice.next_number, collision)
            try:
                created = await self.api.create(REVISIONS, namespace, candidate)
            except APIError as exc:
                if exc.code != 409:
                    raise
                existing = await self.api.get(REVISIONS, namespace, candidate["metadata"]["name"])
                if sp.same_revision_data(existing.get("data") or {}, candidate["data"]):
                    return existing, collision
                collision += 1  # a hash collision with another template: try the next name
                continue
            return created, collision

    def _claims_ok(self, sts: dict[str, Any], pods: Sequence[dict[str, Any]]) -> dict[str, bool]:
        templates = (sts.get("spec") or {}).get("volumeClaimTemplates") or []
        if not templates:
            return {}
        start, count = sp.start_ordinal(sts), sp.replicas_of(sts)
        namespace = sts["metadata"].get("namespace") or ""
        result = {}
        for pod in pods:
            _, ordinal = sp.ordinal_of(pod["metadata"]["name"])
            condemned = not start <= ordinal < start + count
            ok = True
            for template in templates:
                claim = self.claims.get(namespace, sp.claim_name(template, sts["metadata"]["name"], ordinal))
                if claim is None:
                    continue
                wanted = sp.claim_owner_references(sts, pod, claim, condemned=condemned)
                if _ref_uids(wanted) != _ref_uids(claim["metadata"].get("ownerReferences") or []):
                    ok = False
            result[pod["metadata"]["name"]] = ok
        return result

    # -- actions ---------------------------------------------------------------------------------

    async def _perform(
        self,
        sts: dict[str, Any],
        actions: Sequence[sp.CreatePod | sp.DeletePod | sp.FixPod],
        templates: Mapping[str, tuple[str, dict[str, Any]]],
    ) -> None:
        creates = [a for a in actions if isinstance(a, sp.CreatePod)]
        others = [a for a in actions if not isinstance(a, sp.CreatePod)]
        # Slow start, as Kubernetes: a batch of 1, then 2, 4 ... so a failing webhook costs few calls.
        batch, done = 1, 0
        while done < len(creates):
            chunk = creates[done : done + batch]
            await asyncio.gather(*(self._create_pod(sts, a, templates) for a in chunk))
            done += len(chunk)
            batch = min(batch * 2, MAX_BATCH)
        for action in others:
            if isinstance(action, sp.DeletePod):
                await self._delete_pod(sts, action.name)
            else:
                await self._fix_pod(sts, action)

    async def _create_pod(
        self, sts: dict[str, Any], action: sp.CreatePod, templates: Mapping[str, tuple[str, dict[str, Any]]]
    ) -> None:
        namespace = sts["metadata"].get("namespace") or ""
        revision_name, template = templates[action.revision]
        pod = sp.new_pod(sts, template, revision_name, action.ordinal)
        for claim in sp.new_claims(sts, action.ordinal, None):
            cached = self.claims.get(namespace, claim["metadata"]["name"])
            if cached is not None:
                if cached["metadata"].get("deletionTimestamp"):
                    return  # a stale claim is still going away; create the pod once it is gone
                continue
            try:
                await self.api.create(CLAIMS, namespace, claim)
            except APIError as exc:
                if exc.code != 409:
                    raise
        try:
            await self.api.create(PODS, namespace, pod)
        except APIError as exc:
            if exc.code == 409 and exc.reason == "AlreadyExists":
                return  # the cache was behind; the watch will bring the pod
            raise

    async def _delete_pod(self, sts: dict[str, Any], name: str) -> None:
        namespace = sts["metadata"].get("namespace") or ""
        cached = self.pods.get(namespace, name)
        try:
            await self.api.delete(
                PODS,
                namespace,
                name,
                preconditions={"uid": cached["metadata"]["uid"]} if cached else None,
            )
        except APIError as exc:
            if exc.code in (404, 409):
                return
            raise

    async def _fix_pod(self, sts: dict[str, Any], action: sp.FixPod) -> None:
        namespace = sts["metadata"].get("namespace") or ""
        pod = self.pods.get(namespace, action.name)
        if pod is None:
            return
        _, ordinal = sp.ordinal_of(action.name)
        if not sp.identity_matches(sts, pod):
            labels = {sp.POD_NAME_LABEL: action.name, sp.POD_INDEX_LABEL: str(ordinal)}
            await self.api.patch(PODS, namespace, action.name, {"metadata": {"labels": labels}}, MERGE_PATCH)
        for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
            claim = self.claims.get(namespace, sp.claim_name(template, sts["metadata"]["name"], ordinal))
            if claim is None:
                continue
            wanted = sp.claim_owner_references(sts, pod, claim, condemned=action.condemned)
            if _ref_uids(wanted) == _ref_uids(claim["metadata"].get("ownerReferences") or []):
                continue
            body = clone(claim)
            body["metadata"]["ownerReferences"] = wanted
            await self.api.update(CLAIMS, namespace, claim["metadata"]["name"], body)

    async def _write_status(self, sts: dict[str, Any], status: dict[str, Any]) -> None:
        if not sp.status_changed(sts.get("status"), status):
            return
        await patch_status(self.api, STATEFULSETS, sts, {"status": status})

    async def _truncate_history(self, sts: dict[str, Any], live: Sequence[str]) -> None:
        uid = sts["metadata"]["uid"]
        namespace = sts["metadata"].get("namespace") or ""
        revisions = self.revisions.by_index("controller", uid)
        pods = self.pods.by_index("controller", uid)
        for name in sp.stale_revisions(sts, revisions, pods, live):
            with ignoring_not_found():
                await self.api.delete(REVISIONS, namespace, name)


def _only_status_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    bookkeeping = ("resourceVersion", "managedFields")
    old_meta = {k: v for k, v in old["metadata"].items() if k not in bookkeeping}
    new_meta = {k: v for k, v in new["metadata"].items() if k not in bookkeeping}
    return old_meta == new_meta and old.get("spec") == new.get("spec")


def _controller_index(obj: dict[str, Any]) -> list[str]:
    uid = controller_uid(obj)
    return [uid] if uid else []


def _ref_uids(refs: Sequence[Mapping[str, Any]]) -> set[str]:
    return {str(r.get("uid")) for r in refs}
