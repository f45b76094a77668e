"""Which reconciles an observed change calls for (the table in ``docs/design/operator.md``).

The work queue's keys are defined here, with the rule that maps a changed object to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.core.keys import split_ordinal

KeyKind = Literal["set", "group", "disaggregatedset"]


@dataclass(frozen=True, order=True)
class Key:
    """A work-queue key: a set (``set/<ns>/<lws>``), a group (``group/<ns>/<leader pod>``) or a
    DisaggregatedSet (``disaggregatedset/<ns>/<ds>``)."""

    kind: KeyKind
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


def _meta(obj: Mapping[str, Any]) -> tuple[str, str, Mapping[str, str]]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or ""), meta.get("labels") or {}


def set_keys(obj: Mapping[str, Any]) -> list[Key]:
    """A LeaderWorkerSet changed: its set reconcile."""
    namespace, name, _ = _meta(obj)
    return [Key("set", namespace, name)]


def pod_keys(pod: Mapping[str, Any]) -> list[Key]:
    """A leader pod: its set (status, rollout) and its group; a worker: its group (restart policy)."""
    namespace, name, labels = _meta(pod)
    set_name = labels.get(c.SET_NAME_LABEL)
    if not set_name:
        return []
    if labels.get(c.WORKER_INDEX_LABEL) == "0":
        return [Key("set", namespace, set_name), Key("group", namespace, name)]
    parent = split_ordinal(name)
    return [Key("group", namespace, parent[0])] if parent else []


def _set_and_group_keys(obj: Mapping[str, Any]) -> list[Key]:
    # The object named like its set is the set's own; any other is named like the group it serves.
    namespace, name, labels = _meta(obj)
    set_name = labels.get(c.SET_NAME_LABEL)
    if not set_name:
        return []
    keys = [Key("set", namespace, set_name)]
    if name != set_name:
        keys.append(Key("group", namespace, name))
    return keys


def statefulset_keys(sts: Mapping[str, Any]) -> list[Key]:
    """The leader StatefulSet: its set; a worker StatefulSet: its set (status) and its group."""
    return _set_and_group_keys(sts)


def owned_keys(obj: Mapping[str, Any]) -> list[Key]:
    """A Service or ControllerRevision of a set: that set."""
    namespace, _, labels = _meta(obj)
    set_name = labels.get(c.SET_NAME_LABEL)
    return [Key("set", namespace, set_name)] if set_name else []


def service_keys(service: Mapping[str, Any]) -> list[Key]:
    """The shared Service: its set; a per-group Service (``UniquePerReplica``): its set and its group."""
    return _set_and_group_keys(service)


def plugin_object_keys(obj: Mapping[str, Any]) -> list[Key]:
    """A plugin's object (a PodGroup...): the group whose leader pod owns it, else the set it belongs to."""
    namespace, _, labels = _meta(obj)
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "Pod" and ref.get("name"):
            return [Key("group", namespace, str(ref["name"]))]
    set_name = labels.get(c.SET_NAME_LABEL)
    return [Key("set", namespace, set_name)] if set_name else []


def disaggregated_keys(obj: Mapping[str, Any]) -> list[Key]:
    """An object a DisaggregatedSet controls (a child LeaderWorkerSet, a ``-prv`` Service, a RoleScaler):
    that DisaggregatedSet, found by its controller reference as controller-runtime's ``Owns`` finds it."""
    meta = obj.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if (
            ref.get("controller")
            and ref.get("kind") == d.KIND
            and str(ref.get("apiVersion", "")).split("/")[0] == d.GROUP
            and ref.get("name")
        ):
            return [Key("disaggregatedset", str(meta.get("namespace") or ""), str(ref["name"]))]
    return []
