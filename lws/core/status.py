"""LeaderWorkerSet status: counters and the Available / Progressing / UpdateInProgress conditions.

Upstream's rules, as pure functions, with two deliberate differences that reduce writes and follow the
Kubernetes API conventions (both are invisible once a set has settled):

* all proposed conditions are applied in one pass (upstream stops after the first change, so a rollout's
  start costs it two status writes);
* ``lastTransitionTime`` changes only when a condition's status changes (upstream also resets it when only
  ``observedGeneration`` moves).

As upstream: exactly one kind of proposal per pass; Available is exclusive with Progressing and with
UpdateInProgress (the other is flipped to False, keeping its old reason and message); UpdateInProgress is
not exclusive with Progressing; conditions are never removed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet

_MESSAGES = {
    c.CONDITION_AVAILABLE: (c.REASON_ALL_GROUPS_READY, "All replicas are ready"),
    c.CONDITION_UPDATE_IN_PROGRESS: (c.REASON_GROUPS_UPDATING, "Rolling Upgrade is in progress"),
    c.CONDITION_PROGRESSING: (c.REASON_GROUPS_PROGRESSING, "Replicas are progressing"),
}
_EXCLUSIVE = {
    frozenset({c.CONDITION_AVAILABLE, c.CONDITION_PROGRESSING}),
    frozenset({c.CONDITION_AVAILABLE, c.CONDITION_UPDATE_IN_PROGRESS}),
}


@dataclass(frozen=True)
class GroupObservation:
    """One leader pod (group) seen by the status pass. Groups whose worker StatefulSet is missing
    (size > 1) are not observed at all, as upstream skips them."""

    index: int
    ready: bool
    updated: bool


@dataclass(frozen=True)
class GroupCounts:
    """What status needs of the observed groups, counted (see :func:`count_groups`).

    :ivar current: groups in the update window, ``partition <= index < replicas``.
    :ivar ready_below_replicas: ready groups with ``index < replicas`` (surge groups left out).
    """

    ready: int = 0
    updated: int = 0
    current: int = 0
    updated_in_window: int = 0
    updated_ready_in_window: int = 0
    ready_below_replicas: int = 0


def count_groups(groups: Iterable[GroupObservation], *, replicas: int, partition: int) -> GroupCounts:
    """Count observed groups for :func:`compute_status` (the operator keeps the same counts from watch
    events: :class:`lws.core.group_tally.GroupTally`)."""
    ready = updated = current = updated_in_window = updated_ready_in_window = ready_below = 0
    for g in groups:
        ready += g.ready
        updated += g.updated
        if g.index < replicas:
            ready_below += g.ready
            if g.index >= partition:
                current += 1
                updated_in_window += g.updated
                updated_ready_in_window += g.updated and g.ready
    return GroupCounts(ready, updated, current, updated_in_window, updated_ready_in_window, ready_below)


@dataclass(frozen=True)
class StatusResult:
    status: dict[str, Any]
    #: The rollout is complete (partition 0, every group updated and ready): old revisions can go.
    update_done: bool
    #: (reason, message) of the Normal event to emit because conditions changed, if they did.
    event: tuple[str, str] | None


def hpa_pod_selector(set_name: str) -> str:
    """The scale subresource's selector: leader pods only (keys sorted, as labels.Selector prints)."""
    return f"{c.SET_NAME_LABEL}={set_name},{c.WORKER_INDEX_LABEL}=0"


def compute_status(
    lws: LeaderWorkerSet, *, counts: GroupCounts, leader_sts_replicas: int, now: str
) -> StatusResult:
    """The status the set should have now; compare with the current one before writing.

    :param counts: the observed groups, counted against the set's replicas and partition.
    """
    r, partition, generation = lws.replicas, lws.partition, lws.generation
    ready, updated, current = counts.ready, counts.updated, counts.current
    updated_in_window, updated_ready_in_window = counts.updated_in_window, counts.updated_ready_in_window
    ready_non_burst = counts.ready_below_replicas

    if updated_in_window < current:
        proposals = [c.CONDITION_UPDATE_IN_PROGRESS, c.CONDITION_PROGRESSING]
    elif ready_non_burst == r and updated_ready_in_window == current:
        proposals = [c.CONDITION_AVAILABLE]
    else:
        proposals = [c.CONDITION_PROGRESSING]

    old = lws.status
    conditions, changed = apply_conditions(old.get("conditions") or [], proposals, generation, now)
    status = copy.deepcopy(dict(old))
    status.update(
        {
            "replicas": leader_sts_replicas,
            "readyReplicas": ready,
            "updatedReplicas": updated,
            "observedGeneration": generation,
            "conditions": conditions,
        }
    )
    if not status.get("hpaPodSelector"):
        status["hpaPodSelector"] = hpa_pod_selector(lws.name)
    event = None
    if changed:
        reason, message = _MESSAGES[proposals[0]]
        event = (reason, f"{message}, with {ready} groups ready of total {r} groups")
    return StatusResult(
        status=status, update_done=partition == 0 and updated_ready_in_window == r, event=event
    )


def apply_conditions(
    existing: Sequence[Mapping[str, Any]], proposals: Sequence[str], generation: int, now: str
) -> tuple[list[dict[str, Any]], bool]:
    """Apply True proposals to the current conditions; return (conditions, whether any changed)."""
    conditions = [dict(cond) for cond in existing]
    changed = False
    for ctype in proposals:
        reason, message = _MESSAGES[ctype]
        found = False
        for cond in conditions:
            if cond.get("type") == ctype:
                found = True
                if cond.get("status") != "True" or cond.get("observedGeneration") != generation:
                    if cond.get("status") != "True":
                        cond["lastTransitionTime"] = now
                    cond.update(status="True", reason=reason, message=message, observedGeneration=generation)
                    changed = True
            elif frozenset({cond.get("type"), ctype}) in _EXCLUSIVE and cond.get("status") == "True":
                cond.update(status="False", lastTransitionTime=now, observedGeneration=generation)
                changed = True
        if not found:
            conditions.append(
                {
                    "type": ctype,
                    "status": "True",
                    "observedGeneration": generation,
                    "lastTransitionTime": now,
                    "reason": reason,
                    "message": message,
                }
            )
            changed = True
    for cond in conditions:
        if cond.get("observedGeneration") != generation:
            cond["observedGeneration"] = generation
            changed = True
    return conditions, changed


def status_changed(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether a write is needed (no write when nothing changed)."""
    return dict(current) != dict(desired)
