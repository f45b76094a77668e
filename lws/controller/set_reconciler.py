"""The LeaderWorkerSet reconciler: revisions, the leader StatefulSet and its rollout, Services, status.

Upstream's LeaderWorkerSet controller, step by step (``lws-upstream.md`` 4.1), over the caches:

1. the set (gone or being deleted: nothing to do; the garbage collector removes the rest);
2. its ControllerRevisions: the one the leader StatefulSet runs (created if missing, e.g. when taking over
   from an older controller), and a new one when the spec's groups changed (a rollout starts);
3. partition and replicas of the leader StatefulSet from upstream's rolling-update maths;
4. the leader StatefulSet, server-side applied — only when that would change something;
5. the shared headless Service and plugin set objects, created if missing;
6. status, written only when it differs; old revisions deleted once the rollout is done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet
from lws.cluster.apply import apply
from lws.cluster.errors import AlreadyExists, ApiError, Conflict, NotFound
from lws.cluster.resources import CONTROLLER_REVISIONS, DEPLOYMENTS, LEADERWORKERSETS, STATEFULSETS
from lws.controller.children import STALE_OBJECT_RETRY_SECONDS, ensure_extra, ensure_service
from lws.controller.context import DONE, ReconcileContext, Result
from lws.controller.deps import BY_SET, Deps
from lws.controller.reporting import event
from lws.core import desired
from lws.core.applied import needs_apply
from lws.core.decisions import LeaderStatefulSetApplied, RevisionCreated, RevisionDeleted, StatusUpdated
from lws.core.groups import group_states, hash_status_observations
from lws.core.meta import lws_owner
from lws.core.observe import controlled_by, controller_of, deleting, revision_of
from lws.core.revision import same_revision
from lws.core.rollout import GroupState, RolloutInput, partition_event, rollout_parameters
from lws.core.status import compute_status, count_groups, status_changed

Obj = dict[str, Any]


async def reconcile_set(deps: Deps, ctx: ReconcileContext, namespace: str, name: str) -> Result:
    """Bring one LeaderWorkerSet's own objects and status in line with its spec."""
    obj = deps.caches.sets.get(namespace, name)
    if obj is None or deleting(obj):
        return DONE
    lws = LeaderWorkerSet(obj)
    if lws.hashed:
        return await _reconcile_hashed(deps, ctx, lws)
    leader_sts = deps.caches.statefulsets.get(namespace, name)
    if leader_sts is not None and (deleting(leader_sts) or not controlled_by(leader_sts, lws.uid)):
        # An earlier set of the same name is still being garbage-collected.
        ctx.log.info("leader statefulset %s is being deleted or belongs to another set; waiting", name)
        return Result(requeue_after=5.0)

    current = deps.revision_of(lws)
    revisions = _owned_revisions(deps, lws)
    active, revision_changed = await _settle_revision(deps, ctx, lws, leader_sts, current, revisions)
    key = revision_of(active)

    sts_replicas = _int(leader_sts.get("spec", {}).get("replicas"), 1) if leader_sts is not None else None
    old_partition = _partition(leader_sts)

    def states() -> list[GroupState]:
        # Asked for only while a rollout is under way: a set at rest never looks at each group here.
        if sts_replicas is None:
            return []
        return group_states(
            lws,
            sts_replicas=sts_replicas,
            revision=key,
            pod=lambda pod_name: deps.caches.pods.get(namespace, pod_name),
            workers=lambda sts_name: deps.caches.statefulsets.get(namespace, sts_name),
        )

    annotation = ((leader_sts or {}).get("metadata", {}).get("annotations") or {}).get(c.REPLICAS_ANNOTATION)
    decision = rollout_parameters(
        RolloutInput(
            replicas=lws.replicas,
            max_surge=lws.max_surge,
            max_unavailable=lws.max_unavailable,
            spec_partition=lws.partition,
            sts_replicas=sts_replicas,
            sts_partition=old_partition,
            sts_replicas_annotation=_optional_int(annotation),
            revision_changed=revision_changed,
            states=states,
        ),
        set_name=name,
    )
    revision_view = desired.SetRevision(key=key, data=current.data, pod_annotations=current.pod_annotations)
    body = desired.desired_leader_statefulset(
        lws, revision_view, replicas=decision.replicas, partition=decision.partition
    )
    if needs_apply(body, leader_sts):
        try:
            applied = await apply(deps.cluster, STATEFULSETS, body, field_manager=deps.field_manager, ctx=ctx)
        except ApiError as exc:
            if leader_sts is None:
                event(
                    deps,
                    obj,
                    "Warning",
                    c.EVENT_FAILED_CREATE,
                    "Create",
                    f"Failed to create leader statefulset {name}: {exc}",
                )
            else:
                event(
                    deps,
                    obj,
                    "Warning",
                    c.EVENT_FAILED_UPDATE,
                    "Update",
                    f"Failed to update leader statefulset {name}: {exc}",
                )
            raise
        deps.caches.statefulsets.observe_write(applied)
        previous = None if leader_sts is None else (sts_replicas or 0, old_partition, revision_of(leader_sts))
        ctx.decide(
            LeaderStatefulSetApplied(
                reason="created" if leader_sts is None else "replicas, partition or template changed",
                replicas=decision.replicas,
                partition=decision.partition,
                revision=key,
                previous=previous,
            )
        )
        if leader_sts is None:
            event(
                deps,
                obj,
                "Normal",
                c.EVENT_GROUPS_PROGRESSING,
                "Create",
                f"Created leader statefulset {name}",
                related=active,
            )
        else:
            message = None if revision_changed else partition_event(old_partition, decision.partition)
            if message is not None:
                event(deps, obj, "Normal", c.EVENT_GROUPS_UPDATING, "Update", message, related=active)
            for note in decision.surge_events:
                event(deps, obj, "Normal", c.EVENT_GROUPS_PROGRESSING, "Delete", note)
        leader_sts = applied

    in_place = await _ensure_set_objects(deps, ctx, lws)
    return await _finish_with_status(
        deps, ctx, lws, leader_sts, key, revisions, drop_restarts=revision_changed, in_place=in_place
    )


