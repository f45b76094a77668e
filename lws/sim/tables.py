"""Server-side ``meta.k8s.io/v1 Table`` output, the form ``kubectl get`` asks for.

Built-in kinds get the columns Kubernetes' own printers produce (pods: READY, STATUS, RESTARTS, AGE and, at
priority 1 for ``-o wide``, IP and NODE...). Custom resources get their CRD's ``additionalPrinterColumns``
(a JSONPath subset: dotted fields, ``[n]`` indexes and ``[?(@.key=="value")]`` filters). Everything else
gets NAME and AGE. AGE cells, built-in and CRD ``date`` columns alike, are rendered server-side as ages
(``5m``), as Kubernetes' table converters do: kubectl prints the cells it is given.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lws.sim.objects import parse_time
from lws.sim.resources import PrinterColumn, ResourceType

TABLE_MEDIA_PARAMS = ("as=Table", "g=meta.k8s.io")


@dataclass(frozen=True)
class Column:
    """One column: its definition and how to compute a cell."""

    name: str
    type: str
    cell: Callable[[Mapping[str, Any]], Any]
    priority: int = 0
    format: str = ""
    description: str = ""

    def definition(self) -> dict[str, Any]:
        """The ``TableColumnDefinition``."""
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


def wants_table(accept: str) -> bool:
    """Whether an ``Accept`` header asks for a Table (kubectl get does)."""
    first = accept.split(",", maxsplit=1)[0]
    return all(param in first.replace(" ", "") for param in TABLE_MEDIA_PARAMS)


def human_duration(seconds: float) -> str:
    """Kubernetes' ``HumanDuration``: ``45s``, ``3m20s``, ``5h2m``, ``3d4h``..."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if rest == 0 else f"{hours // 24 // 365}y{rest}d"
    return f"{hours // 24 // 365}y"


def _age_of(timestamp: Any, now: datetime.datetime) -> str:
    if not isinstance(timestamp, str):
        return "<unknown>"
    return human_duration((now - parse_time(timestamp)).total_seconds())


