"""``lws simulate``'s report: where every pod of every group landed, per topology level (pure).

Built from the LeaderWorkerSets, their pods and the Nodes once the cluster has settled. A pod with a node
is *placed* (its domain at every topology level comes from the node's labels); a pod without one is
*unschedulable*, with the scheduler's reason and message; a group with fewer pods than its size has
*missing* pods (not created: e.g. upstream's exclusive placement creates workers only once the leader is
scheduled). Each group's *spans* count the distinct domains its placed pods occupy at each level.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.demo.columns import align
from lws.sim.topology import HOSTNAME_LABEL

Obj = Mapping[str, Any]
DEFAULT_SCHEDULER = "default-scheduler"


@dataclass(frozen=True)
class PodPlacement:
    """One pod: its node and domains, or why it has none."""

    name: str
    worker: int
    node: str | None
    domains: Mapping[str, str]
    """Topology level key -> the node's domain at that level (empty when not placed)."""
    phase: str
    reason: str = ""
    message: str = ""

    @property
    def role(self) -> str:
        return "leader" if self.worker == 0 else "worker"


@dataclass(frozen=True)
class GroupPlacement:
    """One group: its pods, leader first."""

    #: The group's ordinal, or (``groupIdentity: Hash``) its group key.
    index: int | str
    size: int
    pods: tuple[PodPlacement, ...]
    levels: tuple[str, ...]

    @property
    def placed(self) -> int:
        return sum(1 for p in self.pods if p.node)

    @property
    def unschedulable(self) -> int:
        return sum(1 for p in self.pods if not p.node)

    @property
    def missing(self) -> int:
        return max(0, self.size - len(self.pods))

    @property
    def spans(self) -> dict[str, int]:
        """Level key -> how many distinct domains of that level the placed pods occupy."""
        return {
            level: len({p.domains[level] for p in self.pods if p.node and level in p.domains})
            for level in self.levels
        }


@dataclass(frozen=True)
class DisaggregatedParent:
    """The DisaggregatedSet a child LeaderWorkerSet runs a role of."""

    name: str
    role: str
    slice: int


def parent_of(lws: Obj) -> DisaggregatedParent | None:
    """The DisaggregatedSet, role and slice a LeaderWorkerSet's labels name (``None``: not a child)."""
    labels = _labels(lws)
    if d.SET_NAME_LABEL not in labels:
        return None
    return DisaggregatedParent(
        labels[d.SET_NAME_LABEL], labels.get(d.ROLE_LABEL, ""), _int(labels.get(d.SLICE_LABEL), 0)
    )


@dataclass(frozen=True)
class SetPlacement:
    """One LeaderWorkerSet and its groups."""

    namespace: str
    name: str
    replicas: int
    size: int
    annotations: Mapping[str, str]
    groups: tuple[GroupPlacement, ...]
    #: For a DisaggregatedSet's child: that set's name, the role and the slice.
    parent: DisaggregatedParent | None = None

    @property
    def placed(self) -> int:
        return sum(g.placed for g in self.groups)

    @property
    def unplaced(self) -> int:
        """Pods that exist but have no node."""
        return sum(g.unschedulable for g in self.groups)

    @property
    def missing(self) -> int:
        return sum(g.missing for g in self.groups) + self.size * (self.replicas - len(self.groups))


@dataclass(frozen=True)
class PlacementReport:
    """Everything ``lws simulate`` prints."""

    topology: str
    nodes: int
    levels: tuple[str, ...]
    plugins: tuple[str, ...]
    settled: bool
    seconds: float
    """From applying the manifests to the last change the cluster made."""
    sets: tuple[SetPlacement, ...]