# --- groupIdentity: Hash ----------------------------------------------------------------------------------


async def _reconcile_hashed(deps: Deps, ctx: ReconcileContext, lws: LeaderWorkerSet) -> Result:
    """``groupIdentity: Hash``: the leader Deployment instead of the leader StatefulSet. Its rolling update
    (the set's maxSurge and maxUnavailable) and its ReplicaSets' scale-down order are Kubernetes'; the
    leaders' ``group-ready`` readiness gate makes both count whole groups (see :mod:`lws.core.hash_identity`).
    """
    namespace, name = lws.namespace, lws.name
    deployments = await deps.caches.of(DEPLOYMENTS)
    deployment = deployments.get(namespace, name)
    if deployment is not None and (deleting(deployment) or not controlled_by(deployment, lws.uid)):
        ctx.log.info("leader deployment %s is being deleted or belongs to another set; waiting", name)
        return Result(requeue_after=5.0)
    current = deps.revision_of(lws)
    revisions = _owned_revisions(deps, lws)
    active, revision_changed = await _settle_revision(deps, ctx, lws, deployment, current, revisions)
    key = revision_of(active)
    view = desired.SetRevision(key=key, data=current.data, pod_annotations=current.pod_annotations)
    body = desired.desired_leader_deployment(lws, view)
    if needs_apply(body, deployment):
        verb, reason = (
            ("Create", c.EVENT_FAILED_CREATE) if deployment is None else ("Update", c.EVENT_FAILED_UPDATE)
        )
        try:
            applied = await apply(deps.cluster, DEPLOYMENTS, body, field_manager=deps.field_manager, ctx=ctx)
        except ApiError as exc:
            event(
                deps,
                lws.raw,
                "Warning",
                reason,
                verb,
                f"Failed to {verb.lower()} leader deployment {name}: {exc}",
            )
            raise
        deployments.observe_write(applied)
        if deployment is None:
            event(
                deps,
                lws.raw,
                "Normal",
                c.EVENT_GROUPS_PROGRESSING,
                "Create",
                f"Created leader deployment {name}",
                related=active,
            )
        elif revision_changed:
            event(
                deps,
                lws.raw,
                "Normal",
                c.EVENT_GROUPS_UPDATING,
                "Update",
                f"Updating leader deployment {name} to revision {key}",
                related=active,
            )
        deployment = applied

    in_place = await _ensure_set_objects(deps, ctx, lws)
    return await _finish_with_status(
        deps, ctx, lws, deployment, key, revisions, drop_restarts=revision_changed, in_place=in_place
    )


