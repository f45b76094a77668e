"""Rolling-update maths: the leader StatefulSet's partition and replicas at each step of a rollout.

Upstream's algorithm, as pure functions. Definitions: ``R`` = ``spec.replicas``; ``S`` = the leader
StatefulSet's ``spec.replicas``; ``P`` = its current partition; ``surge`` = maxSurge scaled up against R and
capped at R; ``unavailable`` = maxUnavailable scaled down against R; ``burst`` = R + surge. Groups are
updated from the highest index down; the partition only ever moves down during a rollout; surge groups
(indices >= R) are given back one by one as the remaining unready groups fit in the maxUnavailable budget.
Whatever is computed, the final partition is never below ``rollingUpdateConfiguration.partition``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lws.api.intstr import IntOrStr, scaled_value


@dataclass(frozen=True)
class GroupState:
    """A group as the rollout sees it: both halves (leader pod and worker StatefulSet) count."""

    ready: bool
    updated: bool


@dataclass(frozen=True)
class RolloutInput:
    replicas: int
    max_surge: IntOrStr
    max_unavailable: IntOrStr
    spec_partition: int
    #: The leader StatefulSet's spec.replicas, or ``None`` if it does not exist yet.
    sts_replicas: int | None = None
    #: The leader StatefulSet's current partition.
    sts_partition: int = 0
    #: ``spec.replicas`` when the StatefulSet was last written (its ``replicas`` annotation).
    sts_replicas_annotation: int | None = None
    #: A new revision was created in this reconcile: a rollout starts now.
    revision_changed: bool = False
    #: One state per leader ordinal ``0..S-1``, or how to get them: they are only looked at while a
    #: rollout is under way, so a set at rest never computes them.
    states: Sequence[GroupState] | Callable[[], Sequence[GroupState]] = ()

    def group_states(self) -> Sequence[GroupState]:
        return self.states() if callable(self.states) else self.states


@dataclass(frozen=True)
class RolloutDecision:
    partition: int
    replicas: int
    #: Messages for the ``GroupsProgressing``/``Delete`` event when surge groups are given back.
    surge_events: tuple[str, ...] = field(default=())


def surge_and_unavailable(replicas: int, max_surge: IntOrStr, max_unavailable: IntOrStr) -> tuple[int, int]:
    """(surge, unavailable) in groups: surge rounds up and is capped at replicas; unavailable rounds down."""
    surge = min(scaled_value(max_surge, replicas, round_up=True), replicas)
    unavailable = scaled_value(max_unavailable, replicas, round_up=False)
    return surge, unavailable


def rollout_parameters(inp: RolloutInput, *, set_name: str = "") -> RolloutDecision:
    """Partition and replicas for the leader StatefulSet (upstream's ``rollingUpdateParameters``)."""
    decision = _parameters(inp, set_name)
    return RolloutDecision(
        max(decision.partition, inp.spec_partition), decision.replicas, decision.surge_events
    )


def _parameters(inp: RolloutInput, set_name: str) -> RolloutDecision:
    r = inp.replicas
    if inp.sts_replicas is None:  # Case 1: nothing exists yet.
        return RolloutDecision(0, r)
    s = inp.sts_replicas
    surge, unavailable = surge_and_unavailable(r, inp.max_surge, inp.max_unavailable)
    burst = r + surge

    def want(unready: int) -> RolloutDecision:
        final = rolling_update_replicas(r, surge, unavailable, unready)
        events: tuple[str, ...] = ()
        if final == s - 1:
            events = (f"deleting surge replica {set_name}-{final}",)
        elif final < s:
            events = (f"deleting surge replicas from {set_name}-{final} to {set_name}-{s - 1}",)
        return RolloutDecision(partition, final, events)

    if inp.revision_changed:  # Case 2: a rollout starts; scale up first.
        partition = min(r, s)
        if s < r:
            return RolloutDecision(partition, r)
        return want(r)

    partition = inp.sts_partition
    if partition == 0 and s == r:  # Case 3: at rest.
        return RolloutDecision(0, r)
    if s < r:  # Scale-up during a rollout: keep the partition, new groups get the new template.
        return RolloutDecision(partition, r)

    states = inp.group_states()
    unready = unready_groups(states, r)
    if inp.sts_replicas_annotation is not None and inp.sts_replicas_annotation != r:
        partition = min(partition, burst)  # Case 4: replicas changed mid-rollout.
        return want(unready)

    # Case 5: normal progress. Reclaiming surge must never break maxUnavailable.
    step = unavailable + surge - (burst - s)
    partition = rolling_update_partition(states, s, step, partition)
    return want(unready)


def rolling_update_partition(
    states: Sequence[GroupState], sts_replicas: int, rolling_step: int, current_partition: int
) -> int:
    """The next partition: update up to ``rolling_step`` groups below the ready, updated tail."""
    tail = continuous_ready_tail(states)
    step_partition = max(0, sts_replicas - tail - rolling_step)
    # Groups below the step partition that are down already count against maxUnavailable.
    partition = step_partition + sum(1 for s in states[:step_partition] if not s.ready)
    # Groups that are broken or already updated can be passed without costing availability (#567).
    idx = min(partition, sts_replicas - 1)
    while idx >= step_partition:
        if not states[idx].ready or states[idx].updated:
            partition = idx
        else:
            break
        idx -= 1
    return min(partition, current_partition)


def continuous_ready_tail(states: Sequence[GroupState]) -> int:
    """How many groups, counted from the highest index down, are both ready and updated."""
    count = 0
    for state in reversed(states):
        if not (state.ready and state.updated):
            break
        count += 1
    return count


def unready_groups(states: Sequence[GroupState], replicas: int) -> int:
    """Groups ``0..R-1`` that are not (ready and updated); missing ones count as unready."""
    return sum(1 for i in range(replicas) if i >= len(states) or not (states[i].ready and states[i].updated))


def rolling_update_replicas(replicas: int, surge: int, unavailable: int, unready: int) -> int:
    """Leader replicas to run: all surge while many groups are unready, then give surge back gradually."""
    if unready <= surge:
        return replicas + max(0, unready - unavailable)
    return replicas + surge


def partition_event(old: int, new: int) -> str | None:
    """Upstream's ``GroupsUpdating`` message when the partition moves down, else ``None``."""
    if new >= old:
        return None
    if old - new == 1:
        return f"Updating replica {new}"
    return f"Updating replicas {new} to {old - 1} (inclusive)"


def leader_max_unavailable(replicas: int, max_surge: IntOrStr, max_unavailable: IntOrStr) -> int:
    """The leader StatefulSet's own ``rollingUpdate.maxUnavailable``: max(1, unavailable + surge)."""
    surge, unavailable = surge_and_unavailable(replicas, max_surge, max_unavailable)
    return max(1, unavailable + surge)
