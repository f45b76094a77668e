"""Reading the cluster's objects the way upstream's controllers read them: pure functions over dicts.

Readiness of pods and StatefulSets, revision keys, ownership, and the per-group states the rollout and
status maths take as input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet
from lws.core.rollout import GroupState
from lws.core.status import GroupObservation

Obj = Mapping[str, Any]
Lookup = Callable[[str], Obj | None]


def labels(obj: Obj | None) -> Mapping[str, str]:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def revision_of(obj: Obj | None) -> str:
    """The ``template-revision-hash`` label ("" when absent)."""
    return str(labels(obj).get(c.REVISION_KEY, ""))


def deleting(obj: Obj | None) -> bool:
    return bool(((obj or {}).get("metadata") or {}).get("deletionTimestamp"))


def uid_of(obj: Obj | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("uid") or "")


def controller_of(obj: Obj | None) -> Obj | None:
    """The owner reference with ``controller: true``."""
    for ref in ((obj or {}).get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def controlled_by(obj: Obj | None, uid: str) -> bool:
    owner = controller_of(obj)
    return owner is not None and str(owner.get("uid")) == uid


def pod_ready(pod: Obj | None) -> bool:
    """``Ready`` condition True."""
    for cond in ((pod or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def pod_running_and_ready(pod: Obj | None) -> bool:
    """Upstream's ``PodRunningAndReady``: phase Running and the Ready condition True."""
    return ((pod or {}).get("status") or {}).get("phase") == "Running" and pod_ready(pod)


def statefulset_ready(sts: Obj | None) -> bool:
    """Upstream's ``StatefulsetReady``: all replicas available and no rollout in progress."""
    if sts is None:
        return False
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    replicas = spec.get("replicas")
    replicas = 1 if replicas is None else int(replicas)
    return replicas == int(status.get("availableReplicas") or 0) and status.get(
        "currentRevision"
    ) == status.get("updateRevision")


def group_index_of(pod: Obj) -> int | None:
    value = labels(pod).get(c.GROUP_INDEX_LABEL)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def group_states(
    lws: LeaderWorkerSet, *, sts_replicas: int, revision: str, pod: Lookup, workers: Lookup
) -> list[GroupState]:
    """One state per leader ordinal ``0..S-1``: ready and updated, counting both halves of each group.

    A group whose leader pod or (size > 1) worker StatefulSet is missing is neither.
    """
    no_workers = lws.size == 1
    states: list[GroupState] = []
    for index in range(sts_replicas):
        name = lws.leader_pod_name(index)
        leader = pod(name)
        sts = None if no_workers else workers(name)
        if leader is None or (not no_workers and sts is None):
            states.append(GroupState(ready=False, updated=False))
            continue
        ready = pod_running_and_ready(leader) and (no_workers or statefulset_ready(sts))
        updated = revision_of(leader) == revision and (no_workers or revision_of(sts) == revision)
        states.append(GroupState(ready=ready, updated=updated))
    return states


def status_observations(
    lws: LeaderWorkerSet, leaders: Iterable[Obj], *, revision: str, workers: Lookup
) -> list[GroupObservation]:
    """What the status pass sees: every leader pod whose worker StatefulSet exists (or size 1)."""
    no_workers = lws.size == 1
    seen: list[GroupObservation] = []
    for leader in leaders:
        index = group_index_of(leader)
        if index is None:
            continue
        name = str((leader.get("metadata") or {}).get("name"))
        sts = None if no_workers else workers(name)
        if not no_workers and sts is None:
            continue
        seen.append(
            GroupObservation(
                index=index,
                ready=pod_running_and_ready(leader) and (no_workers or statefulset_ready(sts)),
                updated=revision_of(leader) == revision and (no_workers or revision_of(sts) == revision),
            )
        )
    return seen