# --- the end of a set reconcile, ordinal or Hash alike -----------------------------------------------------


async def _ensure_set_objects(deps: Deps, ctx: ReconcileContext, lws: LeaderWorkerSet) -> list[bool]:
    """The set's Services and its plugins' set objects. Returns, per plugin object, whether it is in place
    (``False``: an object of an earlier set of the same name was in the way and is being deleted)."""
    try:
        for service in desired.set_services(lws):
            await ensure_service(deps, ctx, service)
    except ApiError as exc:
        event(
            deps,
            lws.raw,
            "Warning",
            c.EVENT_FAILED_CREATE,
            "Create",
            f"Failed to create headless service for error: {exc}",
        )
        raise
    return [
        await ensure_extra(deps, ctx, plugin, extra)
        for plugin, extra in desired.extra_set_objects(lws, deps.hooks)
    ]


async def _finish_with_status(
    deps: Deps,
    ctx: ReconcileContext,
    lws: LeaderWorkerSet,
    leader_workload: Mapping[str, Any] | None,
    key: str,
    revisions: Sequence[Obj],
    *,
    drop_restarts: bool,
    in_place: Sequence[bool],
) -> Result:
    """Status written if it changed (or held back, and the set requeued for when it is due), old revisions
    truncated once the update is done, and the set requeued soon while a plugin object is not in place.
    ``leader_workload`` is the leader StatefulSet, or the leader Deployment of a ``groupIdentity: Hash``
    set."""
    namespace, name = lws.namespace, lws.name
    try:
        update_done, deferred = await _update_status(
            deps, ctx, lws, leader_workload, key, drop_restarts=drop_restarts
        )
    except NotFound:
        # Deleted after the cache read it (its watch event is on the way, or the watch is down): forget
        # it, so that nothing else is done for it; a relist brings it back if it exists after all.
        deps.caches.forget_set(namespace, name)
        ctx.log.info("the LeaderWorkerSet is gone; stopping")
        return DONE
    except Conflict:
        # Someone wrote the set since the cache saw it: read it again and decide anew, at once.
        fresh = await deps.cluster.get(LEADERWORKERSETS, namespace, name, ctx=ctx)
        deps.caches.observe_set_write(fresh)
        ctx.log.debug("status write conflicted; reconciling again with the set as it is now")
        return Result(requeue_after=0.0)
    if update_done:
        await _truncate_revisions(deps, ctx, revisions, key)
    # A count-only status write held back is due in ``deferred`` s: nothing else may come to write it. A
    # plugin object of an earlier set of the same name in the way is being deleted: look again soon.
    waits = [w for w in (deferred, None if all(in_place) else STALE_OBJECT_RETRY_SECONDS) if w is not None]
    return Result(requeue_after=min(waits)) if waits else DONE


# --- revisions ---------------------------------------------------------------------------------------------


def _owned_revisions(deps: Deps, lws: LeaderWorkerSet) -> list[Obj]:
    """Revisions labelled with the set's name and controlled by it, or by nothing (upstream's rule)."""
    found = deps.caches.revisions.by_index(BY_SET, f"{lws.namespace}/{lws.name}")
    return [r for r in found if controller_of(r) is None or controlled_by(r, lws.uid)]


