"""The group reconciler: one leader pod and its workers, as upstream's pod controller handles them.

Keyed by the leader pod (``group/<ns>/<lws>-<i>``); events of any pod of the group lead here.

1. Restart policy (``lws-upstream.md`` 4.6): every pod of the group that restarted a container or is
   being deleted is a candidate, except stale workers of an earlier incarnation of the group (their leader
   has another revision, or does not own them by name and uid, directly or through a worker StatefulSet
   that still exists). The set's restart policy decides through ``Hooks.decide_restart``: ``recreate``
   deletes the leader in the foreground (the StatefulSets rebuild the group), ``wait`` comes back at
   ``not_before``, ``fail`` marks the group failed. Each is recorded in ``status.groupRestarts``.
2. The leader's objects, built from the group's own revision: its Service (``UniquePerReplica``), plugin
   objects, and — once the startup policy and plugin gates allow — the worker StatefulSet, created once
   and never updated, as upstream.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet
from lws.cluster.errors import ApiError, Conflict, NotFound
from lws.cluster.informer import newer_or_equal
from lws.cluster.resources import LEADERWORKERSETS, PODS, STATEFULSETS
from lws.controller.children import STALE_OBJECT_RETRY_SECONDS, ensure_extra, ensure_service
from lws.controller.context import DONE, ReconcileContext, Result, rfc3339
from lws.controller.deps import BY_GROUP, BY_REVISION, BY_SET, Deps, RestartWrites
from lws.controller.reporting import event, pod_ref
from lws.core import desired, hash_identity
from lws.core.decisions import (
    GroupRecreated,
    RestartDecided,
    WorkersCreated,
    WorkersGated,
    restart_trigger_of,
)
from lws.core.observe import (
    controlled_by,
    controller_of,
    deleting,
    group_index_of,
    is_leader_pod,
    labels,
    revision_of,
    statefulset_ready,
    uid_of,
)
from lws.core.pod_failure import pod_failures
from lws.core.restarts import (
    STATE_BACKOFF,
    STATE_FAILED,
    inherit,
    pending_recreation,
    restart_state,
    stale_worker,
    with_entry,
)
from lws.core.revision import stored_pod_annotations
from lws.hooks.manager import PluginError
from lws.hooks.types import GroupContext, RestartEvent

Obj = Mapping[str, Any]

#: How soon to look again at a group whose workers a gate holds back (gates normally reopen on events).
GATE_RECHECK = 10.0
#: Writes of ``status.groupRestarts`` tried in a row on conflicts, before the reconcile backs off.
RECORD_ATTEMPTS = 8


async def reconcile_group(deps: Deps, ctx: ReconcileContext, namespace: str, leader_name: str) -> Result:
    """Apply the restart policy to the group's pods, then create what the leader's group still lacks."""
    leader = deps.caches.pods.get(namespace, leader_name)
    if leader is None or not is_leader_pod(leader):
        return DONE  # the leader StatefulSet recreates it; its workers wait for it
    set_name = labels(leader).get(c.SET_NAME_LABEL)
    obj = deps.caches.sets.get(namespace, set_name or "")
    if obj is None or deleting(obj):
        return DONE  # garbage collection removes the group
    lws = LeaderWorkerSet(obj)
    # groupIdentity Hash: the group key (40 hex characters) stands where the ordinal does.
    index: int | str | None = (
        labels(leader).get(c.GROUP_INDEX_LABEL) if lws.hashed else group_index_of(leader)
    )
    if index is None:
        raise ValueError(
            f"leader pod {namespace}/{leader_name} has no valid {c.GROUP_INDEX_LABEL} label: is the pod "
            f"webhook of the operator registered (lws-mutating-webhook-configuration)?"
        )

    if isinstance(index, str) and not deleting(leader):
        lws = await _inherit_restarts(deps, ctx, lws, index)
    handled, recheck = await _handle_restarts(deps, ctx, lws, leader, index)
    if handled is not None:
        return handled
    if deleting(leader):
        return DONE  # never build on a leader that is going away (upstream's race guard)
    built = await _build_unless_mistaken(deps, ctx, lws, leader, index)
    if recheck is not None and (built.requeue_after is None or recheck < built.requeue_after):
        return Result(requeue_after=recheck)  # a restart policy asked to look again then
    return built


async def _build_unless_mistaken(
    deps: Deps, ctx: ReconcileContext, lws: LeaderWorkerSet, leader: Obj, index: int | str
) -> Result:
    """Build the group, unless its leader carries the annotation of a cluster too old for it (upstream)."""
    namespace, leader_name = lws.namespace, str(leader["metadata"]["name"])
    if (leader.get("metadata", {}).get("annotations") or {}).get(c.LEADER_POD_NAME_ANNOTATION):
        event(
            deps,
            lws.raw,
            "Warning",
            c.EVENT_FAILED_CREATE,
            "Create",
            f"leader pod {namespace}/{leader_name} contains mistake annotation "
            f"'{c.LEADER_POD_NAME_ANNOTATION}': requires Kubernetes ≥v1.27 or v1.26 with "
            "StatefulSetStartOrdinal feature",
            related=pod_ref(leader),
        )
        return DONE
    return await _build_group(deps, ctx, lws, leader, index)


# --- restarts ----------------------------------------------------------------------------------------------


async def _handle_restarts(
    deps: Deps, ctx: ReconcileContext, lws: LeaderWorkerSet, leader: Obj, index: int | str
) -> tuple[Result | None, float | None]:
    """``(None, recheck)`` when nothing was done and the group may be built (``recheck``: seconds after
    which a policy asked to look again, or ``None``); else ``(how the reconcile ends, None)``."""
    namespace = lws.namespace
    if pending_recreation(lws.status, index) == uid_of(leader) and not deleting(leader):
        # A recreation of this very leader was decided and counted, but the operator stopped before it
        # deleted the leader: finish it, without asking (or counting) again.
        await _delete_leader(deps, ctx, lws, leader, index, "Finishing an interrupted recreation", check=True)
        return DONE, None
    group_pods = deps.caches.pods.by_index(BY_GROUP, f"{namespace}/{lws.name}/{index}")
    # Every pod that shows a failure signal is offered to the restart policy, which decides what it means
    # (upstream's policies act on upstream's trigger only: lws.core.pod_failure.restart_trigger).
    candidates = [p for p in group_pods if pod_failures(p)]
    if not candidates:
        return None, None
    if deleting(leader):
        return DONE, None  # the group is already being recreated
    recheck: float | None = None
    state = restart_state(lws.status, index)
    leader_name = str(leader["metadata"]["name"])
    candidates.sort(key=lambda p: (p is not leader, str(p.get("metadata", {}).get("name"))))
    for pod in candidates:
        pod_name = str(pod["metadata"]["name"])
        is_leader = pod_name == leader_name
        if not is_leader:
            stale = stale_worker(pod, leader, lambda n: deps.caches.statefulsets.get(namespace, n))
            if stale is not None:
                ctx.log.debug("ignoring %s: %s", pod_name, stale)
                continue
        restart = RestartEvent(
            lws=lws,
            pod=pod,
            role="leader" if is_leader else "worker",
            group_index=index,
            leader_pod=leader,
            group_pods=group_pods,
            state=state,
            now=deps.clock.now(),
        )
        decision, decided_by = deps.hooks.decide_restart(restart)
        ctx.decide(
            RestartDecided(
                action=decision.action,
                reason=decision.reason,
                by=decided_by,
                pod=pod,
                trigger=restart_trigger_of(pod),
                now=restart.now,
                group_pods=tuple(uid_of(p) for p in group_pods),
            )
        )
        if decision.action == "ignore":
            if decision.reason:
                ctx.log.debug("%s: not recreating the group (%s: %s)", pod_name, decided_by, decision.reason)
            if decision.not_before is not None:
                later = max(0.05, (decision.not_before - deps.clock.now()).total_seconds())
                recheck = later if recheck is None else min(recheck, later)
            continue
        if decision.action == "recreate":
            restarts = 0 if decision.reset_count else state.restarts
            await _recreate(deps, ctx, lws, leader, pod_name, index, decision.reason, restarts=restarts)
            return DONE, None
        if decision.action == "wait":
            wait = 1.0
            if decision.not_before is not None:
                wait = max(0.05, (decision.not_before - deps.clock.now()).total_seconds())
            message = decision.reason or f"next recreation not before {decision.not_before}"
            if restart_state(lws.status, index).message != message:
                event(
                    deps,
                    lws.raw,
                    "Normal",
                    c.EVENT_GROUP_RESTART_DELAYED,
                    "Delete",
                    f"group {index}: {message}",
                    related=pod_ref(leader),
                )
                await _record(deps, ctx, lws, index, state=STATE_BACKOFF, message=message)
            return Result(requeue_after=wait), None
        if decision.action == "fail":
            message = decision.reason or "restart budget exhausted"
            if state.failed and state.message == message:
                return DONE, None  # already reported; the group stays as it is for inspection
            event(
                deps,
                lws.raw,
                "Warning",
                c.EVENT_GROUP_FAILED,
                "Delete",
                f"group {index} failed: {message}",
                related=pod_ref(leader),
            )
            await _record(deps, ctx, lws, index, state=STATE_FAILED, message=message)
            return DONE, None
    return None, recheck


async def _recreate(
    deps: Deps,
    ctx: ReconcileContext,
    lws: LeaderWorkerSet,
    leader: Obj,
    failed_pod: str,
    index: int | str,
    reason: str,
    *,
    restarts: int,
) -> None:
    """Record recreation ``restarts + 1`` of the group, then delete its leader in the foreground (workers go
    first, then it).

    The count is written first, with the uid of the leader about to be deleted: stopped at any point, the
    operator either has not counted (and not deleted) yet, or finds the counted recreation pending and
    finishes it (:func:`pending_recreation`); a recreation is never counted twice or lost.
    """
    await _record(
        deps,
        ctx,
        lws,
        index,
        count=restarts + 1,
        lastRecreateTime=rfc3339(deps.clock.now()),
        state=None,
        message=reason or None,
        recreatingLeaderUID=uid_of(leader),
    )
    ctx.log.info("recreating group %s: %s", index, reason)
    if await _delete_leader(deps, ctx, lws, leader, index, f"Worker pod {failed_pod} failed"):
        ctx.decide(GroupRecreated(reason=reason, leader=uid_of(leader)))


async def _delete_leader(
    deps: Deps,
    ctx: ReconcileContext,
    lws: LeaderWorkerSet,
    leader: Obj,
    index: int | str,
    cause: str,
    *,
    check: bool = False,
) -> bool:
    """Delete the leader in the foreground and report it; whether this call deleted it.

    :param check: read the leader first and leave it if it is already being deleted (finishing a recreation
        whose deletion may have gone through unseen).
    """
    meta = leader["metadata"]
    try:
        if check:
            current = await deps.cluster.get(PODS, lws.namespace, meta["name"], ctx=ctx)
            deps.caches.pods.observe_write(current)
            if uid_of(current) != uid_of(leader) or deleting(current):
                return False
        reply = await deps.cluster.delete(
            PODS,
            lws.namespace,
            meta["name"],
            propagation_policy="Foreground",
            preconditions={"uid": uid_of(leader)},
            ctx=ctx,
        )
    except (NotFound, Conflict):
        return False  # already gone, or already replaced by a newer leader
    if reply.get("kind") == "Pod":
        # The leader, now being deleted: no reconcile before its watch event takes it for alive.
        deps.caches.pods.observe_write(reply)
    event(
        deps,
        lws.raw,
        "Normal",
        c.EVENT_RECREATE_GROUP,
        "Delete",
        f"{cause}, deleted leader pod {meta['name']} to recreate group "
        f"{labels(leader).get(c.GROUP_INDEX_LABEL, index)}",
        related=pod_ref(leader),
    )
    return True


async def _record(
    deps: Deps, ctx: ReconcileContext, lws: LeaderWorkerSet, index: int | str, **changes: Any
) -> LeaderWorkerSet:
    """Update the group's ``status.groupRestarts`` entry (``index``: its ordinal, or its Hash group key);
    optimistic, re-read on conflict. Returns the set as written. A set that is gone (404) is forgotten:
    there is nothing left to record."""
    return await _write_restarts(deps, ctx, lws, lambda entries: with_entry(entries, index, **changes))


async def _inherit_restarts(
    deps: Deps, ctx: ReconcileContext, lws: LeaderWorkerSet, key: str
) -> LeaderWorkerSet:
    """``groupIdentity: Hash``: a leader that replaces a recreated group takes over its restart history
    (:func:`lws.core.restarts.inherit`), so the next failure counts on from it; the set as it is now."""
    live_keys = {
        labels(p).get(c.GROUP_INDEX_LABEL, "")
        for p in deps.caches.leader_pods(lws.namespace, lws.name)
        if not deleting(p)
    }
    entries = list(lws.status.get("groupRestarts") or [])
    if inherit(entries, key, live_keys) == entries:
        return lws  # nothing waits for an heir: no write
    ctx.log.info("group %s takes over the restart history of the group it replaces", key)
    return await _write_restarts(deps, ctx, lws, lambda current: inherit(current, key, live_keys))


async def _write_restarts(
    deps: Deps,
    ctx: ReconcileContext,
    lws: LeaderWorkerSet,
    change: Callable[[list[Mapping[str, Any]]], list[dict[str, Any]]],
) -> LeaderWorkerSet:
    """Write ``change`` to the set's ``status.groupRestarts``, together with the changes other groups of the
    set are waiting to write (:class:`lws.controller.deps.RestartWrites`); the set as written."""
    key = (lws.namespace, lws.name)
    writes = deps.restart_writes.setdefault(key, RestartWrites())
    done: asyncio.Future[LeaderWorkerSet] = asyncio.get_running_loop().create_future()
    writes.waiting.append((change, done))
    try:
        async with writes.lock:
            if done.done():
                return done.result()  # written by the reconcile that held the lock before
            batch, writes.waiting[:] = list(writes.waiting), []
            try:
                # The newest copy this operator has: the one just written by the holder before, if any.
                written = await _write_entries(deps, ctx, _newest(deps, lws), [c for c, _ in batch])
            except BaseException as exc:
                others = [(c, d) for c, d in batch if d is not done and not d.done()]
                if isinstance(exc, asyncio.CancelledError):
                    writes.waiting[:0] = others  # cut short (the Lease lost): the next holder writes them
                else:
                    for _, other in others:
                        other.set_exception(exc)
                raise
            for _, waiter in batch:
                if not waiter.done():
                    waiter.set_result(written)
            return written
    except asyncio.CancelledError:
        if (change, done) in writes.waiting:
            writes.waiting.remove((change, done))  # not taken yet: a reconcile cut short records nothing
        raise
    finally:
        if not writes.lock.locked() and not writes.waiting and deps.restart_writes.get(key) is writes:
            del deps.restart_writes[key]


def _newest(deps: Deps, lws: LeaderWorkerSet) -> LeaderWorkerSet:
    cached = deps.caches.sets.get(lws.namespace, lws.name)
    if cached is None or cached["metadata"].get("uid") != lws.raw["metadata"].get("uid"):
        return lws
    return LeaderWorkerSet(cached) if newer_or_equal(cached, dict(lws.raw)) else lws


async def _write_entries(
    deps: Deps,
    ctx: ReconcileContext,
    lws: LeaderWorkerSet,
    changes: list[Callable[[list[Mapping[str, Any]]], list[dict[str, Any]]]],
) -> LeaderWorkerSet:
    # The set's own reconcile writes this status too: a conflict is retried with fresh data a few times
    # before backing off; the changes are computed again from each fresh copy.
    try:
        for _attempt in range(RECORD_ATTEMPTS):
            entries = list(lws.status.get("groupRestarts") or [])
            updated_entries: list[Any] = entries
            for change in changes:
                updated_entries = change(updated_entries)
            if updated_entries == entries:
                return lws
            patch = {
                "metadata": {"resourceVersion": lws.raw["metadata"].get("resourceVersion")},
                "status": {"groupRestarts": updated_entries},
            }
            try:
                updated = await deps.cluster.patch(
                    LEADERWORKERSETS, lws.namespace, lws.name, patch, subresource="status", ctx=ctx
                )
            except Conflict:
                fresh = await deps.cluster.get(LEADERWORKERSETS, lws.namespace, lws.name, ctx=ctx)
                deps.caches.observe_set_write(fresh)
                lws = LeaderWorkerSet(fresh)
                continue
            deps.caches.observe_set_write(updated)
            return LeaderWorkerSet(updated)
    except NotFound:
        deps.caches.forget_set(lws.namespace, lws.name)
        ctx.log.info("the LeaderWorkerSet is gone; nothing to record")
        return lws
    raise ApiError(f"could not record the restarts of {lws.namespace}/{lws.name}: conflicts")


# --- building the group ------------------------------------------------------------------------------------


async def _build_group(
    deps: Deps, ctx: ReconcileContext, lws: LeaderWorkerSet, leader: Obj, index: int | str
) -> Result:
    namespace, leader_name = lws.namespace, str(leader["metadata"]["name"])
    key = revision_of(leader)
    revision = _revision(deps, lws, key)
    if revision is None:
        ctx.log.debug("revision %s of leader %s is not visible yet", key, leader_name)
        return Result(requeue_after=1.0)
    group_view = deps.group_views.view(lws, revision)
    recorded = stored_pod_annotations(revision.get("data") or {})
    pod_annotations = recorded if recorded is not None else deps.hooks.pod_annotations(group_view)
    group = GroupContext(lws=group_view, group_index=index, revision=key, leader_pod=leader)
    alive = _LeaderCheck(deps, ctx, leader)

    for service in desired.group_services(group_view, index, uid_of(leader), leader):
        await ensure_service(deps, ctx, service, before_create=alive)
    pending = [
        plugin
        for plugin, extra in desired.extra_group_objects(group, deps.hooks)
        if not await ensure_extra(deps, ctx, plugin, extra, before_create=alive)
    ]
    if alive.gone:
        return DONE  # the leader is being deleted: build nothing for it (upstream's race guard)
    if pending:
        # An object of the group's previous incarnation was in the way; it is being deleted.
        return Result(requeue_after=STALE_OBJECT_RETRY_SECONDS)
    if hash_identity.gated(leader) and not await _lift_replacement_gate(deps, ctx, lws, leader):
        return Result(requeue_after=GATE_RECHECK)
    if group_view.size == 1:
        if lws.hashed:
            await _sync_group_ready(deps, ctx, leader, ready=True)
        return DONE

    workers = deps.caches.statefulsets.get(namespace, leader_name)
    if workers is not None:
        if controlled_by(workers, uid_of(leader)):
            if lws.hashed:
                await _sync_group_ready(deps, ctx, leader, ready=statefulset_ready(workers))
            return DONE  # created once, never updated (upstream)
        ctx.log.info(
            "worker statefulset %s belongs to an earlier leader; waiting for its deletion", leader_name
        )
        return Result(requeue_after=2.0)

    node = (leader.get("spec") or {}).get("nodeName")
    if node:
        group = dataclasses.replace(group, leader_node_labels=deps.caches.node_labels(node))
    gate, gated_by = deps.hooks.decide_workers(group)
    ctx.decide(
        WorkersGated(reason=gate.reason if gate else "open", by=gated_by, gate=gate.reason if gate else None)
    )
    if gate is not None:
        ctx.log.debug("workers of %s held back: %s", leader_name, gate.reason)
        return Result(requeue_after=GATE_RECHECK)

    if not await alive():
        return DONE
    try:
        body = desired.desired_worker_statefulset(
            group,
            deps.hooks,
            group_key=labels(leader).get(c.GROUP_UNIQUE_HASH_LABEL, ""),
            pod_annotations=pod_annotations,
            live=lws,
        )
        # The trace-context carrier (docs/observability.md): written by us, on the StatefulSet's own metadata.
        body["metadata"].setdefault("annotations", {}).update(ctx.trace_carrier())
        created = await deps.cluster.create(STATEFULSETS, namespace, body, ctx=ctx)
    except (ApiError, PluginError) as exc:
        if getattr(exc, "reason", "") == "AlreadyExists":
            return DONE
        event(
            deps,
            lws.raw,
            "Warning",
            c.EVENT_FAILED_CREATE,
            "Create",
            f"Failed to create worker statefulset for leader pod {leader_name}: {exc}",
            related=pod_ref(leader),
        )
        raise
    deps.caches.statefulsets.observe_write(created)
    if lws.hashed:
        await _sync_group_ready(deps, ctx, leader, ready=False)
    ctx.decide(WorkersCreated(reason="every gate open", name=leader_name))
    event(
        deps,
        lws.raw,
        "Normal",
        c.EVENT_GROUPS_PROGRESSING,
        "Create",
        f"Created worker statefulset for leader pod {leader_name}",
        related=pod_ref(leader),
    )
    return DONE


async def _lift_replacement_gate(
    deps: Deps, ctx: ReconcileContext, lws: LeaderWorkerSet, leader: Obj
) -> bool:
    """``groupIdentity: Hash``: lift the leader's ``group-replacement`` scheduling gate if the set's
    ``groupReplacementPolicy`` lets it start scheduling now; whether the gate is gone."""
    meta = leader["metadata"]
    set_pods = deps.caches.pods.by_index(BY_SET, f"{lws.namespace}/{lws.name}")
    decision = hash_identity.replacement_gate(leader, set_pods, lws.group_replacement_policy)
    if not decision.admit:
        ctx.log.debug("leader %s stays gated: %s", meta["name"], decision.reason)
        event(
            deps,
            lws.raw,
            "Normal",
            c.EVENT_GROUP_REPLACEMENT_DEFERRED,
            "Update",
            f"Leader pod {meta['name']} waits for {decision.tearing_down} terminating group(s) to be removed "
            "before scheduling",
            related=pod_ref(leader),
        )
        return False
    patch = {
        "metadata": {"resourceVersion": meta.get("resourceVersion")},
        "spec": {"schedulingGates": hash_identity.without_gate(leader)},
    }
    try:
        updated = await deps.cluster.patch(PODS, lws.namespace, meta["name"], patch, ctx=ctx)
    except (NotFound, Conflict):
        return False  # gone, or changed since the cache saw it: its watch event brings us back
    deps.caches.pods.observe_write(updated)
    event(
        deps,
        lws.raw,
        "Normal",
        c.EVENT_GROUP_REPLACEMENT_ADMITTED,
        "Update",
        f"Leader pod {meta['name']} admitted for scheduling",
        related=pod_ref(leader),
    )
    return True


async def _sync_group_ready(deps: Deps, ctx: ReconcileContext, leader: Obj, *, ready: bool) -> None:
    """``groupIdentity: Hash``: the leader's ``group-ready`` condition (its readiness gate) says whether the
    group's worker StatefulSet is ready; written only when it says otherwise."""
    condition = hash_identity.group_ready_condition(leader, ready, rfc3339(deps.clock.now()))
    if condition is None:
        return
    meta = leader["metadata"]
    # A strategic merge patch: conditions are merged by type, the kubelet's own are left alone.
    patch = {"status": {"conditions": [condition]}}
    try:
        updated = await deps.cluster.patch(
            PODS,
            lws_namespace(leader),
            meta["name"],
            patch,
            patch_type="strategic",
            subresource="status",
            ctx=ctx,
        )
    except NotFound:
        return
    deps.caches.pods.observe_write(updated)