def _labels(obj: Obj) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def pod_placement(
    pod: Obj,
    node_labels: Mapping[str, Mapping[str, str]],
    levels: Sequence[str],
    schedulers: Collection[str] = (DEFAULT_SCHEDULER,),
) -> PodPlacement:
    """Where one pod is, or the scheduler's (or the cluster's) reason it is nowhere."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    node = spec.get("nodeName") or None
    labels = node_labels.get(node, {}) if node else {}
    reason = message = ""
    if node is None:
        scheduled = next(
            (cd for cd in status.get("conditions") or [] if cd.get("type") == "PodScheduled"), None
        )
        scheduler = spec.get("schedulerName") or DEFAULT_SCHEDULER
        if scheduled is not None and scheduled.get("status") == "False":
            reason, message = str(scheduled.get("reason") or ""), str(scheduled.get("message") or "")
        elif scheduler not in schedulers:
            reason = "NoScheduler"
            served = ", ".join(repr(name) for name in schedulers)
            message = f"schedulerName {scheduler!r}: the cluster's scheduler serves only {served}"
        else:
            reason, message = "Pending", "not scheduled yet"
    return PodPlacement(
        name=str(meta.get("name", "")),
        worker=_int(_labels(pod).get(c.WORKER_INDEX_LABEL), -1),
        node=node,
        domains={level: labels[level] for level in levels if level in labels},
        phase=str(status.get("phase") or "Pending"),
        reason=reason,
        message=message,
    )


def build_report(
    sets: Iterable[Obj],
    pods: Iterable[Obj],
    nodes: Iterable[Obj],
    *,
    topology: str,
    levels: Sequence[str],
    plugins: Sequence[str],
    settled: bool,
    seconds: float,
    schedulers: Collection[str] = (DEFAULT_SCHEDULER,),
) -> PlacementReport:
    """The report for ``sets`` from the cluster's pods and nodes (``schedulers``: the names it serves)."""
    node_list = list(nodes)
    node_labels = {str(n["metadata"]["name"]): _labels(n) for n in node_list}
    by_group: dict[tuple[str, str, int | str], list[PodPlacement]] = {}
    for pod in pods:
        labels = _labels(pod)
        if c.SET_NAME_LABEL not in labels or c.GROUP_INDEX_LABEL not in labels:
            continue
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        key = (
            str(pod["metadata"].get("namespace", "")),
            labels[c.SET_NAME_LABEL],
            _group_of(labels[c.GROUP_INDEX_LABEL]),
        )
        by_group.setdefault(key, []).append(pod_placement(pod, node_labels, levels, schedulers))
    placements = []
    for lws in sorted(sets, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])):
        meta, spec = lws["metadata"], lws.get("spec") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta["name"])
        size = _int((spec.get("leaderWorkerTemplate") or {}).get("size"), 1)
        indexes = sorted(
            (i for ns, n, i in by_group if (ns, n) == (namespace, name)), key=lambda i: (str(type(i)), i)
        )
        groups = tuple(
            GroupPlacement(
                index=i,
                size=size,
                pods=tuple(sorted(by_group[(namespace, name, i)], key=lambda p: (p.worker, p.name))),
                levels=tuple(levels),
            )
            for i in indexes
        )
        placements.append(
            SetPlacement(
                namespace=namespace,
                name=name,
                replicas=_int(spec.get("replicas"), 1),
                size=size,
                annotations=dict(meta.get("annotations") or {}),
                groups=groups,
                parent=parent_of(lws),
            )
        )
    return PlacementReport(
        topology=topology,
        nodes=len(node_list),
        levels=tuple(levels),
        plugins=tuple(plugins),
        settled=settled,
        seconds=seconds,
        sets=tuple(placements),
    )


# --- output ---------------------------------------------------------------------------------------------


def report_json(report: PlacementReport) -> dict[str, Any]:
    """The report as data (the schema ``lws simulate --help`` documents)."""
    return {
        "topology": {"name": report.topology, "nodes": report.nodes, "levels": list(report.levels)},
        "plugins": list(report.plugins),
        "settled": report.settled,
        "seconds": round(report.seconds, 3),
        "leaderWorkerSets": [
            {
                "namespace": s.namespace,
                "name": s.name,
                "replicas": s.replicas,
                "size": s.size,
                "annotations": dict(s.annotations),
                "disaggregatedSet": (
                    None
                    if s.parent is None
                    else {"name": s.parent.name, "role": s.parent.role, "slice": s.parent.slice}
                ),
                "placed": s.placed,
                "unschedulable": s.unplaced,
                "missing": s.missing,
                "groups": [
                    {
                        "index": g.index,
                        "placed": g.placed,
                        "unschedulable": g.unschedulable,
                        "missing": g.missing,
                        "spans": g.spans,
                        "pods": [
                            {
                                "name": p.name,
                                "role": p.role,
                                "workerIndex": p.worker,
                                "node": p.node,
                                "topology": dict(p.domains),
                                "phase": p.phase,
                                "unschedulable": (
                                    None if p.node else {"reason": p.reason, "message": p.message}
                                ),
                            }
                            for p in g.pods
                        ],
                    }
                    for g in s.groups
                ],
            }
            for s in report.sets
        ],
    }


