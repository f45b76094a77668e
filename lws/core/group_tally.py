"""A set's groups, counted as they change: status without looking at every group on every reconcile.

The status pass needs, for a set, how many observed groups are ready, updated, and both inside the update
window (:class:`~lws.core.status.GroupCounts`). Counting them means reading every leader pod and worker
StatefulSet of the set: at 1,000 groups, a millisecond or more per set reconcile, and a set is reconciled
as its groups come up. A :class:`GroupTally` is told each change of one group's leader pod or worker
StatefulSet (the operator feeds it from its caches) and keeps counts of the groups by what status asks of
them; :meth:`GroupTally.counts` adds up a handful of buckets.

The rules are those of :func:`lws.core.groups.status_observations`, which stays the reference (the tests
hold the two equal): a group is one leader pod with a group index; with workers (size > 1) it is observed
only once its worker StatefulSet exists and is controlled by the leader pod as it is now (a replaced
leader's workers, waiting for the garbage collector, do not count); whether it is ready and updated is
:func:`lws.core.groups.group_ready`'s and :func:`~lws.core.groups.group_updated`'s to say, for both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lws.core.groups import group_ready, group_updated
from lws.core.observe import controller_of, revision_of, statefulset_ready, uid_of
from lws.core.status import GroupCounts
from lws.k8s.pods import pod_running_and_ready

#: Where a group stands against the update window: below the partition, inside it, at or above replicas.
_BELOW, _INSIDE, _ABOVE = 0, 1, 2


@dataclass(frozen=True)
class Half:
    """One half of a group as status sees it: ready, the revision it carries, and whose it is: a leader
    pod's own uid, a worker StatefulSet's controller's (``None``: controlled by nothing)."""

    ready: bool
    revision: str
    uid: str | None = None


def leader_half(pod: Mapping[str, Any]) -> Half:
    """A leader pod as :class:`GroupTally` keeps it."""
    return Half(pod_running_and_ready(pod), revision_of(pod), uid_of(pod))


def workers_half(sts: Mapping[str, Any]) -> Half:
    """A worker StatefulSet as :class:`GroupTally` keeps it."""
    owner = controller_of(sts)
    return Half(statefulset_ready(sts), revision_of(sts), None if owner is None else str(owner.get("uid")))


@dataclass
class _Group:
    index: int | None = None
    leader: Half | None = None
    workers: Half | None = None

    def fact(self) -> tuple[bool, str, bool, bool, str] | None:
        """(leader ready, leader revision, workers exist, workers ready, workers revision); ``None`` when
        status does not see the group at all (no leader pod, or no group index)."""
        if self.leader is None or self.index is None:
            return None
        workers = self.workers
        if workers is not None and workers.uid != self.leader.uid:
            workers = None  # an earlier leader's, about to be collected: not this group's
        return (
            self.leader.ready,
            self.leader.revision,
            workers is not None,
            workers is not None and workers.ready,
            workers.revision if workers is not None else "",
        )


@dataclass
class GroupTally:
    """The groups of one set, by leader pod name, and their counts by window zone and fact."""

    _groups: dict[str, _Group] = field(default_factory=dict)
    _counts: Counter[tuple[int, tuple[bool, str, bool, bool, str]]] = field(default_factory=Counter)
    #: The window the zones were computed for: (partition, replicas).
    _window: tuple[int, int] = (0, 0)

    def __len__(self) -> int:
        return len(self._groups)

    def set_leader(self, name: str, index: int | None, leader: Half | None) -> None:
        """The leader pod ``name`` changed (``None``: it is gone)."""
        group = self._groups.get(name) or _Group()
        self._change(name, group, _Group(index if leader is not None else None, leader, group.workers))

    def set_workers(self, name: str, workers: Half | None) -> None:
        """The worker StatefulSet of leader ``name`` changed (``None``: it is gone)."""
        group = self._groups.get(name) or _Group()
        self._change(name, group, _Group(group.index, group.leader, workers))

    def counts(self, *, revision: str, size_one: bool, replicas: int, partition: int) -> GroupCounts:
        """The counts status needs, for the set's current revision, size, replicas and partition."""
        if (partition, replicas) != self._window:
            self._rezone(partition, replicas)
        ready = updated = current = updated_in = updated_ready_in = ready_below = 0
        for (zone, (l_ready, l_rev, w_exists, w_ready, w_rev)), n in self._counts.items():
            if not (size_one or w_exists):
                continue  # upstream skips a group whose worker StatefulSet does not exist yet
            is_ready = group_ready(l_ready, w_ready if w_exists else None, size_one=size_one)
            is_updated = group_updated(
                l_rev, w_rev if w_exists else None, size_one=size_one, revision=revision
            )
            ready += n * is_ready
            updated += n * is_updated
            if zone != _ABOVE:
                ready_below += n * is_ready
            if zone == _INSIDE:
                current += n
                updated_in += n * is_updated
                updated_ready_in += n * (is_updated and is_ready)
        return GroupCounts(ready, updated, current, updated_in, updated_ready_in, ready_below)

    # --- keeping the buckets ----------------------------------------------------------------------------

    def _zone(self, index: int) -> int:
        partition, replicas = self._window
        return _ABOVE if index >= replicas else _BELOW if index < partition else _INSIDE

    def _change(self, name: str, old: _Group, new: _Group) -> None:
        before, after = old.fact(), new.fact()
        if before is not None and old.index is not None:
            key = (self._zone(old.index), before)
            self._counts[key] -= 1
            if not self._counts[key]:
                del self._counts[key]
        if after is not None and new.index is not None:
            self._counts[(self._zone(new.index), after)] += 1
        if new.leader is None and new.workers is None:
            self._groups.pop(name, None)
        else:
            self._groups[name] = new

    def _rezone(self, partition: int, replicas: int) -> None:
        """The window moved (a rollout step, a scale): every group's zone is computed again."""
        self._window = (partition, replicas)
        self._counts = Counter()
        for group in self._groups.values():
            fact = group.fact()
            if fact is not None and group.index is not None:
                self._counts[(self._zone(group.index), fact)] += 1
