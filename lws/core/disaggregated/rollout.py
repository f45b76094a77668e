"""What one reconcile of a DisaggregatedSet slice must do, decided from what exists: pure, as upstream's.

:func:`plan_slice` reproduces upstream's per-slice reconcile (``reconcileSlice``: ``cleanupDrainedLWS``,
then ``ReconcileRollingUpdateNew`` or ``reconcileSimple``) as a list of actions for the caller to carry out
in order, plus the events to record and when to look again:

1. delete the LeaderWorkerSets of every old revision whose roles are all at 0 replicas;
2. if old revisions still have replicas, roll: the first time, annotate every old LeaderWorkerSet with its
   ``initial-replicas`` and create the new revision's at 0 (look again in 1 s); afterwards wait until every
   new-revision role is ready (``spec.replicas == status.readyReplicas``, look again in 1 s), then apply the
   planner's next step: scale the new side up, then the old side down, newest old revision first, draining
   a whole revision at once when any of its roles reaches 0;
3. otherwise create or scale the target revision's LeaderWorkerSets to the desired replicas, and sync their
   ``groupReplacementPolicy`` in place (upstream main: not part of the revision).

External roles take their replicas from their RoleScaler; while old revisions exist an External role's
target never shrinks below what its new revision already has (upstream's no-shrink guard).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lws.api.disaggregated import constants as d
from lws.api.disaggregated.validation import is_external
from lws.api.validation import scaled
from lws.core.disaggregated.children import (
    Obj,
    RevisionRoles,
    child_name,
    desired_child,
    group_by_revision,
    has_slice_label,
    initial_replicas,
    legacy_child_name,
    replicas_of,
    role_names,
    roles_of,
    slices_of,
    total_initial_replicas,
    total_replicas,
)
from lws.core.disaggregated.planner import RollingUpdateConfig, Step, default_configs, next_step

#: How long upstream waits before looking again at a rollout that is starting or not yet ready.
REQUEUE_SECONDS = 1.0


# --- actions -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeleteChild:
    """Delete the LeaderWorkerSet ``name``."""

    name: str


@dataclass(frozen=True)
class AnnotateInitialReplicas:
    """Set ``disaggregatedset.x-k8s.io/initial-replicas`` on the LeaderWorkerSet ``name`` (merge patch)."""

    name: str
    replicas: int


@dataclass(frozen=True)
class CreateChild:
    """Create this LeaderWorkerSet (adopting one of the same name only if this set already controls it)."""

    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])


@dataclass(frozen=True)
class ScaleChild:
    """Merge-patch the LeaderWorkerSet ``name``'s ``spec.replicas`` from ``current`` to ``replicas``."""

    name: str
    role: str
    current: int
    replicas: int


@dataclass(frozen=True)
class SyncReplacementPolicy:
    """Merge-patch the LeaderWorkerSet ``name``'s ``spec.groupReplacementPolicy`` to ``policy``.

    Upstream main (PR #1050): the policy is not part of the revision and changing it rolls no pod, so the
    DisaggregatedSet pushes a role's change onto its existing child in place.
    """

    name: str
    policy: str


Action = DeleteChild | AnnotateInitialReplicas | CreateChild | ScaleChild | SyncReplacementPolicy

#: ``spec.groupReplacementPolicy``'s default (upstream main): an unset value means this.
REPLACEMENT_POLICY_DEFAULT = "PostTermination"


@dataclass(frozen=True)
class Event:
    """A Normal event on the DisaggregatedSet: reason, action (``Update``, ``Delete``) and note."""

    reason: str
    action: str
    note: str


@dataclass
class SlicePlan:
    """What to do for one slice, in order; ``requeue_after`` in seconds when the slice must be looked at
    again without a watch event (``None``: the next change of a child will trigger the next reconcile)."""

    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None


# --- replicas and configuration ----------------------------------------------------------------------------


def _role(ds: Obj, name: str) -> Obj | None:
    return next((r for r in roles_of(ds) if r.get("name") == name), None)


