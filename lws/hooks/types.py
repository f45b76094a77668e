"""The data that flows between the operator and its plugins.

Every context is a frozen dataclass built by the host; every answer is plain data the host applies.
Plugins never talk to the API server: the host reads what they need and writes what they return, so a
plugin is a set of pure functions that can be tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from lws.api.model import LeaderWorkerSet
from lws.k8s.pods import pod_ready

Role = Literal["leader", "worker"]


@dataclass(frozen=True)
class PodContext:
    """What the pod admission step knows about a group pod, read from the pod itself.

    The pod webhook sees only the pod (as upstream's does), so everything here comes from the labels and
    annotations the operator stamped on the pod templates. Plugin settings reach pods the same way: see
    :func:`lws.hooks.specs.lws_pod_annotations`.
    """

    namespace: str
    pod_name: str
    set_name: str
    role: Role
    #: The group's ordinal; with ``groupIdentity: Hash``, its 40-character group key.
    group_index: int | str
    worker_index: int
    group_size: int
    leader_name: str
    #: The pod's DNS subdomain (its headless Service), ``<lws>`` or ``<lws>-<i>``.
    subdomain: str
    #: ``<leader>.<subdomain>.<namespace>``, the value of ``LWS_LEADER_ADDRESS``.
    leader_address: str
    group_key: str
    #: Annotations of the pod (the template's, which carry propagated LWS annotations).
    annotations: Mapping[str, str]
    labels: Mapping[str, str]
    subgroup_size: int | None = None
    subgroup_type: str | None = None
    subgroup_index: int | None = None
    subgroup_key: str | None = None

    @property
    def is_leader(self) -> bool:
        return self.role == "leader"


@dataclass(frozen=True)
class GroupContext:
    """One group (leader pod plus its workers) when the operator builds or inspects it.

    :ivar lws: the LeaderWorkerSet *as of the group's revision* (old groups in a partitioned rollout see
        their old template, size and settings), with live metadata.
    :ivar leader_pod: the live leader pod, or ``None`` at render time.
    :ivar leader_node_labels: labels of the node the leader runs on, once it is scheduled; ``None`` before
        (and at render time).
    """

    lws: LeaderWorkerSet
    #: The group's ordinal; with ``groupIdentity: Hash``, its 40-character group key.
    group_index: int | str
    revision: str
    leader_pod: Mapping[str, Any] | None = None
    leader_node_labels: Mapping[str, str] | None = None

    @property
    def leader_name(self) -> str:
        """The leader pod's name: ``<lws>-<i>``, or (``groupIdentity: Hash``) the live pod's name."""
        if isinstance(self.group_index, str):
            return str(((self.leader_pod or {}).get("metadata") or {}).get("name") or "")
        return self.lws.leader_pod_name(self.group_index)

    @property
    def leader_scheduled(self) -> bool:
        return bool(self.leader_pod and (self.leader_pod.get("spec") or {}).get("nodeName"))

    @property
    def leader_ready(self) -> bool:
        """The leader pod's ``Ready`` condition is True (Kubernetes' rule, :func:`lws.k8s.pods.pod_ready`).

        With ``groupIdentity: Hash``, its ``ContainersReady`` condition instead, as upstream: the leader's
        ``Ready`` waits for its ``group-ready`` readiness gate, which waits for the workers.
        """
        if isinstance(self.group_index, str):
            conditions = ((self.leader_pod or {}).get("status") or {}).get("conditions") or []
            return any(x.get("type") == "ContainersReady" and x.get("status") == "True" for x in conditions)
        return pod_ready(self.leader_pod)


@dataclass(frozen=True)
class WorkerGate:
    """Why a group's workers must not be created yet. The host retries when the group changes."""

    reason: str


@dataclass(frozen=True)
class GroupRestartState:
    """What the operator remembers about a group's recreations (kept in the LWS status)."""

    restarts: int = 0
    last_recreate: datetime | None = None
    failed: bool = False
    message: str = ""


@dataclass(frozen=True)
class RestartEvent:
    """A group pod that shows a failure signal: it restarted a container, failed, is not ready, or is being
    deleted (``lws.plugin.pod_failures(event.pod)`` lists them). The policy decides what that means.

    The host has already applied upstream's guards (stale workers of an old group never reach here).
    """

    lws: LeaderWorkerSet
    pod: Mapping[str, Any]
    role: Role
    group_index: int | str
    leader_pod: Mapping[str, Any] | None
    #: Every pod of the group the host knows of, leader included.
    group_pods: Sequence[Mapping[str, Any]]
    state: GroupRestartState
    now: datetime


