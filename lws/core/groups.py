"""How the rollout and status passes see each group: both halves, the leader pod and the worker StatefulSet.

Upstream's rules: a group is ready when its leader pod is Running and Ready and (size > 1) its worker
StatefulSet is ready; updated when both carry the set's current revision. The worker StatefulSet counts only
while its controller is the leader pod as it is now: when a leader pod is replaced, the old one's worker
StatefulSet stays until the garbage collector removes it, ready and of the old revision, and upstream's
rules (which look it up by name) would count the group ready while its workers are about to go. On a real
control plane that window let a rollout take down more groups than maxUnavailable allows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lws.api.model import LeaderWorkerSet
from lws.core.observe import controlled_by, group_index_of, revision_of, statefulset_ready, uid_of
from lws.core.rollout import GroupState
from lws.core.status import GroupObservation
from lws.k8s.pods import pod_running_and_ready

Obj = Mapping[str, Any]
Lookup = Callable[[str], Obj | None]


def group_ready(leader_ready: bool, workers_ready: bool | None, *, size_one: bool) -> bool:
    """Upstream's rule: a group is ready when its leader pod is Running and Ready and (size > 1) its worker
    StatefulSet is ready. ``workers_ready`` is ``None`` when the group has no worker StatefulSet of its own.

    With :func:`group_updated`, the one home of the rule: the rollout's and the status pass's views below,
    :class:`lws.core.group_tally.GroupTally` and the telemetry's view of a group apply it.
    """
    return leader_ready and (size_one or bool(workers_ready))


def group_updated(
    leader_revision: str, workers_revision: str | None, *, size_one: bool, revision: str
) -> bool:
    """Upstream's rule: a group is updated when its leader pod and (size > 1) its worker StatefulSet carry
    ``revision``. ``workers_revision`` is ``None`` when the group has no worker StatefulSet of its own."""
    return leader_revision == revision and (size_one or workers_revision == revision)


def _halves(leader: Obj, sts: Obj | None, *, size_one: bool, revision: str) -> tuple[bool, bool]:
    """(ready, updated) of the group of ``leader`` whose own worker StatefulSet is ``sts``."""
    workers_ready = statefulset_ready(sts) if sts is not None else None
    workers_revision = revision_of(sts) if sts is not None else None
    return (
        group_ready(pod_running_and_ready(leader), workers_ready, size_one=size_one),
        group_updated(revision_of(leader), workers_revision, size_one=size_one, revision=revision),
    )


def _workers_of(leader: Obj | None, sts: Obj | None) -> Obj | None:
    """``sts`` if the leader pod controls it: a worker StatefulSet an earlier leader left is not its own."""
    if leader is None or sts is None:
        return None
    return sts if controlled_by(sts, uid_of(leader)) else None


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
        sts = None if no_workers else _workers_of(leader, workers(name))
        if leader is None or (not no_workers and sts is None):
            states.append(GroupState(ready=False, updated=False))
            continue
        ready, updated = _halves(leader, sts, size_one=no_workers, revision=revision)
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
        sts = None if no_workers else _workers_of(leader, workers(name))
        if not no_workers and sts is None:
            continue
        ready, updated = _halves(leader, sts, size_one=no_workers, revision=revision)
        seen.append(GroupObservation(index=index, ready=ready, updated=updated))
    return seen


def hash_status_observations(
    lws: LeaderWorkerSet, leaders: Iterable[Obj], *, revision: str, workers: Lookup
) -> list[GroupObservation]:
    """``groupIdentity: Hash``: the groups have no ordinals; the status pass numbers the live leaders best
    first (updated, then ready, then oldest), so the first ``replicas`` of them are the groups the set
    counts and any others are surge."""
    no_workers = lws.size == 1
    seen: list[tuple[tuple[Any, ...], bool, bool]] = []
    for leader in leaders:
        meta = leader.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        sts = None if no_workers else workers(str(meta.get("name")))
        if not no_workers and sts is None:
            continue
        ready, updated = _halves(leader, sts, size_one=no_workers, revision=revision)
        order = (not updated, not ready, str(meta.get("creationTimestamp") or ""), str(meta.get("name")))
        seen.append((order, ready, updated))
    seen.sort(key=lambda item: item[0])
    return [GroupObservation(index=i, ready=r, updated=u) for i, (_, r, u) in enumerate(seen)]
