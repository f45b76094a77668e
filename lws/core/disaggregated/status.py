"""A DisaggregatedSet's status: per-role counts over its children and the Available/Progressing pair.

As upstream (``updateStatus``): ``roleStatuses`` has one entry per role of the spec, in spec order, with
``replicas`` and ``readyReplicas`` summed over the role's LeaderWorkerSets of every slice and revision and
``updatedReplicas`` over those at the current revision. The set is Available when every role has
``replicas == readyReplicas == updatedReplicas == target * slices`` (an External role without its scaler is
never satisfied); otherwise Progressing. Exactly one of the two is True; the other is False with the same
reason and message, and a condition's ``lastTransitionTime`` moves only when its status flips.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from lws.api.disaggregated import constants as d
from lws.api.disaggregated.validation import is_external
from lws.core.disaggregated.children import Obj, role_names, roles_of, slices_of
from lws.core.disaggregated.rollout import target_replicas

_PAIR = {d.CONDITION_AVAILABLE, d.CONDITION_PROGRESSING}


def role_statuses(ds: Obj, children: Sequence[Obj], revision: str) -> list[dict[str, Any]]:
    """``status.roleStatuses``: zero counts are left out, as Go's ``omitempty`` does."""
    result = []
    for role in role_names(ds):
        replicas = ready = updated = 0
        for lws in children:
            labels = (lws.get("metadata") or {}).get("labels") or {}
            if labels.get(d.ROLE_LABEL) != role:
                continue
            status = lws.get("status") or {}
            replicas += int(status.get("replicas") or 0)
            ready += int(status.get("readyReplicas") or 0)
            if labels.get(d.REVISION_LABEL) == revision:
                updated += int(status.get("updatedReplicas") or 0)
        entry: dict[str, Any] = {"name": role}
        for key, value in (("replicas", replicas), ("readyReplicas", ready), ("updatedReplicas", updated)):
            if value:
                entry[key] = value
        result.append(entry)
    return result


def is_available(ds: Obj, statuses: Sequence[Mapping[str, Any]], scalers: Mapping[str, Obj]) -> bool:
    """Every role at ``target * slices`` replicas, all ready and updated (a role to 0: fully drained)."""
    by_name = {s["name"]: s for s in statuses}
    slices = slices_of(ds)
    for role in roles_of(ds):
        name = str(role.get("name"))
        if is_external(role) and name not in scalers:
            return False
        desired = target_replicas(ds, name, scalers, 0) * slices
        entry = by_name.get(name, {})
        counts = (entry.get("replicas", 0), entry.get("readyReplicas", 0), entry.get("updatedReplicas", 0))
        if counts != (desired, desired, desired):
            return False
    return True


def set_conditions(
    conditions: Sequence[Mapping[str, Any]], available: bool, generation: int, now: str
) -> tuple[list[dict[str, Any]], bool]:
    """The conditions after recording Available (or Progressing) as True, and whether anything changed.

    The other of the pair turns False with the same reason and message; other condition types are kept.
    """
    kind, reason, message = (
        (d.CONDITION_AVAILABLE, d.REASON_ALL_ROLES_READY, d.MESSAGE_ALL_ROLES_READY)
        if available
        else (d.CONDITION_PROGRESSING, d.REASON_ROLLOUT_IN_PROGRESS, d.MESSAGE_ROLLOUT_IN_PROGRESS)
    )
    new = {
        "type": kind,
        "status": "True",
        "observedGeneration": generation,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }
    result = [dict(copy.deepcopy(cd)) for cd in conditions]
    changed = found = False
    for cd in result:
        if cd.get("type") == kind:
            found = True
            if cd.get("status") != "True":
                cd.clear()
                cd.update(new)
                changed = True
            elif (cd.get("observedGeneration"), cd.get("reason"), cd.get("message")) != (
                generation,
                reason,
                message,
            ):
                cd.update(observedGeneration=generation, reason=reason, message=message)
                changed = True
        elif cd.get("type") in _PAIR:
            if cd.get("status") == "True":
                cd.update(
                    status="False",
                    lastTransitionTime=now,
                    observedGeneration=generation,
                    reason=reason,
                    message=message,
                )
                changed = True
            elif cd.get("observedGeneration") != generation:
                cd["observedGeneration"] = generation
                changed = True
    if not found:
        result.append(new)
        changed = True
    return result, changed


def desired_status(
    ds: Obj, children: Sequence[Obj], revision: str, scalers: Mapping[str, Obj], now: str
) -> tuple[dict[str, Any], bool]:
    """The whole status and whether it differs from the stored one (write only then).

    :param children: every LeaderWorkerSet the set controls, all slices and revisions, with status.
    :param now: RFC 3339 time for conditions that flip.
    """
    old: Mapping[str, Any] = ds.get("status") or {}
    generation = int((ds.get("metadata") or {}).get("generation") or 0)
    statuses = role_statuses(ds, children, revision)
    conditions, changed = set_conditions(
        old.get("conditions") or [], is_available(ds, statuses, scalers), generation, now
    )
    status: dict[str, Any] = {}
    if generation:
        status["observedGeneration"] = generation
    if statuses:
        status["roleStatuses"] = statuses
    status["conditions"] = conditions
    changed = (
        changed
        or statuses != list(old.get("roleStatuses") or [])
        or old.get("observedGeneration") != (generation or None)
    )
    return status, changed