def _get(obj: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _none_if_empty(value: str) -> str:
    return value or "<none>"


# -- built-in printers ---------------------------------------------------------------------------------


def _ready_containers(pod: Mapping[str, Any]) -> str:
    """kubectl's READY column: ready containers of all (not the pod's Ready condition)."""
    statuses = _get(pod, "status", "containerStatuses") or []
    total = len(_get(pod, "spec", "containers") or [])
    ready = sum(1 for status in statuses if status.get("ready"))
    return f"{ready}/{total}"


def _pod_status(pod: Mapping[str, Any]) -> str:
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif "terminated" in state:
            terminated = state["terminated"]
            signal = terminated.get("signal")
            reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode', 0)}"
    if _get(pod, "metadata", "deletionTimestamp"):
        reason = "Terminating" if status.get("reason") != "NodeLost" else "Unknown"
    return str(reason)


def _pod_restarts(pod: Mapping[str, Any], now: datetime.datetime) -> str:
    restarts = 0
    last_finished: str | None = None
    for container in _get(pod, "status", "containerStatuses") or []:
        restarts += int(container.get("restartCount") or 0)
        finished = _get(container, "lastState", "terminated", "finishedAt")
        if isinstance(finished, str) and (last_finished is None or finished > last_finished):
            last_finished = finished
    if restarts and last_finished:
        return f"{restarts} ({_age_of(last_finished, now)} ago)"
    return str(restarts)


def _containers(template_spec: Any) -> tuple[str, str]:
    containers = (template_spec or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def _node_status(node: Mapping[str, Any]) -> str:
    ready = next((c for c in _get(node, "status", "conditions") or [] if c.get("type") == "Ready"), None)
    text = "Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")
    if _get(node, "spec", "unschedulable"):
        text += ",SchedulingDisabled"
    return text


def _node_roles(node: Mapping[str, Any]) -> str:
    prefix = "node-role.kubernetes.io/"
    labels = _get(node, "metadata", "labels") or {}
    roles = sorted(key[len(prefix) :] for key in labels if key.startswith(prefix) and key[len(prefix) :])
    return ",".join(roles) or "<none>"


def _node_address(node: Mapping[str, Any], kind: str) -> str:
    for address in _get(node, "status", "addresses") or []:
        if address.get("type") == kind:
            return str(address.get("address", ""))
    return "<none>"


def _service_ports(service: Mapping[str, Any]) -> str:
    parts = []
    for port in _get(service, "spec", "ports") or []:
        text = f"{port.get('port')}"
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        parts.append(f"{text}/{port.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _selector_text(selector: Any) -> str:
    if not isinstance(selector, Mapping):
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"


def _event_object(event: Mapping[str, Any]) -> str:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


def _event_last_seen(event: Mapping[str, Any], now: datetime.datetime) -> str:
    stamp = (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or _get(event, "series", "lastObservedTime")
        or _get(event, "metadata", "creationTimestamp")
    )
    return _age_of(stamp, now)


Now = datetime.datetime
Printer = Callable[[Now], list[Column]]


def _name_column() -> Column:
    return Column(
        "Name",
        "string",
        lambda o: _get(o, "metadata", "name"),
        format="name",
        description="Name must be unique within a namespace.",
    )


def _age_column(now: Now) -> Column:
    return Column(
        "Age",
        "string",
        lambda o: _age_of(_get(o, "metadata", "creationTimestamp"), now),
        description="CreationTimestamp is the server time when this object was created.",
    )


def _pods(now: Now) -> list[Column]:
    return [
        _name_column(),
        Column(
            "Ready", "string", _ready_containers, description="The aggregate readiness state of this pod."
        ),
        Column(
            "Status", "string", _pod_status, description="The aggregate status of the containers in this pod."
        ),
        Column(
            "Restarts",
            "string",
            lambda p: _pod_restarts(p, now),
            description="The number of times restarted.",
        ),
        _age_column(now),
        Column("IP", "string", lambda p: _get(p, "status", "podIP") or "<none>", priority=1),
        Column("Node", "string", lambda p: _get(p, "spec", "nodeName") or "<none>", priority=1),
        Column(
            "Nominated Node",
            "string",
            lambda p: _get(p, "status", "nominatedNodeName") or "<none>",
            priority=1,
        ),
        Column("Readiness Gates", "string", _readiness_gates, priority=1),
    ]


def _readiness_gates(pod: Mapping[str, Any]) -> str:
    gates = _get(pod, "spec", "readinessGates") or []
    if not gates:
        return "<none>"
    conditions = {c.get("type"): c.get("status") for c in _get(pod, "status", "conditions") or []}
    ready = sum(1 for gate in gates if conditions.get(gate.get("conditionType")) == "True")
    return f"{ready}/{len(gates)}"


def _workload(now: Now, *, extra: Iterable[Column] = ()) -> list[Column]:
    return [
        _name_column(),
        *extra,
        _age_column(now),
        Column(
            "Containers", "string", lambda o: _containers(_get(o, "spec", "template", "spec"))[0], priority=1
        ),
        Column("Images", "string", lambda o: _containers(_get(o, "spec", "template", "spec"))[1], priority=1),
    ]


def _ready_of(obj: Mapping[str, Any]) -> str:
    replicas = _get(obj, "spec", "replicas")
    return f"{_get(obj, 'status', 'readyReplicas') or 0}/{1 if replicas is None else replicas}"


def _statefulsets(now: Now) -> list[Column]:
    return _workload(now, extra=[Column("Ready", "string", _ready_of)])


def _deployments(now: Now) -> list[Column]:
    return _workload(
        now,
        extra=[
            Column("Ready", "string", _ready_of),
            Column("Up-to-date", "integer", lambda o: _get(o, "status", "updatedReplicas") or 0),
            Column("Available", "integer", lambda o: _get(o, "status", "availableReplicas") or 0),
        ],
    )


def _replicasets(now: Now) -> list[Column]:
    return _workload(
        now,
        extra=[
            Column("Desired", "integer", lambda o: _get(o, "spec", "replicas") or 0),
            Column("Current", "integer", lambda o: _get(o, "status", "replicas") or 0),
            Column("Ready", "integer", lambda o: _get(o, "status", "readyReplicas") or 0),
        ],
    )


def _nodes(now: Now) -> list[Column]:
    return [
        _name_column(),
        Column("Status", "string", _node_status),
        Column("Roles", "string", _node_roles),
        _age_column(now),
        Column("Version", "string", lambda n: _get(n, "status", "nodeInfo", "kubeletVersion") or ""),
        Column("Internal-IP", "string", lambda n: _node_address(n, "InternalIP"), priority=1),
        Column("External-IP", "string", lambda n: _node_address(n, "ExternalIP"), priority=1),
        Column(
            "OS-Image",
            "string",
            lambda n: _get(n, "status", "nodeInfo", "osImage") or "<unknown>",
            priority=1,
        ),
        Column(
            "Kernel-Version",
            "string",
            lambda n: _get(n, "status", "nodeInfo", "kernelVersion") or "<unknown>",
            priority=1,
        ),
        Column(
            "Container-Runtime",
            "string",
            lambda n: _get(n, "status", "nodeInfo", "containerRuntimeVersion") or "<unknown>",
            priority=1,
        ),
    ]


def _services(now: Now) -> list[Column]:
    return [
        _name_column(),
        Column("Type", "string", lambda s: _get(s, "spec", "type") or "ClusterIP"),
        Column("Cluster-IP", "string", lambda s: _get(s, "spec", "clusterIP") or "<none>"),
        Column(
            "External-IP",
            "string",
            lambda s: ",".join(_get(s, "spec", "externalIPs") or []) or "<none>",
        ),
        Column("Port(s)", "string", _service_ports),
        _age_column(now),
        Column("Selector", "string", lambda s: _selector_text(_get(s, "spec", "selector")), priority=1),
    ]


def _namespaces(now: Now) -> list[Column]:
    return [
        _name_column(),
        Column("Status", "string", lambda n: _get(n, "status", "phase") or ""),
        _age_column(now),
    ]


def _events(now: Now) -> list[Column]:
    return [
        Column("Last Seen", "string", lambda e: _event_last_seen(e, now)),
        Column("Type", "string", lambda e: e.get("type") or ""),
        Column("Reason", "string", lambda e: e.get("reason") or ""),
        Column("Object", "string", _event_object),
        Column("Message", "string", lambda e: (e.get("message") or e.get("note") or "").strip()),
        Column("Name", "string", lambda e: _get(e, "metadata", "name"), priority=1, format="name"),
    ]


def _configmaps(now: Now) -> list[Column]:
    return [
        _name_column(),
        Column("Data", "integer", lambda c: len(c.get("data") or {}) + len(c.get("binaryData") or {})),
        _age_column(now),
    ]


def _secrets(now: Now) -> list[Column]:
    return [
        _name_column(),
        Column("Type", "string", lambda s: s.get("type") or "Opaque"),
        Column("Data", "integer", lambda s: len(s.get("data") or {})),
        _age_column(now),
    ]


def _leases(now: Now) -> list[Column]:
    return [
        _name_column(),
        Column("Holder", "string", lambda lease: _get(lease, "spec", "holderIdentity") or ""),
        _age_column(now),
    ]


def _controllerrevisions(now: Now) -> list[Column]:
    def controller(rev: Mapping[str, Any]) -> str:
        for ref in _get(rev, "metadata", "ownerReferences") or []:
            if ref.get("controller"):
                group = (
                    str(ref.get("apiVersion", "")).split("/")[0]
                    if "/" in str(ref.get("apiVersion", ""))
                    else ""
                )
                kind = str(ref.get("kind", "")).lower()
                return f"{kind}.{group}/{ref.get('name')}" if group else f"{kind}/{ref.get('name')}"
        return "<none>"

    return [
        _name_column(),
        Column("Controller", "string", controller),
        Column("Revision", "integer", lambda r: r.get("revision") or 0),
        _age_column(now),
    ]


def _crds(now: Now) -> list[Column]:
    return [
        _name_column(),
        Column("Created At", "date", lambda c: _get(c, "metadata", "creationTimestamp")),
    ]


_BUILTIN: dict[tuple[str, str], Printer] = {
    ("", "pods"): _pods,
    ("apps", "statefulsets"): _statefulsets,
    ("apps", "deployments"): _deployments,
    ("apps", "replicasets"): _replicasets,
    ("apps", "controllerrevisions"): _controllerrevisions,
    ("", "nodes"): _nodes,
    ("", "services"): _services,
    ("", "namespaces"): _namespaces,
    ("", "events"): _events,
    ("events.k8s.io", "events"): _events,
    ("", "configmaps"): _configmaps,
    ("", "secrets"): _secrets,
    ("coordination.k8s.io", "leases"): _leases,
    ("apiextensions.k8s.io", "customresourcedefinitions"): _crds,
}


# -- CRD printer columns (JSONPath subset) -------------------------------------------------------------

_STEP = re.compile(
    r"\.([A-Za-z0-9_\-/]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_\-.]+)\s*==\s*[\"']([^\"']*)[\"']\)\]"
)


def json_path(obj: Any, path: str) -> Any:
    """Evaluate the JSONPath subset CRD printer columns use; None when nothing matches.

    Supports ``.a.b``, ``.list[0]``, ``.conditions[?(@.type=="Ready")].status`` and a ``{}`` wrapper.
    """
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    current: Any = obj
    position = 0
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None:
            return None
        position = match.end()
        field, index, filter_key, filter_value = match.groups()
        if field is not None:
            current = current.get(field) if isinstance(current, Mapping) else None
        elif index is not None:
            current = current[int(index)] if isinstance(current, list) and int(index) < len(current) else None
        else:
            items = current if isinstance(current, list) else []
            current = next(
                (item for item in items if str(_dotted(item, filter_key)) == filter_value),
                None,
            )
        if current is None:
            return None
    return current


def _dotted(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, Mapping) else None
    return obj


def _typed(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if kind == "number":
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _crd_column(column: PrinterColumn, now: datetime.datetime) -> Column:
    def cell(obj: Mapping[str, Any]) -> Any:
        value = json_path(obj, column.json_path)
        if column.type == "date" and value is not None:
            return _age_of(value, now)
        return _typed(value, column.type)

    return Column(
        column.name,
        column.type,
        cell,
        priority=column.priority,
        format=column.format,
        description=column.description,
    )


def columns_for(resource: ResourceType, now: datetime.datetime | None = None) -> list[Column]:
    """The columns ``kubectl get`` shows for ``resource``."""
    now = now or datetime.datetime.now(datetime.UTC)
    if resource.custom:
        printer = resource.printer_columns or (
            PrinterColumn("Age", "date", ".metadata.creationTimestamp", "CreationTimestamp"),
        )
        return [_name_column(), *(_crd_column(column, now) for column in printer)]
    builtin = _BUILTIN.get(resource.group_resource)
    if builtin is not None:
        return builtin(now)
    return [_name_column(), _age_column(now)]


def table(
    resource: ResourceType,
    items: Iterable[Mapping[str, Any]],
    *,
    list_meta: Mapping[str, Any] | None = None,
    include_object: str = "Metadata",
    columns: list[Column] | None = None,
    with_definitions: bool = True,
) -> dict[str, Any]:
    """A ``Table`` with one row per object; ``include_object`` is ``None``, ``Metadata`` or ``Object``."""
    columns = columns or columns_for(resource)
    rows = []
    for obj in items:
        row: dict[str, Any] = {"cells": [column.cell(obj) for column in columns]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata", {}),
            }
        rows.append(row)
    result: dict[str, Any] = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(list_meta or {}),
        "columnDefinitions": [column.definition() for column in columns] if with_definitions else [],
        "rows": rows,
    }
    return result
