"""Group lifecycles: when a group's story begins and ends, decided by pure functions over plain data.

A *lifecycle* is one stretch of a group's life from a cause to "all its pods are Ready":

* ``create``: the set reconcile scaled the leader StatefulSet up (a new set, more replicas, surge);
* ``update``: a rollout's partition moved past the group, so it is rebuilt on the new revision;
* ``recreate``: the restart policy recreated it (or holds it back before doing so) after a pod restarted
  or was deleted;
* ``recover``: it fell out of Ready with no decision of ours (an in-place container restart, an evicted
  leader) and came back;
* ``resume``: an operator that started while the group was on its way found it (its start is unknown).

The telemetry keeps one :class:`GroupTrack` per group, asks :func:`group_steps` after each group reconcile
and :func:`set_changes` after each set reconcile what changed, and turns the answers into spans and
histogram observations. Nothing here touches a span or the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

LifecycleKind = Literal["create", "update", "recreate", "recover", "resume"]
Outcome = Literal["ready", "superseded", "failed", "removed"]

#: The lifecycle root span's name for each kind (``{verb} {object}``, low cardinality).
SPAN_NAMES: Mapping[LifecycleKind, str] = {
    "create": "create group",
    "update": "update group",
    "recreate": "recreate group",
    "recover": "recover group",
    "resume": "resume group",
}

#: Where the lifecycle's trace context is carried (an annotation of the worker StatefulSet itself), so that
#: an operator that restarts mid-way continues the same trace. Outside upstream's label prefix.
TRACEPARENT_ANNOTATION = "lws.x-k8s.io/lifecycle-traceparent"


@dataclass(frozen=True)
class GroupSnapshot:
    """A group as the operator's caches show it after a reconcile."""

    #: The live leader pod's uid; ``""`` when it is missing or being deleted.
    leader_uid: str
    leader_ready: bool
    #: Leader Running and Ready, and (size > 1) this leader's worker StatefulSet ready (upstream's rule).
    ready: bool
    #: The leader's template revision.
    revision: str
    #: This leader's worker StatefulSet exists (always true for groups of one).
    workers: bool
    #: The lifecycle trace context recorded on the worker StatefulSet, if any.
    traceparent: str | None = None


@dataclass(frozen=True)
class GroupFindings:
    """What one group reconcile decided, as its decision records (lws.core.decisions) reported it."""

    #: The restart policy's answer (``recreate``, ``wait``, ``fail``, ``ignore``), if it was asked.
    restart: str | None = None
    restart_reason: str = ""
    #: The reconcile created this leader's worker StatefulSet.
    workers_created: bool = False
    #: The gate holding the workers back, if one did.
    gate: str | None = None


@dataclass(frozen=True)
class OpenLifecycle:
    """The part of an open lifecycle the decisions need: what "done" means for it."""

    kind: LifecycleKind
    #: The revision the group must run for the lifecycle to end (``update``); ``None``: any.
    target_revision: str | None = None
    #: The leader pod being replaced (``recreate``): the lifecycle ends only with another leader Ready.
    replaces_leader: str = ""

    def done(self, snap: GroupSnapshot) -> bool:
        """The group is Ready as this lifecycle wants it."""
        if not snap.ready:
            return False
        if self.target_revision is not None and snap.revision != self.target_revision:
            return False
        return not (self.replaces_leader and snap.leader_uid == self.replaces_leader)


@dataclass
class GroupTrack:
    """What the telemetry remembers of one group between reconciles."""

    ready: bool = False
    leader_uid: str = ""
    leader_ready: bool = False
    gate: str | None = None
    lifecycle: OpenLifecycle | None = None
    #: Restarts already measured (failure detection), by pod uid: restart count, or -1 for a deletion.
    measured_failures: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Start:
    kind: LifecycleKind
    reason: str
    #: Begins when the reconcile began (it detected the cause), rather than when it ended.
    at_reconcile_start: bool = False
    #: The start time is known (not a lifecycle found half-way by a restarted operator).
    measured: bool = True
    #: Continue this trace (W3C traceparent) instead of starting a new one.
    resume_from: str | None = None
    #: The leader pod this lifecycle replaces (``recreate``).
    replaces_leader: str = ""

    def opened(self, target_revision: str | None = None) -> OpenLifecycle:
        return OpenLifecycle(self.kind, target_revision, self.replaces_leader)


@dataclass(frozen=True)
class Escalate:
    """The open ``recover`` lifecycle turns out to be a recreation: same trace and start, new kind."""

    reason: str
    replaces_leader: str

    def opened(self) -> OpenLifecycle:
        return OpenLifecycle("recreate", None, self.replaces_leader)


@dataclass(frozen=True)
class End:
    outcome: Outcome


@dataclass(frozen=True)
class Milestone:
    name: str
    detail: str = ""