RestartAction = Literal["recreate", "ignore", "wait", "fail"]


@dataclass(frozen=True)
class RestartDecision:
    """What to do about a :class:`RestartEvent`.

    * ``recreate``: delete the leader (foreground), so the whole group is rebuilt;
    * ``ignore``: do nothing, per-pod StatefulSet semantics apply; with ``not_before``, the host offers the
      group's pods again then (a grace period: "not ready for five minutes"), recording nothing;
    * ``wait``: recreate later, not before ``not_before`` (backoff);
    * ``fail``: stop recreating; the group is reported failed in status and events.

    ``reset_count`` asks the host to forget the group's earlier recreations (set its count to zero, clear
    ``failed``) before applying the decision, so a ``recreate`` then counts as the first of a new series.
    A reviewer that forgives a group after a long healthy spell needs this: only the host stores the count.
    """

    action: RestartAction
    reason: str = ""
    not_before: datetime | None = None
    reset_count: bool = False

    @classmethod
    def recreate(cls, reason: str) -> RestartDecision:
        return cls("recreate", reason)

    @classmethod
    def ignore(cls, reason: str = "") -> RestartDecision:
        return cls("ignore", reason)


class StartupPolicy(Protocol):
    """Implements one value of ``spec.startupPolicy``."""

    def workers_gate(self, ctx: GroupContext) -> WorkerGate | None:
        """Return a gate while the group's workers must wait, ``None`` once they may be created."""
        ...


class RestartPolicy(Protocol):
    """Implements one value of ``spec.leaderWorkerTemplate.restartPolicy``."""

    def decide(self, event: RestartEvent) -> RestartDecision:
        """Decide what a group pod's failure signals (restarted, failed, not ready, being deleted) mean for
        its group; the host offers every pod that shows any, on every reconcile of the group."""
        ...


#: The plugin whose hook implementation is running (set by the plugin manager around each call), so that
#: what a plugin registers is credited to it.
RUNNING_PLUGIN: ContextVar[str] = ContextVar("lws_running_plugin", default="?")


@dataclass
class PolicyRegistry:
    """Passed to :func:`lws.hooks.specs.lws_register_policies`; maps policy values to implementations."""

    startup: dict[str, tuple[str, StartupPolicy]] = field(default_factory=dict)
    restart: dict[str, tuple[str, RestartPolicy]] = field(default_factory=dict)

    def startup_policy(self, value: str, policy: StartupPolicy) -> None:
        """Declare that the registering plugin implements ``spec.startupPolicy: <value>``."""
        _claim(self.startup, "spec.startupPolicy", value, RUNNING_PLUGIN.get(), policy)

    def restart_policy(self, value: str, policy: RestartPolicy) -> None:
        """Declare that the registering plugin implements ``restartPolicy: <value>``."""
        _claim(self.restart, "spec.leaderWorkerTemplate.restartPolicy", value, RUNNING_PLUGIN.get(), policy)


class PolicyConflict(ValueError):
    """Two plugins claim the same policy value."""


def _claim(table: dict[str, tuple[str, Any]], field_path: str, value: str, plugin: str, impl: object) -> None:
    if value in table and table[value][0] != plugin:
        raise PolicyConflict(
            f"plugins {table[value][0]!r} and {plugin!r} both implement {field_path}={value!r}; "
            f"disable one of them (--disable-plugin NAME)"
        )
    table[value] = (plugin, impl)


@dataclass(frozen=True)
class ExtraObject:
    """An object a plugin wants to exist alongside a group or a set.

    The host fills in namespace, owner reference and the ``leaderworkerset.sigs.k8s.io/name`` label, then
    creates it if missing (``mode="create"``, like upstream's PodGroup) or keeps it as returned
    (``mode="apply"``).
    """

    manifest: Mapping[str, Any]
    mode: Literal["create", "apply"] = "create"


HookObserver = Callable[[str, str, float, BaseException | None], None]
"""Called by the hook façade after each plugin implementation runs: (hook, plugin, seconds, error)."""
