"""DisaggregatedSetRoleScalers: one per External role, the scale subresource HPA and ``kubectl scale`` use.

As upstream (``scaler_manager.go``): the scaler of role ``r`` of set ``ds`` is ``<ds>-<r>``, labelled with
the set's name and the role, controlled by the set (with ``blockOwnerDeletion``), and seeded with 1 for a
role that has no LeaderWorkerSet yet (0 would park a vanilla HPA in ScalingDisabled) or with the role's
current replicas when a running Static role becomes External (so it does not drain). A scaler whose role is
no longer External is deleted; a same-named object the set does not control is left alone with a Warning
``ScalerConflict``. Its status counts the role's groups over every slice and revision and selects the
role's leader pods, so HPA's per-pod averages divide by groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.api.disaggregated.validation import is_external
from lws.core.disaggregated.children import Obj, is_controlled_by, owner_reference, roles_of


def scaler_name(ds_name: str, role: str) -> str:
    """``<ds>-<role>``."""
    return f"{ds_name}-{role}"


def external_roles(ds: Obj) -> list[str]:
    """The roles with ``scaling.mode: External``, in spec order."""
    return [str(r.get("name")) for r in roles_of(ds) if is_external(r)]


def scaler_seed(role: str, children: Sequence[Obj]) -> int:
    """The first ``spec.replicas`` of a new scaler: the role's current groups summed over its children
    (unset counts as 1), or 1 when the role has none."""
    replicas = [
        (lws.get("spec") or {}).get("replicas")
        for lws in children
        if ((lws.get("metadata") or {}).get("labels") or {}).get(d.ROLE_LABEL) == role
    ]
    if not replicas:
        return 1
    return sum(1 if r is None else int(r) for r in replicas)


def desired_scaler(ds: Obj, role: str, seed: int) -> dict[str, Any]:
    """The RoleScaler to create for ``role``."""
    metadata = ds.get("metadata") or {}
    ds_name = str(metadata.get("name", ""))
    return {
        "apiVersion": d.API_VERSION,
        "kind": d.SCALER_KIND,
        "metadata": {
            "name": scaler_name(ds_name, role),
            "namespace": metadata.get("namespace") or "default",
            "labels": {d.SET_NAME_LABEL: ds_name, d.ROLE_LABEL: role},
            "ownerReferences": [owner_reference(ds, block_owner_deletion=True)],
        },
        "spec": {"replicas": seed},
    }


@dataclass
class ScalerPlan:
    """Scalers to create (on AlreadyExists: adopt only if controlled, else ``ScalerConflict``), names of
    controlled scalers to delete, and the scalers in force, by role."""

    create: list[dict[str, Any]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    by_role: dict[str, Obj] = field(default_factory=dict)


def plan_scalers(ds: Obj, existing: Sequence[Obj], children: Sequence[Obj]) -> ScalerPlan:
    """What to do about scalers, from the ones labelled with the set's name and all of its children."""
    wanted = set(external_roles(ds))
    plan = ScalerPlan()
    for scaler in existing:
        if not is_controlled_by(scaler, ds):
            continue
        role = ((scaler.get("metadata") or {}).get("labels") or {}).get(d.ROLE_LABEL, "")
        if role in wanted:
            plan.by_role[role] = scaler
        else:
            plan.delete.append(str(scaler["metadata"]["name"]))
    for role in external_roles(ds):
        if role not in plan.by_role:
            plan.create.append(desired_scaler(ds, role, scaler_seed(role, children)))
    return plan


def scaler_selector(ds_name: str, role: str) -> str:
    """The scale subresource's selector: the role's leader pods, every revision and slice."""
    return f"{d.SET_NAME_LABEL}={ds_name},{d.ROLE_LABEL}={role},{c.WORKER_INDEX_LABEL}=0"


def scaler_status(ds: Obj, scaler: Obj, children: Sequence[Obj], now: str) -> dict[str, Any]:
    """The status a scaler should have: observed groups, selector, generation, ``Ready`` (reason Bound).

    ``lastTransitionTime`` moves to ``now`` only when the Ready condition's status changes.
    """
    role = ((scaler.get("metadata") or {}).get("labels") or {}).get(d.ROLE_LABEL, "")
    generation = int((scaler.get("metadata") or {}).get("generation") or 0)
    observed = sum(
        int((lws.get("status") or {}).get("replicas") or 0)
        for lws in children
        if ((lws.get("metadata") or {}).get("labels") or {}).get(d.ROLE_LABEL) == role
    )
    old: Mapping[str, Any] = scaler.get("status") or {}
    previous = next(
        (cd for cd in old.get("conditions") or () if cd.get("type") == d.SCALER_CONDITION_READY), None
    )
    since = previous["lastTransitionTime"] if previous and previous.get("status") == "True" else now
    ready = {
        "type": d.SCALER_CONDITION_READY,
        "status": "True",
        "observedGeneration": generation,
        "lastTransitionTime": since,
        "reason": d.SCALER_REASON_BOUND,
        "message": d.SCALER_MESSAGE_BOUND,
    }
    # As apimeta.SetStatusCondition: the condition keeps its place among the others.
    conditions = [
        ready if cd.get("type") == d.SCALER_CONDITION_READY else cd for cd in old.get("conditions") or ()
    ]
    if previous is None:
        conditions.append(ready)
    status: dict[str, Any] = {}
    if observed:
        status["replicas"] = observed
    status["selector"] = scaler_selector(str((ds.get("metadata") or {}).get("name", "")), role)
    if generation:
        status["observedGeneration"] = generation
    status["conditions"] = conditions
    return status
