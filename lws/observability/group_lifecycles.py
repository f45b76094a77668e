"""Group lifecycles, tracked: a root span per group story (``create group``, ``recreate group``...), parent
of the group's reconciles and pod admissions, and the time-to-ready, update and recovery histograms.

When each lifecycle begins and ends is decided by the pure functions of :mod:`lws.observability.lifecycle`;
this module keeps the open ones, feeds those functions the decisions the reconciles reported and what the
caches show after them, and turns the answers into spans and observations.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Status, StatusCode

from lws.observability import attributes as a
from lws.observability.lifecycle import (
    SPAN_NAMES,
    End,
    Escalate,
    GroupFindings,
    GroupSnapshot,
    GroupTrack,
    LifecycleKind,
    Milestone,
    OpenLifecycle,
    SetSnapshot,
    Start,
    context_of,
    group_steps,
    set_changes,
    traceparent_of,
)
from lws.observability.metrics import LwsMetrics
from lws.observability.reconciles import GroupId, Reconcile, group_decision
from lws.observability.records import emit

log = logging.getLogger("lws.observability")

#: Links from a set reconcile to the lifecycles it started: enough to follow, bounded for 1,000-group sets.
MAX_LINKS = 16


class ClusterView(Protocol):
    """The operator's caches, as the telemetry reads them (implemented in the controller layer)."""

    def group(self, namespace: str, leader_name: str) -> GroupSnapshot | None:
        """The group led by ``leader_name``; ``None`` when its LeaderWorkerSet is gone."""
        ...

    def leader_statefulset(self, namespace: str, name: str) -> SetSnapshot | None:
        """The set's leader StatefulSet; ``None`` when it does not exist."""
        ...


@dataclass
class Lifecycle:
    """An open group lifecycle: its decision state, its clock and (when tracing) its root span."""

    group: GroupId
    state: OpenLifecycle
    reason: str
    started: float
    measured: bool
    span: trace.Span | None = None

    @property
    def kind(self) -> LifecycleKind:
        return self.state.kind

    def context(self) -> Context | None:
        return trace.set_span_in_context(self.span) if self.span is not None else None