def target_replicas(ds: Obj, role_name: str, scalers: Mapping[str, Obj], current_new: int) -> int:
    """A role's desired replicas per slice: ``spec.replicas`` (1 when unset) for a Static role; the
    RoleScaler's ``spec.replicas`` for an External one, or ``current_new`` while it has no scaler; 1 for a
    role no longer in the spec."""
    role = _role(ds, role_name)
    if role is None:
        return 1
    if is_external(role):
        scaler = scalers.get(role_name)
        if scaler is None:
            return current_new
        return int((scaler.get("spec") or {}).get("replicas") or 0)
    value = (role.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def rolling_update_configs(
    ds: Obj, all_roles: Sequence[str], scalers: Mapping[str, Obj]
) -> list[RollingUpdateConfig]:
    """Each role's resolved maxSurge/maxUnavailable against its target (surge rounds up, unavailable down).

    A role without ``rollingUpdateConfiguration`` (or no longer in the spec) gets upstream's default, surge 1
    and unavailable 0; a role whose unavailable resolves to 0 keeps the default unavailable (0) and takes its
    surge only when that is above 0.
    """
    configs = default_configs(len(all_roles))
    index = {name: i for i, name in enumerate(all_roles)}
    for role in roles_of(ds):
        strategy = (role.get("spec") or {}).get("rolloutStrategy") or {}
        rolling = strategy.get("rollingUpdateConfiguration")
        name = str(role.get("name"))
        if rolling is None or name not in index:
            continue
        replicas = target_replicas(ds, name, scalers, 0)
        # Go's zero IntOrString is 0; a value that cannot be scaled counts as 0 (upstream ignores the error).
        surge = scaled(rolling.get("maxSurge", 0), replicas, round_up=True) or 0
        unavailable = scaled(rolling.get("maxUnavailable", 0), replicas, round_up=False) or 0
        i = index[name]
        if unavailable > 0:
            configs[i] = RollingUpdateConfig(max_surge=surge, max_unavailable=unavailable)
        elif surge > 0:
            configs[i] = RollingUpdateConfig(max_surge=surge, max_unavailable=configs[i].max_unavailable)
    return configs


@dataclass(frozen=True)
class PlannerState:
    """The planner's four inputs, one entry per role of ``roles`` (spec roles, then removed ones)."""

    roles: list[str]
    initial_old: list[int]
    current_old: list[int]
    current_new: list[int]
    target: list[int]


def planner_state(
    ds: Obj, old: Sequence[RevisionRoles], new: RevisionRoles, scalers: Mapping[str, Obj]
) -> PlannerState:
    """Where a rollout stands: per role, initial and current old replicas, current and target new ones."""
    spec_roles = role_names(ds)
    old_roles = {name for revision in old for name in revision.roles}
    roles = spec_roles + sorted(old_roles - set(spec_roles))
    state = PlannerState(roles, [], [], [], [])
    for name in roles:
        state.initial_old.append(total_initial_replicas(old, name))
        state.current_old.append(total_replicas(old, name))
        current_new = target = 0
        if name in spec_roles:
            if name in new.roles:
                current_new = replicas_of(new.roles[name])
            target = target_replicas(ds, name, scalers, current_new)
            role = _role(ds, name)
            if role is not None and is_external(role) and old and target < current_new:
                target = current_new  # no-shrink guard while old revisions drain
        state.current_new.append(current_new)
        state.target.append(target)
    return state


def is_revision_stable(revision: RevisionRoles, roles: Sequence[str]) -> bool:
    """Every role has a LeaderWorkerSet whose ready groups equal its desired replicas."""
    for name in roles:
        lws = revision.roles.get(name)
        if lws is None:
            return False
        if replicas_of(lws) != int((lws.get("status") or {}).get("readyReplicas") or 0):
            return False
    return True


def _created(lws: Obj) -> datetime:
    text = (lws.get("metadata") or {}).get("creationTimestamp")
    if not text:
        return datetime.min
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).replace(tzinfo=None)