def _latest(revisions: Sequence[Obj], key: str) -> Obj | None:
    matching = [r for r in revisions if revision_of(r) == key and not deleting(r)]
    return max(matching, key=lambda r: _int(r.get("revision"), 0)) if matching else None


async def _settle_revision(
    deps: Deps,
    ctx: ReconcileContext,
    lws: LeaderWorkerSet,
    leader_sts: Mapping[str, Any] | None,
    current: desired.SetRevision,
    revisions: list[Obj],
) -> tuple[Obj, bool]:
    """The revision the groups should run now, and whether it is new (a rollout starts)."""
    sts_key = revision_of(leader_sts) if leader_sts is not None else ""
    stored = _latest(revisions, sts_key) if sts_key else None
    if stored is None:
        # A new set, or a leader StatefulSet written by a controller that kept no revision: record one
        # under the key the StatefulSet already carries, so nothing rolls.
        key = sts_key or current.key
        stored = _latest(revisions, key) if not sts_key else None
        if stored is None:
            reason = "missing revision of an existing set" if sts_key else "new set"
            stored = await _create_revision(deps, ctx, lws, current, key, revisions, reason=reason)
            message = (
                f"Creating missing revision with key {key} for existing LeaderWorkerSet"
                if sts_key
                else f"Creating revision with key {key} for a newly created LeaderWorkerSet"
            )
            event(deps, lws.raw, "Normal", c.EVENT_CREATING_REVISION, "Create", message, related=stored)
        if leader_sts is None:
            return stored, False
    if same_revision(current.data, stored.get("data") or {}):
        return stored, False
    existing = _latest(revisions, current.key)
    if existing is not None and same_revision(current.data, existing.get("data") or {}):
        return existing, True  # made by an earlier reconcile that stopped before the apply
    created = await _create_revision(deps, ctx, lws, current, current.key, revisions, reason="spec changed")
    event(
        deps,
        lws.raw,
        "Normal",
        c.EVENT_CREATING_REVISION,
        "Create",
        f"Creating revision with key {current.key} for updated LWS",
        related=created,
    )
    return created, True


async def _create_revision(
    deps: Deps,
    ctx: ReconcileContext,
    lws: LeaderWorkerSet,
    current: desired.SetRevision,
    key: str,
    revisions: list[Obj],
    *,
    reason: str,
) -> Obj:
    number = max((_int(r.get("revision"), 0) for r in revisions), default=0) + 1
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": f"{lws.name[:220]}-{current.key}-{number}",
            "namespace": lws.namespace,
            "labels": {c.SET_NAME_LABEL: lws.name, c.REVISION_KEY: key},
            "ownerReferences": [lws_owner(lws)],
        },
        "data": current.data,
        "revision": number,
    }
    try:
        created = await deps.cluster.create(CONTROLLER_REVISIONS, lws.namespace, body, ctx=ctx)
        ctx.decide(RevisionCreated(reason=reason, key=key))
    except AlreadyExists:
        created = await deps.cluster.get(
            CONTROLLER_REVISIONS, lws.namespace, body["metadata"]["name"], ctx=ctx
        )
    deps.caches.revisions.observe_write(created)
    revisions.append(created)
    return created


async def _truncate_revisions(deps: Deps, ctx: ReconcileContext, revisions: Sequence[Obj], key: str) -> None:
    for revision in revisions:
        if revision_of(revision) == key or deleting(revision):
            continue
        meta = revision["metadata"]
        with contextlib.suppress(NotFound):
            await deps.cluster.delete(CONTROLLER_REVISIONS, meta["namespace"], meta["name"], ctx=ctx)
            ctx.decide(RevisionDeleted(reason="rollout done", name=meta["name"]))
        deps.caches.revisions.observe_delete(meta["namespace"], meta["name"])
        ctx.log.info("deleted old revision %s", meta["name"])