class GroupLifecycles:
    """The open lifecycles of every group, and the rollouts in progress."""

    def __init__(self, *, tracer: trace.Tracer | None, metrics: LwsMetrics | None) -> None:
        self.tracer = tracer
        self.metrics = metrics
        self.view: ClusterView | None = None
        #: Called when a group is gone, so that other per-group memories forget it.
        self.on_group_gone: Callable[[GroupId], None] = lambda _group: None
        self._tracks: dict[GroupId, GroupTrack] = {}
        self._live: dict[GroupId, Lifecycle] = {}
        #: Sets in a rollout -> monotonic time of its last partition move (``None`` before the first).
        self._rollouts: dict[tuple[str, str], float | None] = {}

    def open_lifecycles(self) -> dict[GroupId, str]:
        """Groups with an open lifecycle, and its kind."""
        return {group: lifecycle.kind for group, lifecycle in self._live.items()}

    def live(self, group: GroupId) -> Lifecycle | None:
        return self._live.get(group)

    def context(self, group: GroupId) -> Context | None:
        """The trace context of the group's open lifecycle, if any."""
        lifecycle = self._live.get(group)
        return lifecycle.context() if lifecycle is not None else None

    def traceparent(self, group: GroupId) -> str | None:
        """The W3C trace context of the group's open lifecycle, to carry on the worker StatefulSet."""
        context = self.context(group)
        return traceparent_of(context) if context is not None else None

    # --- set reconciles --------------------------------------------------------------------------------

    def set_applied(self, record: Reconcile) -> None:
        """The reconcile wrote the leader StatefulSet: open the lifecycles of the groups it creates or
        moves to the new revision, before their pods reach our webhook."""
        before, after = record.before, record.after
        if after is None:
            return
        changes = set_changes(before, after)
        record.set_attribute(a.REPLICAS, after.replicas)
        record.set_attribute(a.PARTITION, after.partition)
        record.set_attribute(a.REVISION, after.revision)
        if before is not None:
            record.set_attribute(a.PREVIOUS_REPLICAS, before.replicas)
            record.set_attribute(a.PREVIOUS_PARTITION, before.partition)
        now = time.monotonic()
        set_id = (record.namespace, record.key_name)
        for index in changes.removed:
            self.close((record.namespace, record.key_name, index), "removed")
            self._tracks.pop((record.namespace, record.key_name, index), None)
        if changes.rollout_started:
            record.actions.append("start rollout")
            self._rollouts[set_id] = None
        if changes.partition_moved:
            record.actions.append(
                f"rollout step: partition {before.partition if before else 0}->{after.partition}"
            )
            last = self._rollouts.get(set_id)
            if last is not None and self.metrics is not None:
                self.metrics.rollout_step.observe(now - last)
            if set_id in self._rollouts:
                self._rollouts[set_id] = now
        reason = "set created" if before is None else "scaled up"
        if changes.created:
            record.actions.append(f"{reason}: groups {changes.created.start}-{changes.created.stop - 1}")
        for index in changes.created:
            group = (record.namespace, record.key_name, index)
            if group not in self._live:
                self._start_from_set(record, group, OpenLifecycle("create"), reason)
        for index in changes.updated:
            group = (record.namespace, record.key_name, index)
            self.close(group, "superseded")
            self._start_from_set(record, group, OpenLifecycle("update", after.revision), "partition moved")

    def _start_from_set(self, record: Reconcile, group: GroupId, state: OpenLifecycle, reason: str) -> None:
        lifecycle = self._open(group, state, reason, start_ns=time.time_ns(), measured=True, parent=None)
        self._tracks.setdefault(group, GroupTrack()).lifecycle = state
        if lifecycle.span is not None:
            record.started_lifecycles.append(lifecycle)

    def finish_set(self, record: Reconcile) -> None:
        set_id = (record.namespace, record.key_name)
        if set_id in self._rollouts and self.view is not None:
            now = self.view.leader_statefulset(record.namespace, record.key_name)
            if now is None:
                self._rollouts.pop(set_id)  # the set is gone
            elif now.partition == 0 and now.settled:
                last = self._rollouts.pop(set_id)
                record.actions.append("rollout done")
                if last is not None and self.metrics is not None:
                    self.metrics.rollout_step.observe(time.monotonic() - last)
        record.set_attribute(a.DECISION, ", ".join(record.actions) or "none")
        if self.tracer is None:
            return
        span = self._emit_reconcile(record, parent=None, end=False)
        for lifecycle in record.started_lifecycles[:MAX_LINKS]:
            if lifecycle.span is not None and lifecycle.span.is_recording():
                lifecycle.span.add_link(span.get_span_context(), {a.LINK_ROLE: "started by"})
                span.add_link(lifecycle.span.get_span_context(), {a.LINK_ROLE: "started"})
        for lifecycle in record.started_lifecycles[MAX_LINKS:]:
            if lifecycle.span is not None and lifecycle.span.is_recording():
                lifecycle.span.add_link(span.get_span_context(), {a.LINK_ROLE: "started by"})
        span.end(end_time=record.end_ns)

    # --- group reconciles ------------------------------------------------------------------------------

    def group_recreated(self, record: Reconcile) -> None:
        """The restart policy's recreation went through: count it, and open the recovery lifecycle now,
        before the new leader pod reaches our webhook."""
        note = record.restart
        if note is None or note.action != "recreate" or record.group is None:
            return
        if self.metrics is not None:
            self.metrics.group_recreations.labels(note.trigger, note.by).inc()
        group = record.group
        current = self._live.get(group)
        if current is not None and current.kind == "recreate":
            return
        snap = self.view.group(record.namespace, record.key_name) if self.view is not None else None
        track = self._tracks.setdefault(group, GroupTrack(leader_uid=snap.leader_uid if snap else ""))
        # The caches may not show our own deletion yet: the leader they show is the one being replaced.
        leader = (snap.leader_uid if snap is not None else "") or track.leader_uid
        reason = note.reason or "restart policy"
        if current is not None and current.kind == "recover":
            self._escalate(current, Escalate(reason, leader))
            track.lifecycle = current.state
            return
        self.close(group, "superseded")
        track.lifecycle = OpenLifecycle("recreate", replaces_leader=leader)
        record.started = self._open(
            group, track.lifecycle, reason, start_ns=record.start_ns, measured=True, parent=None
        )

    def finish_group(self, record: Reconcile) -> None:
        group = record.group
        snap = self.view.group(record.namespace, record.key_name) if self.view and group else None
        if group is None or snap is None:
            ending: list[tuple[Lifecycle, str]] = []
            if group is not None and self.view is not None:  # the set is gone, and so is the group
                gone = self._live.pop(group, None)
                ending = [(gone, "removed")] if gone is not None else []
                self._tracks.pop(group, None)
                self.on_group_gone(group)
            self._emit_group(record, ending)
            return
        record.set_attribute(a.REVISION, snap.revision)
        track = self._tracks.get(group)
        found = GroupFindings(
            restart=record.restart.action if record.restart is not None else None,
            restart_reason=record.restart.reason if record.restart is not None else "",
            workers_created=record.workers_created,
            gate=record.gate,
        )
        ending = []
        for step in group_steps(track, snap, found):
            if isinstance(step, Start):
                parent = context_of(step.resume_from) if step.resume_from else None
                start_ns = record.start_ns if step.at_reconcile_start else time.time_ns()
                opened = self._open(
                    group,
                    step.opened(),
                    step.reason,
                    start_ns=start_ns,
                    measured=step.measured,
                    parent=parent,
                )
                record.started = record.started or opened
            elif isinstance(step, Escalate):
                live = self._live.get(group)
                if live is not None:
                    self._escalate(live, step)
            elif isinstance(step, End):
                closing = self._live.pop(group, None)
                if closing is not None:
                    ending.append((closing, step.outcome))
            else:
                lifecycle = self._live.get(group) or (ending[-1][0] if ending else None)
                self._milestone(lifecycle, step, record, successor=bool(snap.leader_uid))
        track = self._tracks.setdefault(group, track or GroupTrack())
        track.ready, track.leader_uid, track.leader_ready = snap.ready, snap.leader_uid, snap.leader_ready
        if record.gate_checked:
            track.gate = record.gate
        live = self._live.get(group)
        track.lifecycle = live.state if live is not None else None
        self._emit_group(record, ending)

    @staticmethod
    def _milestone(
        lifecycle: Lifecycle | None, step: Milestone, record: Reconcile, *, successor: bool
    ) -> None:
        if lifecycle is None or lifecycle.span is None:
            return
        # What the reconcile found happened before it ran (the event that queued it); what it did, when
        # it did it.
        details: dict[str, Any] = {}
        at = record.start_ns
        if step.name == "leader pod created":
            details[a.K8S_POD_UID] = step.detail
        elif step.name == "leader pod deleted":
            details[a.K8S_POD_UID] = step.detail
            # Often by this very reconcile: seen by its end. When the reconcile already found a successor
            # (``successor``), the deletion was before it.
            if not successor:
                at = record.end_ns or at
        elif step.name == "workers held back":
            details[a.STARTUP_GATE] = step.detail
            at = record.end_ns or at
        elif step.name == "worker StatefulSet created":
            at = record.workers_created_ns or at
        lifecycle.span.add_event(step.name, details, timestamp=at)

    def _emit_group(self, record: Reconcile, ending: list[tuple[Lifecycle, str]]) -> None:
        record.set_attribute(a.DECISION, group_decision(record))
        parent = record.started or record.lifecycle_at_start
        if parent is None and record.group is not None:
            parent = self._live.get(record.group)
        if self.tracer is not None:
            self._emit_reconcile(record, parent=parent.context() if parent is not None else None)
        for lifecycle, outcome in ending:
            self._end(lifecycle, outcome, end_ns=record.end_ns or time.time_ns())

    def _emit_reconcile(self, record: Reconcile, *, parent: Context | None, end: bool = True) -> trace.Span:
        assert self.tracer is not None
        record.set_attribute(a.RECONCILE_RESULT, record.outcome or "error")
        error_type = None
        if record.outcome == "error":
            error_type = type(record.error).__name__ if record.error is not None else "_OTHER"
        return emit(self.tracer, record, parent=parent, error_type=error_type, end=end)

    # --- lifecycles ------------------------------------------------------------------------------------

    def _open(
        self,
        group: GroupId,
        state: OpenLifecycle,
        reason: str,
        *,
        start_ns: int,
        measured: bool,
        parent: Context | None,
    ) -> Lifecycle:
        elapsed = max(0.0, (time.time_ns() - start_ns) / 1e9)
        lifecycle = Lifecycle(group, state, reason, time.monotonic() - elapsed, measured)
        if self.tracer is not None:
            attrs: dict[str, Any] = {
                a.K8S_NAMESPACE_NAME: group[0],
                a.LWS_NAME: group[1],
                a.GROUP_INDEX: group[2],
                a.LIFECYCLE_KIND: state.kind,
                a.LIFECYCLE_REASON: reason,
            }
            if state.target_revision:
                attrs[a.REVISION] = state.target_revision
            lifecycle.span = self.tracer.start_span(
                SPAN_NAMES[state.kind],
                context=parent if parent is not None else Context(),
                attributes=attrs,
                start_time=start_ns,
                record_exception=False,
                set_status_on_exception=False,
            )
        self._live[group] = lifecycle
        return lifecycle

    @staticmethod
    def _escalate(lifecycle: Lifecycle, step: Escalate) -> None:
        lifecycle.state = step.opened()
        lifecycle.reason = step.reason
        if lifecycle.span is not None:
            lifecycle.span.update_name(SPAN_NAMES["recreate"])
            lifecycle.span.set_attribute(a.LIFECYCLE_KIND, "recreate")
            lifecycle.span.set_attribute(a.LIFECYCLE_REASON, step.reason)

    def close(self, group: GroupId, outcome: str) -> None:
        lifecycle = self._live.pop(group, None)
        if lifecycle is not None:
            self._end(lifecycle, outcome, end_ns=time.time_ns())

    def _end(self, lifecycle: Lifecycle, outcome: str, *, end_ns: int) -> None:
        seconds = time.monotonic() - lifecycle.started
        if outcome == "ready" and lifecycle.measured and self.metrics is not None:
            if lifecycle.kind == "create":
                self.metrics.group_time_to_ready.observe(seconds)
            elif lifecycle.kind == "update":
                self.metrics.group_update.observe(seconds)
            elif lifecycle.kind in ("recreate", "recover"):
                self.metrics.group_recovery.labels(lifecycle.kind).observe(seconds)
        if lifecycle.span is not None:
            lifecycle.span.set_attribute(a.LIFECYCLE_OUTCOME, outcome)
            if outcome == "failed":
                lifecycle.span.set_status(Status(StatusCode.ERROR, "the restart policy gave the group up"))
                lifecycle.span.set_attribute(a.ERROR_TYPE, "GroupFailed")
            if outcome == "ready":
                lifecycle.span.add_event("group ready")
            lifecycle.span.end(end_time=end_ns)

    def shutdown(self) -> None:
        """End every open lifecycle (outcome ``operator stopped``) so that their spans are exported."""
        for group in list(self._live):
            self.close(group, "operator stopped")