def lws_namespace(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


class _LeaderCheck:
    """Whether the leader is alive, read from the API server once per reconcile, before the first object
    that depends on it is created, unless this is the first build for the leader.

    The caches are fed by separate watches: one may already show a dependent gone (the garbage collector
    deletes a leader's dependents first when it is deleted in the foreground) while another does not yet
    show the leader being deleted. A dependent created then would be made for a leader that is going
    away, and would hold its deletion, again on every rebuild while the pod cache lags. A first build is
    not read for (:class:`lws.controller.deps.BuiltLeaders`): it is what every new group does, and a
    round trip each was a third of a new group's requests; at worst its objects are removed by the
    garbage collector and the next build reads.
    """

    def __init__(self, deps: Deps, ctx: ReconcileContext, leader: Obj) -> None:
        self.deps, self.ctx, self.leader = deps, ctx, leader
        self.answer: bool | None = None

    @property
    def gone(self) -> bool:
        return self.answer is False

    async def __call__(self) -> bool:
        if self.answer is None and self.deps.built_leaders.first(uid_of(self.leader)):
            self.answer = True
        if self.answer is None:
            meta = self.leader["metadata"]
            try:
                current = await self.deps.cluster.get(PODS, meta["namespace"], meta["name"], ctx=self.ctx)
            except NotFound:
                self.deps.caches.pods.observe_delete(meta["namespace"], meta["name"])
                self.answer = False
            else:
                self.deps.caches.pods.observe_write(current)
                self.answer = uid_of(current) == uid_of(self.leader) and not deleting(current)
            if not self.answer:
                self.ctx.log.info("leader %s is gone or being deleted; creating nothing for it", meta["name"])
        return self.answer


def _revision(deps: Deps, lws: LeaderWorkerSet, key: str) -> Obj | None:
    """The set's newest ControllerRevision with ``key``, from an index by set and key (a set of many
    groups is not scanned for each of them)."""
    if not key:
        return None
    found = [
        r
        for r in deps.caches.revisions.by_index(BY_REVISION, f"{lws.namespace}/{lws.name}/{key}")
        if controller_of(r) is None or controlled_by(r, lws.uid)
    ]
    return max(found, key=lambda r: int(r.get("revision") or 0)) if found else None
