"""One reconcile as the telemetry records it: its span in the making, and the decisions it reported.

The reconcilers report typed decisions (:mod:`lws.core.decisions`) through their context; a
:class:`Reconcile` keeps what the group lifecycles and the span's ``leaderworkerset.decision`` attribute
need of them. Nothing here is inferred from API calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from lws.core.decisions import RestartDecided
from lws.observability.lifecycle import SetSnapshot
from lws.observability.records import SpanRecord

if TYPE_CHECKING:
    from lws.observability.group_lifecycles import Lifecycle

GroupId = tuple[str, str, int]
"""(namespace, LeaderWorkerSet, group index)."""

RECONCILE_SPANS: Mapping[str, str] = {
    "set": "reconcile LeaderWorkerSet",
    "group": "reconcile group",
    "disaggregatedset": "reconcile DisaggregatedSet",
}


class ReconcileKey(Protocol):
    """A work-queue key (``lws.core.routing.Key``)."""

    @property
    def kind(self) -> str: ...

    @property
    def namespace(self) -> str: ...

    @property
    def name(self) -> str: ...


@dataclass
class Reconcile(SpanRecord):
    """One reconcile being recorded, and what it decided."""

    key_kind: str = ""
    namespace: str = ""
    key_name: str = ""
    group: GroupId | None = None
    outcome: str | None = None
    #: (group) the restart policy's last decision this reconcile.
    restart: RestartDecided | None = None
    gate: str | None = None
    gate_checked: bool = False
    workers_created: bool = False
    workers_created_ns: int = 0
    leader_deleted: bool = False
    #: (set) the leader StatefulSet before and after its write, once written.
    before: SetSnapshot | None = None
    after: SetSnapshot | None = None
    actions: list[str] = field(default_factory=list)
    #: (group) the lifecycle open when it began, and the one it opened, if any.
    lifecycle_at_start: Lifecycle | None = None
    started: Lifecycle | None = None
    #: (set) lifecycles it started, to link both ways once its own span exists.
    started_lifecycles: list[Lifecycle] = field(default_factory=list)
    #: The reconcile's scope has ended (its span can be emitted once the outcome is known).
    ended: bool = False


def group_decision(record: Reconcile) -> str:
    """The ``leaderworkerset.decision`` of a group reconcile, from the decisions it reported."""
    restart = record.restart
    if restart is not None and restart.action == "recreate" and record.leader_deleted:
        return "recreate group"
    if restart is not None and restart.action == "wait":
        return "delay group recreation"
    if restart is not None and restart.action == "fail":
        return "mark group failed"
    if record.workers_created:
        return "create worker StatefulSet"
    if record.gate is not None:
        return "hold workers"
    return "none"