def level_names(levels: Sequence[str]) -> dict[str, str]:
    """A short column name per level (``example.com/rack`` -> ``RACK``; the node level -> ``NODE``)."""
    short = {key: ("node" if key == HOSTNAME_LABEL else key.rsplit("/", 1)[-1]) for key in levels}
    if len(set(short.values())) < len(short):
        short = {key: key for key in levels}
    return {key: name.upper() for key, name in short.items()}


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def group_line(group: GroupPlacement, names: Mapping[str, str]) -> str:
    """``group 0: 4/4 placed, in 1 zone, 1 rack, 4 nodes`` (plus what is unschedulable or missing)."""
    parts = [f"group {_shown(group.index)}: {group.placed}/{group.size} placed"]
    if group.placed:
        parts.append("in " + ", ".join(_plural(n, names[k].lower()) for k, n in group.spans.items()))
    if group.unschedulable:
        parts.append(f"{group.unschedulable} unschedulable")
    if group.missing:
        parts.append(f"{group.missing} not created")
    return ", ".join(parts)


def report_text(report: PlacementReport) -> list[str]:
    """The report as lines of text: a table of pods per set, then a line per group."""
    names = level_names(report.levels)
    shown = [k for k in report.levels if k != HOSTNAME_LABEL]
    lines = [
        f"Topology {report.topology}: {report.nodes} nodes; levels " + " > ".join(report.levels),
        "Plugins: " + (", ".join(report.plugins) or "none"),
        (
            f"Settled {report.seconds:.1f}s after the manifests were applied."
            if report.settled
            else f"NOT settled: still changing {report.seconds:.1f}s after the manifests were applied."
        ),
    ]
    for s in report.sets:
        lines.append("")
        parent = (
            f" (DisaggregatedSet {s.parent.name}, role {s.parent.role}, slice {s.parent.slice})"
            if s.parent is not None
            else ""
        )
        lines.append(
            f"LeaderWorkerSet {s.namespace}/{s.name}{parent}: {_plural(s.replicas, 'group')} of {s.size} "
            f"pods; {s.placed} placed, {s.unplaced} unschedulable"
            + (f", {s.missing} not created" if s.missing else "")
        )
        if s.annotations:
            lines.append("  annotations: " + ", ".join(f"{k}={v}" for k, v in sorted(s.annotations.items())))
        rows = [("GROUP", "POD", "NODE", *(names[k] for k in shown), "STATUS")]
        for group in s.groups:
            for number, pod in enumerate(group.pods):
                status = pod.phase if pod.node else f"{pod.phase}: {pod.reason}"
                rows.append(
                    (
                        _shown(group.index) if number == 0 else "",
                        pod.name,
                        pod.node or "-",
                        *(pod.domains.get(k, "-") for k in shown),
                        status,
                    )
                )
        if len(rows) > 1:
            lines += align(rows, "  ")
        for group in s.groups:
            lines.append("  " + group_line(group, names))
            lines += [f"    {p.name}: {p.reason}: {p.message}" for p in group.pods if not p.node]
    return lines


def _group_order(index: int | str) -> tuple[int, str]:
    """Ordinals in order; keys (one set has only one kind) by their text."""
    return (index, "") if isinstance(index, int) else (0, index)


def _group_of(label: str) -> int | str:
    """A group's ordinal, or (``groupIdentity: Hash``) its 40-character key."""
    return int(label) if label.isdigit() else label


def _shown(index: int | str) -> str:
    """How a group is named in the text report: its ordinal, or the first 8 characters of its key (as its
    leader's host name shows them)."""
    return str(index) if isinstance(index, int) else index[:8]
