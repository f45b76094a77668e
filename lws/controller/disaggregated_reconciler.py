"""The DisaggregatedSet reconciler: child LeaderWorkerSets, their ``-prv`` Services, RoleScalers, status.

Upstream's ``DisaggregatedSetReconciler.Reconcile`` (060ab4da) step by step, over the caches, every decision
made by :mod:`lws.core.disaggregated`:

1. the set (gone or being deleted: nothing to do; garbage collection removes what it owns) and its
   revision (computed once per spec generation: :class:`~lws.controller.deps.DisaggregatedRevisions`);
2. the children and Services of slices at or above ``spec.slices`` deleted;
3. RoleScalers: one per External role created (on AlreadyExists adopted only if this set controls it, else
   a Warning ``ScalerConflict``), those of roles no longer External deleted;
4. with more than one slice, the pre-slices slice-0 children at the target revision deleted (their Service
   first), to be recreated slices-aware;
5. per slice: the planned actions in order (delete drained revisions, annotate, create, scale up, scale
   down, sync ``groupReplacementPolicy``), then the slice's ``-prv`` Services; a failing slice does not stop
   the others;
6. each scaler's status, then the set's status, each written only when it differs.

Every object is read from a watched cache and used only if this set controls it (by uid, upstream #983): an
object of the same name that something else controls is never scaled, annotated, adopted or deleted. Each
write goes through to its cache at once, so the later steps of the same reconcile and the next reconcile
see it before its watch event arrives.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal, assert_type

from lws.api.disaggregated import constants as d
from lws.cluster.errors import AlreadyExists, ApiError, Conflict, NotFound
from lws.cluster.informer import Informer
from lws.cluster.resources import DISAGGREGATEDSETS, LEADERWORKERSETS, ROLE_SCALERS, SERVICES
from lws.controller.context import DONE, ReconcileContext, Result
from lws.controller.deps import BY_DS, Deps, DisaggregatedCaches
from lws.core.decisions import (
    ChildChanged,
    RoleScalerChanged,
    ScalerStatusUpdated,
    ServiceCreated,
    ServiceDeleted,
    StatusUpdated,
)
from lws.core.disaggregated.children import is_controlled_by, slice_matches, slice_of, slices_of
from lws.core.disaggregated.revision import GoJSONError
from lws.core.disaggregated.rollout import (
    Action,
    AnnotateInitialReplicas,
    CreateChild,
    DeleteChild,
    ScaleChild,
    SyncReplacementPolicy,
    legacy_slice_zero_to_recreate,
    plan_slice,
    removed_slices,
)
from lws.core.disaggregated.scalers import plan_scalers, scaler_status
from lws.core.disaggregated.services import plan_services, removed_slice_services
from lws.core.disaggregated.status import desired_status
from lws.core.observe import deleting, uid_of

Obj = dict[str, Any]


async def reconcile_disaggregated_set(deps: Deps, ctx: ReconcileContext, namespace: str, name: str) -> Result:
    """Bring one DisaggregatedSet's children, Services, scalers and status in line with its spec."""
    caches = deps.caches.disaggregated
    if caches is None:
        return DONE
    cached = caches.sets.get(namespace, name)
    if cached is None or deleting(cached):
        return DONE
    ds: Obj = {"apiVersion": d.API_VERSION, "kind": d.KIND, **cached}
    try:
        revision = deps.ds_revisions.current(ds)
    except GoJSONError as exc:
        # Admission rejects such a template; one stored before that (or written around the webhook) waits
        # for a spec change, which brings the reconcile back.
        ctx.log.error("cannot compute the revision of spec.roles: %s; fix the template", exc)
        _event(deps, ds, "Warning", "InvalidTemplate", "Reconcile", f"Cannot compute the revision: {exc}")
        return DONE
    run = _Run(deps, ctx, caches, ds)
    slices = slices_of(ds)

    # 2. Slices beyond spec.slices go, their Services with them.
    for child_name in removed_slices(run.children(live=True), slices):
        child = run.child(child_name)
        await run.delete_child(child_name, reason="removed slice")
        index = slice_of(((child or {}).get("metadata") or {}).get("labels") or {})
        note = f"Deleted LWS {child_name} for removed slice {index}"
        _event(deps, ds, "Normal", d.EVENT_LWS_DELETED, "Delete", note)
    for service_name in removed_slice_services(run.services(), slices):
        await run.delete_service(service_name, reason="removed slice")

    # 3. RoleScalers, before any replica is resolved.
    scalers = await run.reconcile_scalers()

    # 4. A pre-slices slice 0 becomes slices-aware before any sibling slice shares its revision.
    for child_name in legacy_slice_zero_to_recreate(ds, revision, run.children(live=True)):
        await run.delete_service(f"{child_name}{d.SERVICE_SUFFIX}", reason="legacy slice 0", required=False)
        await run.delete_child(child_name, reason="legacy slice 0")
        _event(
            deps,
            ds,
            "Normal",
            d.EVENT_LWS_DELETED,
            "Migrate",
            f"Deleted legacy slice-0 LWS {child_name} to recreate it in slice-aware form",
        )

    # 5. Each slice on its own: one failing does not hold the others back.
    requeue: float | None = None
    failures: list[str] = []
    for slice_index in range(slices):
        try:
            children = [c for c in run.children(live=True) if _in_slice(c, slice_index)]
            plan = plan_slice(ds, slice_index, revision, children, scalers)
            for action in plan.actions:
                await run.carry_out(action)
            for step in plan.events:
                _event(deps, ds, "Normal", step.reason, step.action, step.note)
            if plan.requeue_after is not None:
                requeue = plan.requeue_after if requeue is None else min(requeue, plan.requeue_after)
            await run.reconcile_services(slice_index, revision)
        except ApiError as exc:
            failures.append(f"slice {slice_index}: {exc}")

    # 6. Status, from what the children report now.
    children = run.children(live=False)
    for scaler in scalers.values():
        await run.write_scaler_status(scaler, children)
    try:
        await run.write_status(children, revision, scalers)
    except NotFound:
        caches.sets.observe_delete(namespace, name)
        ctx.log.info("the DisaggregatedSet is gone; stopping")
        return DONE
    except Conflict:
        fresh = await deps.cluster.get(DISAGGREGATEDSETS, namespace, name, ctx=ctx)
        caches.sets.observe_write(fresh, only_if_cached=True)
        ctx.log.debug("status write conflicted; reconciling again with the set as it is now")
        return Result(requeue_after=0.0)
    if failures:
        raise ApiError("; ".join(failures))
    return Result(requeue_after=requeue)