Step = Start | Escalate | End | Milestone


def group_steps(track: GroupTrack | None, snap: GroupSnapshot, found: GroupFindings) -> list[Step]:
    """What a group reconcile changed in the group's lifecycle, in order.

    :param track: what was known before (``None``: this operator has not seen the group yet).
    :param snap: the group now.
    :param found: what the reconcile decided.
    """
    steps: list[Step] = []
    current = track.lifecycle if track is not None else None

    def start(step: Start) -> OpenLifecycle:
        steps.append(step)
        return step.opened()

    if found.restart in ("recreate", "wait") and (current is None or current.kind != "recreate"):
        # The caches may not show our own deletion yet: the leader they show is the one being replaced.
        leader = snap.leader_uid or (track.leader_uid if track is not None else "")
        reason = found.restart_reason or "restart policy"
        if current is not None and current.kind == "recover":
            # The group was seen failing first (a container stops before it restarts): one incident.
            escalate = Escalate(reason, leader)
            steps.append(escalate)
            current = escalate.opened()
        else:
            if current is not None:
                steps.append(End("superseded"))
            current = start(Start("recreate", reason, at_reconcile_start=True, replaces_leader=leader))
    elif found.restart == "fail":
        if current is not None:
            steps.append(End("failed"))
        return steps

    if track is None:
        if not snap.ready and snap.leader_uid and current is None:
            kind: LifecycleKind = "recover" if snap.workers else "create"
            if snap.traceparent is not None:
                kind = "resume"
            reason = "found on the way by a starting operator"
            current = start(Start(kind, reason, measured=False, resume_from=snap.traceparent))
    elif snap.leader_uid and snap.leader_uid != track.leader_uid:
        if current is None and track.leader_uid:
            current = start(Start("recover", "leader pod replaced"))
        if current is not None:
            if track.leader_uid:
                # The caches went from the old leader straight to its successor (the events between
                # were handled by one reconcile): the old one was deleted all the same.
                steps.append(Milestone("leader pod deleted", track.leader_uid))
            steps.append(Milestone("leader pod created", snap.leader_uid))
    elif track.ready and not snap.ready and current is None:
        current = start(Start("recover", "group not ready"))
    if track is not None and track.leader_uid and not snap.leader_uid and current is not None:
        steps.append(Milestone("leader pod deleted", track.leader_uid))

    if current is not None:
        if found.workers_created:
            steps.append(Milestone("worker StatefulSet created"))
        if found.gate is not None and (track is None or track.gate != found.gate):
            steps.append(Milestone("workers held back", found.gate))
        if snap.leader_ready and (track is None or not track.leader_ready):
            steps.append(Milestone("leader pod ready"))
        if current.done(snap):
            steps.append(End("ready"))
    return steps


@dataclass(frozen=True)
class SetSnapshot:
    """The leader StatefulSet of a set (what a set reconcile moves), and whether the set has settled."""

    replicas: int
    partition: int
    revision: str
    #: Every group is updated and ready (the rollout, if any, is over).
    settled: bool = False


@dataclass(frozen=True)
class SetChanges:
    """What a set reconcile did to its groups."""

    created: range = range(0)
    updated: range = range(0)
    removed: range = range(0)
    #: A new revision started rolling out.
    rollout_started: bool = False
    #: The partition moved down (a rollout step began).
    partition_moved: bool = False


def set_changes(before: SetSnapshot | None, after: SetSnapshot) -> SetChanges:
    """Compare the leader StatefulSet before and after a set reconcile.

    Groups ``[before.replicas, after.replicas)`` are created; groups ``[after.partition, before.partition)``
    (those that exist and are not new) move to the new template; groups past the new replicas go away.
    """
    old_replicas = before.replicas if before is not None else 0
    created = range(old_replicas, max(old_replicas, after.replicas))
    removed = range(after.replicas, max(after.replicas, old_replicas))
    updated = range(0)
    moved = before is not None and after.partition < before.partition
    if before is not None and moved:
        updated = range(after.partition, min(before.partition, old_replicas, after.replicas))
    return SetChanges(
        created=created,
        updated=updated,
        removed=removed,
        rollout_started=before is not None and bool(before.revision) and before.revision != after.revision,
        partition_moved=moved,
    )


_PROPAGATOR = TraceContextTextMapPropagator()


def traceparent_of(context: Context) -> str | None:
    """The W3C ``traceparent`` of the span current in ``context``."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier.get("traceparent")


def context_of(traceparent: str) -> Context | None:
    """A context whose (remote) parent is the span ``traceparent`` names; ``None`` if it is malformed."""
    from opentelemetry import trace

    context = _PROPAGATOR.extract({"traceparent": traceparent})
    return context if trace.get_current_span(context).get_span_context().is_valid else None
