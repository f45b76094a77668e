"""What a reconcile decided, as typed records: the reconcilers report them, tracing and metrics read them.

Each record says what was decided (``action``), why (``reason``) and by whom (``by``: a plugin's name, or
``lws`` for the operator's own rules). A reconcile reports a record once the decision has taken effect
(the object written, the leader deleted), through ``ReconcileContext.decide``; observers never have to
guess a decision from the API calls that carried it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from lws.core.pod_failure import pod_failures

#: Who decided when no plugin did.
OPERATOR: Final = "lws"

RestartTrigger = Literal["pod-deletion", "container-restart", "pod-failed", "not-ready"]


@dataclass(frozen=True)
class Decision:
    """A decision of a reconcile: ``action`` (e.g. ``create revision``), ``reason``, and who made it."""

    action: str
    reason: str = ""
    by: str = OPERATOR


# --- a LeaderWorkerSet's reconcile ----------------------------------------------------------------------


@dataclass(frozen=True)
class RevisionCreated(Decision):
    """A ControllerRevision was created: for a new set, a set whose revision was missing, or a new spec."""

    action: str = "create revision"
    key: str = ""


@dataclass(frozen=True)
class LeaderStatefulSetApplied(Decision):
    """The leader StatefulSet was written: its replicas, partition and revision now, and before (``None``
    when it was created)."""

    action: str = "apply leader StatefulSet"
    replicas: int = 0
    partition: int = 0
    revision: str = ""
    previous: tuple[int, int, str] | None = None
    """(replicas, partition, revision) before the write."""


@dataclass(frozen=True)
class ServiceCreated(Decision):
    """A headless Service the set (or one of its groups) needs was created."""

    action: str = "create Service"
    name: str = ""


@dataclass(frozen=True)
class StatusUpdated(Decision):
    """The set's status was written (only when it changed)."""

    action: str = "update status"


@dataclass(frozen=True)
class RevisionDeleted(Decision):
    """A ControllerRevision no group runs any more was deleted (the rollout is done)."""

    action: str = "delete old revision"
    name: str = ""


# --- a group's reconcile --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestartDecided(Decision):
    """The set's restart policy (and reviewers) decided about a group pod that shows a failure signal.

    ``action`` is the :class:`lws.hooks.types.RestartDecision`'s (``recreate``, ``wait``, ``fail``,
    ``ignore``), ``by`` the plugin whose answer stood. ``now`` is when it was decided; ``group_pods`` are
    the uids of the group's pods then.
    """

    pod: Mapping[str, Any] = field(default_factory=dict)
    trigger: RestartTrigger = "not-ready"
    now: datetime | None = None
    group_pods: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupRecreated(Decision):
    """The group's leader was deleted in the foreground, so the whole group is rebuilt (``recreate``)."""

    action: str = "recreate group"
    leader: str = ""


@dataclass(frozen=True)
class WorkersGated(Decision):
    """The startup policy and ``lws_workers_gate`` were asked about the group's workers: ``gate`` is why
    they wait (``by`` the plugin or policy that said so), or ``None`` when they may be created."""

    action: str = "check worker gates"
    gate: str | None = None


@dataclass(frozen=True)
class WorkersCreated(Decision):
    """The group's worker StatefulSet was created."""

    action: str = "create worker StatefulSet"
    name: str = ""


# --- a DisaggregatedSet's reconcile ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChildChanged(Decision):
    """A DisaggregatedSet's child LeaderWorkerSet was written. ``action`` says how (``create child``,
    ``scale child``, ``record initial replicas``, ``sync groupReplacementPolicy``, ``delete child``),
    ``reason`` why (``rollout step``, ``drained``, ``removed slice``...); ``replicas`` is its new size."""

    action: str = "change child"
    name: str = ""
    role: str = ""
    replicas: int | None = None


@dataclass(frozen=True)
class RoleScalerChanged(Decision):
    """A RoleScaler was created, deleted, or found owned by someone else (``leave foreign scaler``)."""

    action: str = "change RoleScaler"
    name: str = ""
    role: str = ""


@dataclass(frozen=True)
class ServiceDeleted(Decision):
    """A ``-prv`` Service of a revision no longer ready on every role (or of a removed slice) was deleted."""

    action: str = "delete Service"
    name: str = ""


@dataclass(frozen=True)
class ScalerStatusUpdated(Decision):
    """A RoleScaler's status was written (only when it changed)."""

    action: str = "update RoleScaler status"
    name: str = ""


def restart_trigger_of(pod: Mapping[str, Any]) -> RestartTrigger:
    """The strongest failure signal ``pod`` shows, as traces and metrics name it."""
    kinds = {failure.kind for failure in pod_failures(pod)}
    if "deleted" in kinds:
        return "pod-deletion"
    if "container-restarted" in kinds:
        return "container-restart"
    if "failed" in kinds:
        return "pod-failed"
    return "not-ready"