def _in_slice(lws: Mapping[str, Any], slice_index: int) -> bool:
    return slice_matches((lws.get("metadata") or {}).get("labels") or {}, slice_index)


def _event(
    deps: Deps,
    ds: Mapping[str, Any],
    type_: Literal["Normal", "Warning"],
    reason: str,
    action: str,
    note: str,
) -> None:
    """An event on the DisaggregatedSet, reported as upstream's ``disaggregatedset`` controller."""
    deps.recorder.record(ds, type_, reason, action, note, controller=d.REPORTING_CONTROLLER)


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch turning ``old`` into ``new`` at the top level (``None`` removes a field)."""
    changes: dict[str, Any] = {k: v for k, v in new.items() if old.get(k) != v}
    changes.update({k: None for k in old if k not in new})
    return changes


class _Run:
    """One reconcile of one set: its cached objects (controlled ones only) and the writes it makes."""

    def __init__(self, deps: Deps, ctx: ReconcileContext, caches: DisaggregatedCaches, ds: Obj) -> None:
        self.deps = deps
        self.ctx = ctx
        self.caches = caches
        self.ds = ds
        meta = ds["metadata"]
        self.namespace = str(meta.get("namespace") or "")
        self.name = str(meta["name"])
        self.key = f"{self.namespace}/{self.name}"

    # --- reading -------------------------------------------------------------------------------------

    def _controlled(self, informer: Informer) -> list[Obj]:
        return [o for o in informer.by_index(BY_DS, self.key) if is_controlled_by(o, self.ds)]

    def children(self, *, live: bool) -> list[Obj]:
        """The LeaderWorkerSets this set controls; ``live``: without those being deleted (neither capacity
        to drain nor a target to grow, as upstream treats them since #1000)."""
        found = self._controlled(self.deps.caches.sets)
        return [c for c in found if not deleting(c)] if live else found

    def child(self, name: str) -> Obj | None:
        lws = self.deps.caches.sets.get(self.namespace, name)
        return lws if lws is not None and is_controlled_by(lws, self.ds) else None

    def services(self) -> list[Obj]:
        """The ``-prv`` Services this set controls."""
        return self._controlled(self.caches.services)

    # --- children ------------------------------------------------------------------------------------

    async def carry_out(self, action: Action) -> None:
        if isinstance(action, DeleteChild):
            await self.delete_child(action.name, reason="drained")
            return
        if isinstance(action, CreateChild):
            await self.create_child(action.manifest)
            return
        patch: Obj
        if isinstance(action, AnnotateInitialReplicas):
            patch = {"metadata": {"annotations": {d.INITIAL_REPLICAS_ANNOTATION: str(action.replicas)}}}
            decision = ChildChanged(
                action="record initial replicas", reason="rollout started", name=action.name
            )
        elif isinstance(action, ScaleChild):
            patch = {"spec": {"replicas": action.replicas}}
            decision = ChildChanged(
                action="scale child",
                reason=f"{action.current}->{action.replicas}",
                name=action.name,
                role=action.role,
                replicas=action.replicas,
            )
        else:
            assert_type(action, SyncReplacementPolicy)
            patch = {"spec": {"groupReplacementPolicy": action.policy}}
            decision = ChildChanged(
                action="sync groupReplacementPolicy", reason=action.policy, name=action.name
            )
        await self.patch_child(action.name, patch)
        self.ctx.decide(decision)

    async def create_child(self, manifest: Obj) -> None:
        name = str(manifest["metadata"]["name"])
        try:
            created = await self.deps.cluster.create(LEADERWORKERSETS, self.namespace, manifest, ctx=self.ctx)
        except AlreadyExists:
            existing = self.deps.caches.sets.get(self.namespace, name) or await self.deps.cluster.get(
                LEADERWORKERSETS, self.namespace, name, ctx=self.ctx
            )
            if not is_controlled_by(existing, self.ds):
                raise ApiError(
                    f"LeaderWorkerSet {name} exists but is not controlled by DisaggregatedSet {self.name}; "
                    "refusing to adopt it (delete it, or rename the DisaggregatedSet)"
                ) from None
            self.deps.caches.sets.observe_write(existing)
            return
        self.deps.caches.sets.observe_write(created)
        labels = manifest["metadata"]["labels"]
        replicas = int(manifest["spec"]["replicas"])
        self.ctx.decide(
            ChildChanged(
                action="create child",
                reason=f"revision {labels[d.REVISION_LABEL]}, slice {labels[d.SLICE_LABEL]}",
                name=name,
                role=labels[d.ROLE_LABEL],
                replicas=replicas,
            )
        )
        self.ctx.log.info("created LeaderWorkerSet %s", name)

    async def patch_child(self, name: str, patch: Obj) -> None:
        if self.child(name) is None:
            raise ApiError(
                f"LeaderWorkerSet {name} is not controlled by DisaggregatedSet {self.name}; "
                "refusing to change it"
            )
        updated = await self.deps.cluster.patch(LEADERWORKERSETS, self.namespace, name, patch, ctx=self.ctx)
        self.deps.caches.sets.observe_write(updated)

    async def delete_child(self, name: str, *, reason: str) -> None:
        lws = self.child(name)
        if lws is None:
            return
        with contextlib.suppress(NotFound, Conflict):  # Conflict: the uid precondition, a newer object
            await self.deps.cluster.delete(
                LEADERWORKERSETS, self.namespace, name, preconditions={"uid": uid_of(lws)}, ctx=self.ctx
            )
        self.deps.caches.sets.observe_delete(self.namespace, name)
        role = ((lws.get("metadata") or {}).get("labels") or {}).get(d.ROLE_LABEL, "")
        self.ctx.decide(ChildChanged(action="delete child", reason=reason, name=name, role=role))
        self.ctx.log.info("deleted LeaderWorkerSet %s (%s)", name, reason)

    # --- Services ------------------------------------------------------------------------------------

    async def reconcile_services(self, slice_index: int, revision: str) -> None:
        children = [c for c in self.children(live=False) if _in_slice(c, slice_index)]
        plan = plan_services(self.ds, slice_index, children, self.services(), revision)
        for body in plan.create:
            if self.caches.services.get(self.namespace, body["metadata"]["name"]) is not None:
                continue
            try:
                created = await self.deps.cluster.create(SERVICES, self.namespace, body, ctx=self.ctx)
            except AlreadyExists:
                continue  # made since the cache last heard; its watch event brings the reconcile back
            self.caches.services.observe_write(created)
            ready = "revision ready on every role"
            self.ctx.decide(ServiceCreated(reason=ready, name=body["metadata"]["name"]))
        for name in plan.delete:
            await self.delete_service(name, reason="revision not ready on every role")

    async def delete_service(self, name: str, *, reason: str, required: bool = True) -> None:
        """Delete a ``-prv`` Service this set controls (``required=False``: whatever owns it, as upstream
        deletes a legacy slice-0 Service by name)."""
        service = self.caches.services.get(self.namespace, name)
        if service is None or deleting(service) or (required and not is_controlled_by(service, self.ds)):
            return
        with contextlib.suppress(NotFound, Conflict):
            await self.deps.cluster.delete(
                SERVICES, self.namespace, name, preconditions={"uid": uid_of(service)}, ctx=self.ctx
            )
        self.caches.services.observe_delete(self.namespace, name)
        self.ctx.decide(ServiceDeleted(reason=reason, name=name))

    # --- RoleScalers ---------------------------------------------------------------------------------

    async def reconcile_scalers(self) -> dict[str, Mapping[str, Any]]:
        """Create and delete scalers as :func:`plan_scalers` says; the scalers in force, by role."""
        cache = self.caches.scalers
        plan = plan_scalers(self.ds, cache.by_index(BY_DS, self.key), self.children(live=False))
        for name in plan.delete:
            scaler = cache.get(self.namespace, name) or {}
            role = ((scaler.get("metadata") or {}).get("labels") or {}).get(d.ROLE_LABEL, "")
            with contextlib.suppress(NotFound, Conflict):
                await self.deps.cluster.delete(
                    ROLE_SCALERS, self.namespace, name, preconditions={"uid": uid_of(scaler)}, ctx=self.ctx
                )
            cache.observe_delete(self.namespace, name)
            self.ctx.decide(
                RoleScalerChanged(
                    action="delete RoleScaler", reason="role not External", name=name, role=role
                )
            )
            _event(
                self.deps,
                self.ds,
                "Normal",
                d.EVENT_SCALER_DELETED,
                "Delete",
                f"Deleted scaler {name} (role {role} is no longer External)",
            )
        scalers: dict[str, Mapping[str, Any]] = dict(plan.by_role)
        for body in plan.create:
            name, role = body["metadata"]["name"], body["metadata"]["labels"][d.ROLE_LABEL]
            found = await self._create_scaler(body)
            if found is not None:
                scalers[role] = found
                continue
            self.ctx.decide(
                RoleScalerChanged(
                    action="leave foreign scaler", reason="not controlled by this set", name=name, role=role
                )
            )
            _event(
                self.deps,
                self.ds,
                "Warning",
                d.EVENT_SCALER_CONFLICT,
                "Conflict",
                f"Scaler {name} exists but is not controlled by this DisaggregatedSet; not adopting",
            )
        return scalers

    async def _create_scaler(self, body: Obj) -> Obj | None:
        """The scaler created, or the existing one if this set controls it; ``None``: someone else's."""
        cache = self.caches.scalers
        name, role = body["metadata"]["name"], body["metadata"]["labels"][d.ROLE_LABEL]
        existing = cache.get(self.namespace, name)
        if existing is None:
            try:
                created = await self.deps.cluster.create(ROLE_SCALERS, self.namespace, body, ctx=self.ctx)
            except AlreadyExists:
                existing = await self.deps.cluster.get(ROLE_SCALERS, self.namespace, name, ctx=self.ctx)
            else:
                cache.observe_write(created)
                seed = int(body["spec"]["replicas"])
                self.ctx.decide(
                    RoleScalerChanged(
                        action="create RoleScaler", reason=f"seeded {seed}", name=name, role=role
                    )
                )
                _event(
                    self.deps,
                    self.ds,
                    "Normal",
                    d.EVENT_SCALER_CREATED,
                    "Create",
                    f"Created scaler {name} for role {role}",
                )
                return created
        return existing if is_controlled_by(existing, self.ds) else None

    async def write_scaler_status(self, scaler: Mapping[str, Any], children: Sequence[Obj]) -> None:
        old = scaler.get("status") or {}
        status = scaler_status(self.ds, scaler, children, self.ctx.now())
        changes = _changes(old, status)
        if not changes:
            return
        name = str(scaler["metadata"]["name"])
        try:
            updated = await self.deps.cluster.patch(
                ROLE_SCALERS, self.namespace, name, {"status": changes}, subresource="status", ctx=self.ctx
            )
        except NotFound:
            self.caches.scalers.observe_delete(self.namespace, name)
            return
        self.caches.scalers.observe_write(updated, only_if_cached=True)
        self.ctx.decide(ScalerStatusUpdated(reason="changed: " + ", ".join(sorted(changes)), name=name))

    # --- status --------------------------------------------------------------------------------------

    async def write_status(
        self, children: Sequence[Obj], revision: str, scalers: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """The set's status, written (once, with a merge patch) only when it differs from the cached one.

        Computed from the cached set: written only if the set is still that version (Conflict otherwise).
        """
        old = self.ds.get("status") or {}
        status, changed = desired_status(self.ds, children, revision, scalers, self.ctx.now())
        changes = _changes(old, status)
        if not changed or not changes:
            return
        version = self.ds["metadata"].get("resourceVersion")
        patch = {"metadata": {"resourceVersion": version}, "status": changes}
        updated = await self.deps.cluster.patch(
            DISAGGREGATEDSETS, self.namespace, self.name, patch, subresource="status", ctx=self.ctx
        )
        self.caches.sets.observe_write(updated, only_if_cached=True)
        self.ctx.decide(StatusUpdated(reason="changed: " + ", ".join(sorted(changes))))
