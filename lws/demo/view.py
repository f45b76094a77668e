"""What the demo shows: one LeaderWorkerSet as its groups and their pods, built from plain objects (pure).

:func:`set_view` reads the set, its pods and its leader StatefulSet (whose partition and template revision
say how far a rollout has got); :func:`changes` says, in words, what differs between two views, which is
what the plain narration prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lws.api import constants as c
from lws.k8s.pods import pod_running_and_ready

Obj = Mapping[str, Any]
#: How the narration calls a group that has no pod at all (not created yet, or between two incarnations).
NO_PODS = "no pods"


@dataclass(frozen=True)
class PodView:
    """One pod of a group, as the table shows it."""

    name: str
    group: int
    worker: int
    uid: str
    revision: str
    node: str | None
    phase: str
    ready: bool
    deleting: bool
    restarts: int
    waiting: str = ""
    """Why it is not running yet: the scheduler's reason (``Unschedulable``) or a container's."""

    @property
    def role(self) -> str:
        return "leader" if self.worker == 0 else "worker"

    @property
    def status(self) -> str:
        """``Ready``, ``Running``, ``Pending (Unschedulable)``, ``Terminating``..."""
        if self.deleting:
            return "Terminating"
        if self.ready:
            return "Ready"
        return f"{self.phase} ({self.waiting})" if self.waiting else self.phase


@dataclass(frozen=True)
class GroupView:
    """One group: its pods (leader first) and where it stands."""

    index: int
    size: int
    target: str
    """The revision every group should reach (the leader StatefulSet's template); "" if not known yet."""
    pods: tuple[PodView, ...]

    @property
    def leader(self) -> PodView | None:
        return next((p for p in self.pods if p.worker == 0 and not p.deleting), None)

    @property
    def revision(self) -> str:
        """The group's revision: its live leader's (a group is rebuilt from its leader)."""
        leader = self.leader
        return leader.revision if leader is not None else ""

    @property
    def ready_pods(self) -> int:
        return sum(1 for p in self.pods if p.ready and not p.deleting and p.revision == self.revision)

    @property
    def ready(self) -> bool:
        """Every one of its ``size`` pods Running and Ready, on one revision, none going away."""
        return self.leader is not None and self.ready_pods == self.size and len(self.pods) == self.size

    @property
    def updated(self) -> bool:
        return not self.target or self.revision == self.target

    @property
    def state(self) -> str:
        """``Ready``, ``Ready (old revision)``, ``Terminating``, ``Creating``, ``Unschedulable`` or
        ``Starting``."""
        if any(p.deleting for p in self.pods):
            return "Terminating"
        if self.ready:
            return "Ready" if self.updated else "Ready (old revision)"
        if self.leader is None or len(self.pods) < self.size:
            return "Creating"
        if any(p.waiting == "Unschedulable" for p in self.pods):
            return "Unschedulable"
        return "Starting"


@dataclass(frozen=True)
class SetView:
    """A LeaderWorkerSet at one moment: spec, status, rollout position and groups."""

    namespace: str
    name: str
    exists: bool
    generation: int = 0
    observed_generation: int = 0
    replicas: int = 0
    size: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0
    conditions: Mapping[str, str] | None = None
    partition: int | None = None
    """The leader StatefulSet's rolling-update partition: groups at or above it get the new template."""
    target: str = ""
    groups: tuple[GroupView, ...] = ()

    def condition(self, kind: str) -> str:
        return (self.conditions or {}).get(kind, "Unknown")

    @property
    def available(self) -> bool:
        """Available for the current generation, with every group Ready on the current revision."""
        return (
            self.exists
            and self.condition(c.CONDITION_AVAILABLE) == "True"
            and self.observed_generation == self.generation
            and self.ready_replicas == self.replicas
            and self.updated_replicas == self.replicas
            and len(self.groups) == self.replicas
            and all(g.ready and g.updated for g in self.groups)
        )

    def group(self, index: int) -> GroupView | None:
        return next((g for g in self.groups if g.index == index), None)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _labels(obj: Obj) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def pod_view(pod: Obj) -> PodView:
    """The view of one group pod."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    labels = _labels(pod)
    conditions = {cd.get("type"): cd for cd in status.get("conditions") or []}
    ready = pod_running_and_ready(pod)
    statuses = status.get("containerStatuses") or []
    waiting = ""
    scheduled = conditions.get("PodScheduled") or {}
    if scheduled.get("status") == "False":
        waiting = str(scheduled.get("reason") or "")
    elif status.get("phase") == "Pending":
        waiting = next(
            (
                str(s["state"]["waiting"].get("reason", ""))
                for s in statuses
                if "waiting" in (s.get("state") or {})
            ),
            "",
        )
    return PodView(
        name=str(meta.get("name", "")),
        group=_int(labels.get(c.GROUP_INDEX_LABEL), -1),
        worker=_int(labels.get(c.WORKER_INDEX_LABEL), -1),
        uid=str(meta.get("uid", "")),
        revision=str(labels.get(c.REVISION_KEY, "")),
        node=spec.get("nodeName") or None,
        phase=str(status.get("phase") or "Pending"),
        ready=ready,
        deleting=bool(meta.get("deletionTimestamp")),
        restarts=sum(_int(s.get("restartCount")) for s in statuses),
        waiting=waiting,
    )


def set_view(
    namespace: str, name: str, lws: Obj | None, pods: Iterable[Obj], leader_sts: Obj | None
) -> SetView:
    """The view of set ``namespace/name``: its object (``None``: absent), pods and leader StatefulSet."""
    if lws is None:
        return SetView(namespace=namespace, name=name, exists=False)
    meta, spec, status = lws.get("metadata") or {}, lws.get("spec") or {}, lws.get("status") or {}
    size = _int((spec.get("leaderWorkerTemplate") or {}).get("size"), 1)
    partition: int | None = None
    target = ""
    if leader_sts is not None:
        sts_spec = leader_sts.get("spec") or {}
        rolling = (sts_spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
        partition = _int(rolling.get("partition"), 0)
        target = str(_labels(sts_spec.get("template") or {}).get(c.REVISION_KEY, ""))
    by_group: dict[int, list[PodView]] = {}
    for pod in pods:
        view = pod_view(pod)
        if view.group >= 0:
            by_group.setdefault(view.group, []).append(view)
    groups = tuple(
        GroupView(
            index=index,
            size=size,
            target=target,
            pods=tuple(sorted(members, key=lambda p: (p.worker, p.deleting, p.name))),
        )
        for index, members in sorted(by_group.items())
    )
    return SetView(
        namespace=namespace,
        name=name,
        exists=True,
        generation=_int(meta.get("generation")),
        observed_generation=_int(status.get("observedGeneration")),
        replicas=_int(spec.get("replicas"), 1),
        size=size,
        ready_replicas=_int(status.get("readyReplicas")),
        updated_replicas=_int(status.get("updatedReplicas")),
        conditions={str(cd.get("type")): str(cd.get("status")) for cd in status.get("conditions") or []},
        partition=partition,
        target=target,
        groups=groups,
    )


# --- what changed, in words -----------------------------------------------------------------------------


def _pod_line(pod: PodView) -> str:
    where = f" on {pod.node}" if pod.node else ""
    restarts = f" (restarts: {pod.restarts})" if pod.restarts else ""
    return f"pod {pod.name} ({pod.role} of group {pod.group}): {pod.status}{where}{restarts}"


def _group_changes(index: int, old: GroupView | None, new: GroupView | None) -> list[str]:
    lines: list[str] = []
    old_pods = {p.uid: p for p in old.pods} if old is not None else {}
    new_pods = new.pods if new is not None else ()
    for pod in new_pods:
        previous = old_pods.get(pod.uid)
        if previous is None or (previous.status, previous.node) != (pod.status, pod.node):
            lines.append(_pod_line(pod))
        elif pod.restarts > previous.restarts:
            lines.append(f"pod {pod.name}: a container restarted (restarts: {pod.restarts})")
    live = {p.uid for p in new_pods}
    lines += [
        f"pod {p.name} ({p.role} of group {p.group}): deleted" for p in old_pods.values() if p.uid not in live
    ]
    was = old.state if old is not None else NO_PODS
    now = new.state if new is not None else NO_PODS
    if was != now:
        lines.append(f"group {index}: {was} -> {now}")
    return lines


def changes(before: SetView | None, after: SetView) -> list[str]:
    """What happened between two views, one sentence per change, in a stable order."""
    if before is None:
        before = SetView(namespace=after.namespace, name=after.name, exists=False)
    lines: list[str] = []
    if after.exists and not before.exists:
        lines.append(f"LeaderWorkerSet {after.name} created: {after.replicas} groups of {after.size} pods")
    if before.exists and after.exists and before.replicas != after.replicas:
        lines.append(f"replicas {before.replicas} -> {after.replicas}")
    if before.target and after.target and before.target != after.target:
        lines.append(f"new revision {after.target}: groups will be rolled to it one by one")
    if before.partition is not None and after.partition is not None and before.partition != after.partition:
        lines.append(
            f"partition {before.partition} -> {after.partition}: groups {after.partition} and up get the new "
            "template"
        )
    old_groups = {g.index: g for g in before.groups}
    new_groups = {g.index: g for g in after.groups}
    for index in sorted(set(old_groups) | set(new_groups)):
        lines += _group_changes(index, old_groups.get(index), new_groups.get(index))
    was_available = before.condition(c.CONDITION_AVAILABLE) == "True" and before.exists
    if after.available and not before.available:
        lines.append(
            f"LeaderWorkerSet {after.name} is Available: {after.ready_replicas}/{after.replicas} groups ready"
        )
    elif was_available and after.condition(c.CONDITION_AVAILABLE) != "True":
        lines.append(f"LeaderWorkerSet {after.name} is no longer Available")
    return lines