def scale_down_old(
    old: Sequence[RevisionRoles], roles: Sequence[str], current: Sequence[int], target: Sequence[int]
) -> list[ScaleChild]:
    """Spread each role's drain over the old revisions, newest first (by the newest LeaderWorkerSet's
    creation time); when a role of a revision reaches 0, every role of that revision goes to 0.

    Creation times have one-second resolution, so revisions made in the same second tie (upstream's sort
    leaves their order to chance); the revision name breaks the tie, so that every reconcile drains the
    same revision first instead of whichever the cache last updated."""
    budget = [c - t for c, t in zip(current, target, strict=True)]
    ordered = sorted(
        old,
        key=lambda r: (max((_created(lws) for lws in r.roles.values()), default=datetime.min), r.revision),
        reverse=True,
    )
    actions: list[ScaleChild] = []
    for revision in ordered:
        if all(b <= 0 for b in budget):
            break
        planned: dict[str, int] = {}
        remaining: dict[str, int] = {}
        for i, name in enumerate(roles):
            lws = revision.roles.get(name)
            if lws is None:
                continue
            drain = min(budget[i], replicas_of(lws))
            planned[name] = drain
            remaining[name] = replicas_of(lws) - drain
        triggered = {name for name, left in remaining.items() if left == 0}
        if triggered:
            remaining = dict.fromkeys(remaining, 0)
        for i, name in enumerate(roles):
            lws = revision.roles.get(name)
            if lws is None or replicas_of(lws) <= remaining[name]:
                continue
            name_of = str(lws["metadata"]["name"])
            actions.append(ScaleChild(name_of, name, replicas_of(lws), remaining[name]))
            if name in triggered or not triggered:
                budget[i] -= planned[name]
    return actions


# --- the slice ---------------------------------------------------------------------------------------------


def plan_slice(
    ds: Obj, slice_index: int, revision: str, children: Sequence[Obj], scalers: Mapping[str, Obj]
) -> SlicePlan:
    """The actions of one reconcile of ``slice_index``.

    :param children: the slice's LeaderWorkerSets this DisaggregatedSet controls (a legacy slice-0 one
        without a slice label included), as listed from the cluster, with their status.
    :param scalers: the RoleScalers of the External roles, by role name.
    """
    plan = SlicePlan()
    # 1. Old revisions drained on every role go away, all of their LeaderWorkerSets together.
    live: list[Obj] = []
    for group in group_by_revision(children):
        lws_list = list(group.roles.values())
        if group.revision != revision and all(replicas_of(lws) == 0 for lws in lws_list):
            for lws in lws_list:
                name = str(lws["metadata"]["name"])
                plan.actions.append(DeleteChild(name))
                plan.events.append(Event(d.EVENT_LWS_DELETED, "Delete", f"Deleted drained LWS {name}"))
        else:
            live.extend(lws_list)
    groups = group_by_revision(live)
    old = [g for g in groups if g.revision != revision]
    new = next((g for g in groups if g.revision == revision), None)
    spec_roles = role_names(ds)
    if old and sum(total_replicas(old, name) for name in spec_roles) > 0:
        _plan_rollout(ds, slice_index, revision, old, new, scalers, plan)
    else:
        _plan_simple(ds, slice_index, revision, live, scalers, plan)
    return plan


def _plan_rollout(
    ds: Obj,
    slice_index: int,
    revision: str,
    old: list[RevisionRoles],
    new: RevisionRoles | None,
    scalers: Mapping[str, Obj],
    plan: SlicePlan,
) -> None:
    ds_name = str((ds.get("metadata") or {}).get("name", ""))
    if new is None:
        plan.events.append(
            Event(d.EVENT_ROLLING_UPDATE_STARTED, "Update", f"Started rolling update to revision {revision}")
        )
        for group in old:
            for lws in group.roles.values():
                replicas = replicas_of(lws)
                if initial_replicas(lws) != replicas:
                    plan.actions.append(AnnotateInitialReplicas(str(lws["metadata"]["name"]), replicas))
        for role in roles_of(ds):
            plan.actions.append(CreateChild(desired_child(ds, role, slice_index, revision, 0)))
        plan.requeue_after = REQUEUE_SECONDS
        return
    spec_roles = role_names(ds)
    missing = [role for role in roles_of(ds) if role.get("name") not in new.roles]
    if missing:
        # Beyond upstream, which waits forever here: a role whose creation failed (or that was added while
        # this revision was starting) is created, at 0 like the others.
        for role in missing:
            plan.actions.append(CreateChild(desired_child(ds, role, slice_index, revision, 0)))
        plan.requeue_after = REQUEUE_SECONDS
        return
    if not is_revision_stable(new, spec_roles):
        plan.requeue_after = REQUEUE_SECONDS
        return
    state = planner_state(ds, old, new, scalers)
    config = rolling_update_configs(ds, state.roles, scalers)
    step: Step | None = next_step(
        state.initial_old, state.current_old, state.current_new, state.target, config
    )
    if step is None:
        plan.events.append(
            Event(
                d.EVENT_ROLLING_UPDATE_COMPLETED, "Update", f"Completed rolling update to revision {revision}"
            )
        )
        return
    for i, name in enumerate(state.roles):
        if name not in spec_roles or state.current_new[i] >= step.new[i]:
            continue
        lws_name = child_name(ds_name, slice_index, revision, name)
        plan.actions.append(ScaleChild(lws_name, name, state.current_new[i], step.new[i]))
        plan.events.append(
            Event(
                d.EVENT_SCALING_UP,
                "Update",
                f"Scaling up {name} LWS {lws_name} from {state.current_new[i]} to {step.new[i]} replicas",
            )
        )
    for action in scale_down_old(old, state.roles, state.current_old, step.old):
        plan.actions.append(action)
        plan.events.append(
            Event(
                d.EVENT_SCALING_DOWN,
                "Update",
                f"Scaling down {action.role} LWS {action.name} from {action.current} to {action.replicas} "
                "replicas",
            )
        )