# --- status ------------------------------------------------------------------------------------------------


async def _update_status(
    deps: Deps,
    ctx: ReconcileContext,
    lws: LeaderWorkerSet,
    leader_sts: Mapping[str, Any] | None,
    key: str,
    *,
    drop_restarts: bool,
) -> tuple[bool, float | None]:
    """Write the set's status if it changed. Returns whether the update is done, and the seconds until
    a count-only change that was held back (:attr:`Deps.status_interval`) is due, if one was."""
    replicas = _int(((leader_sts or {}).get("status") or {}).get("replicas"), 0)
    if lws.hashed:
        # groupIdentity Hash: the groups have no ordinals, and are numbered here, best first.
        observed = hash_status_observations(
            lws,
            deps.caches.leader_pods(lws.namespace, lws.name),
            revision=key,
            workers=lambda n: deps.caches.statefulsets.get(lws.namespace, n),
        )
        counts = count_groups(observed, replicas=lws.replicas, partition=lws.partition)
    else:
        # Counted as the groups changed (GroupBook), not by reading every group of the set here.
        counts = deps.caches.groups.tally(lws.namespace, lws.name).counts(
            revision=key, size_one=lws.size == 1, replicas=lws.replicas, partition=lws.partition
        )
    result = compute_status(lws, counts=counts, leader_sts_replicas=replicas, now=ctx.now())
    status = dict(result.status)
    if drop_restarts:
        status.pop("groupRestarts", None)  # a new template: failed groups get a fresh start
    if status_changed(lws.status, status):
        changes: dict[str, Any] = {k: v for k, v in status.items() if lws.status.get(k) != v}
        changes.update({k: None for k in lws.status if k not in status})
        wait = 0.0 if result.event is not None else _count_write_wait(deps, lws, changes)
        if wait > 0:
            # Counts only, while the groups come and go: the last of them are written when it is due.
            return result.update_done, wait
        # Computed from the cached set: written only if the set is still that version. Group reconciles
        # (restart counts) and a replica that led a moment ago write this status too.
        patch = {"metadata": {"resourceVersion": lws.metadata.get("resourceVersion")}, "status": changes}
        updated = await deps.cluster.patch(
            LEADERWORKERSETS, lws.namespace, lws.name, patch, subresource="status", ctx=ctx
        )
        deps.caches.observe_set_write(updated)
        deps.status_written[(lws.namespace, lws.name)] = deps.clock.monotonic()
        ctx.decide(StatusUpdated(reason="changed: " + ", ".join(sorted(changes))))
    if result.event is not None:
        reason, message = result.event
        event(deps, lws.raw, "Normal", reason, "Update", message)
    return result.update_done, None


#: Status fields that count groups: a change of only these may wait (see :attr:`Deps.status_interval`).
_COUNTS = frozenset({"replicas", "readyReplicas", "updatedReplicas"})


def _count_write_wait(deps: Deps, lws: LeaderWorkerSet, changes: Mapping[str, Any]) -> float:
    """Seconds to hold back a status write that changes only counts (0: write now)."""
    if deps.status_interval <= 0 or not set(changes) <= _COUNTS:
        return 0.0
    written = deps.status_written.get((lws.namespace, lws.name))
    if written is None:
        return 0.0
    wait = written + deps.status_interval - deps.clock.monotonic()
    if wait <= 0 and len(deps.status_written) > 4096:  # sets long gone: forget them
        now = deps.clock.monotonic()
        deps.status_written = {k: t for k, t in deps.status_written.items() if now - t < deps.status_interval}
    return max(wait, 0.0)


# --- helpers -----------------------------------------------------------------------------------------------


def _partition(sts: Mapping[str, Any] | None) -> int:
    rolling = (((sts or {}).get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
    return _int(rolling.get("partition"), 0)


def _int(value: Any, default: int) -> int:
    parsed = _optional_int(value)
    return default if parsed is None else parsed


def _optional_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