def _plan_simple(
    ds: Obj, slice_index: int, revision: str, live: Sequence[Obj], scalers: Mapping[str, Obj], plan: SlicePlan
) -> None:
    ds_name = str((ds.get("metadata") or {}).get("name", ""))
    by_name = {str(lws["metadata"]["name"]): lws for lws in live}
    for role in roles_of(ds):
        name = str(role.get("name"))
        existing = by_name.get(child_name(ds_name, slice_index, revision, name))
        if existing is None and slice_index == 0:
            existing = by_name.get(legacy_child_name(ds_name, revision, name))
        current = 0
        if existing is not None and (existing.get("spec") or {}).get("replicas") is not None:
            current = int(existing["spec"]["replicas"])
        desired = target_replicas(ds, name, scalers, current)
        if existing is None:
            plan.actions.append(CreateChild(desired_child(ds, role, slice_index, revision, desired)))
        else:
            if replicas_of(existing) != desired:
                plan.actions.append(
                    ScaleChild(str(existing["metadata"]["name"]), name, replicas_of(existing), desired)
                )
            policy = replacement_policy(role.get("spec") or {})
            if replacement_policy(existing.get("spec") or {}) != policy:
                plan.actions.append(SyncReplacementPolicy(str(existing["metadata"]["name"]), policy))


def replacement_policy(spec: Obj) -> str:
    """``groupReplacementPolicy`` of a role's or a LeaderWorkerSet's spec, the default when unset."""
    return str(spec.get("groupReplacementPolicy") or REPLACEMENT_POLICY_DEFAULT)


def removed_slices(children: Sequence[Obj], slices: int) -> list[str]:
    """Children of slices at or above ``slices`` (slice scale-down): deleted directly, as upstream."""
    doomed = []
    for lws in children:
        labels = (lws.get("metadata") or {}).get("labels") or {}
        try:
            index = int(labels.get(d.SLICE_LABEL, ""))
        except ValueError:
            continue
        if index >= slices:
            doomed.append(str(lws["metadata"]["name"]))
    return doomed


def legacy_slice_zero_to_recreate(ds: Obj, revision: str, children: Sequence[Obj]) -> list[str]:
    """Pre-slices children at the target revision to delete (their ``-prv`` Service first) when ``slices``
    goes above 1, so that slice 0 is recreated slices-aware before a sibling slice shares its revision.

    Upstream's ``recreateLegacySlice0``; with one slice a legacy child is kept as it is. A legacy child at an
    older revision is left to the rolling update.
    """
    if slices_of(ds) <= 1:
        return []
    ds_name = str((ds.get("metadata") or {}).get("name", ""))
    by_name = {str(lws["metadata"]["name"]): lws for lws in children}
    doomed = []
    for name in role_names(ds):
        legacy = by_name.get(legacy_child_name(ds_name, revision, name))
        if legacy is not None and not has_slice_label((legacy.get("metadata") or {}).get("labels") or {}):
            doomed.append(str(legacy["metadata"]["name"]))
    return doomed
