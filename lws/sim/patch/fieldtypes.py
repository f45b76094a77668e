"""How server-side apply sees the structure of an object: which lists are sets or maps, which maps are atomic.

Server-side apply and ``metadata.managedFields`` need to know, for every list, whether it is *atomic* (owned
and replaced as a whole), a *set* of scalars (``x-kubernetes-list-type: set``, items tracked as ``v:<value>``)
or a *map* keyed by some of its items' fields (``x-kubernetes-list-type: map`` with
``x-kubernetes-list-map-keys``, items tracked as ``k:{...}``), and for every object whether it is granular
(each field owned separately) or atomic (``x-kubernetes-map-type: atomic``).

Custom resources answer from their CRD's ``openAPIV3Schema``. Built-in kinds answer from the table below: the
``+listType``/``+listMapKey``/``+mapType`` markers of the Kubernetes API types for the fields clients write
(Pod specs and templates, workloads, Services, Nodes, webhook configurations, object metadata). These keys are
not always the strategic-merge-patch keys (container ports are keyed by ``containerPort`` *and* ``protocol``
here, by ``containerPort`` alone in strategic merge patch), which is why this table is separate from the one
in :mod:`lws.sim.patch.strategic`. Lists the table does not name are atomic and objects are granular, which is
Kubernetes' own default for built-in types; fields a schema does not describe are treated the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["ATOMIC", "SET", "Shape", "keyed", "shape_for"]

ListKind = Literal["atomic", "set", "map"]


@dataclass(frozen=True)
class Rule:
    """How one field merges: ``atomic`` (replaced whole), ``set`` or ``map`` (a list keyed by some fields)."""

    kind: ListKind
    keys: tuple[str, ...] = ()
    # Values Kubernetes assumes for key fields an item leaves out (a port's protocol is TCP).
    key_defaults: Mapping[str, Any] = field(default_factory=dict)


ATOMIC = Rule("atomic")
SET = Rule("set")


def keyed(*keys: str, **defaults: Any) -> Rule:
    """A list-map rule keyed by ``keys``; keyword arguments give defaults for key fields items may omit."""
    return Rule("map", keys, defaults)


class Shape:
    """The structure of the value at one place in an object, as server-side apply needs it.

    Subclasses describe built-in kinds (a path table), custom resources (an OpenAPI schema) and fields nothing
    describes (lists atomic, objects granular, every key undeclared).
    """

    def child(self, key: str) -> Shape:
        """The shape of field ``key`` of an object at this place."""
        return UNDESCRIBED

    def item(self) -> Shape:
        """The shape of the items of a list at this place."""
        return UNDESCRIBED

    def declares(self, key: str) -> bool:
        """Whether ``key`` is a declared field (a struct field) rather than an entry of a free-form map."""
        return False

    @property
    def atomic_map(self) -> bool:
        """Whether an object at this place is owned and replaced as a whole."""
        return False

    @property
    def list_rule(self) -> Rule:
        """How a list at this place merges."""
        return ATOMIC


UNDESCRIBED = Shape()


# --- built-in kinds: paths relative to a type, "[]" stands for "each item of the list" ---

Table = dict[tuple[str, ...], Rule]


def _mount(prefix: str, table: Table) -> Table:
    """``table`` with every path moved under the dotted ``prefix``."""
    head = tuple(part for part in prefix.split(".") if part)
    return {head + path: rule for path, rule in table.items()}


def _paths(entries: Mapping[str, Rule]) -> Table:
    """Dotted paths (``containers[].env``) to tuples (``("containers", "[]", "env")``)."""
    table: Table = {}
    for dotted, rule in entries.items():
        table[tuple(part for part in dotted.replace("[]", ".[]").split(".") if part)] = rule
    return table


_OBJECT_META = _paths(
    {
        "finalizers": SET,
        "ownerReferences": keyed("uid"),
        "ownerReferences[]": ATOMIC,
        "managedFields": ATOMIC,
    }
)

_CONTAINER = _paths(
    {
        "env": keyed("name"),
        "env[].valueFrom.configMapKeyRef": ATOMIC,
        "env[].valueFrom.secretKeyRef": ATOMIC,
        "env[].valueFrom.fieldRef": ATOMIC,
        "env[].valueFrom.resourceFieldRef": ATOMIC,
        "env[].valueFrom.fileKeyRef": ATOMIC,
        "ports": keyed("containerPort", "protocol", protocol="TCP"),
        "volumeMounts": keyed("mountPath"),
        "volumeDevices": keyed("devicePath"),
        "resources.claims": keyed("name"),
    }
)

_AFFINITY_TERM = _paths({"labelSelector": ATOMIC, "namespaceSelector": ATOMIC})

_POD_SPEC: Table = {
    **_paths(
        {
            "containers": keyed("name"),
            "initContainers": keyed("name"),
            "ephemeralContainers": keyed("name"),
            "volumes": keyed("name"),
            "imagePullSecrets": keyed("name"),
            "imagePullSecrets[]": ATOMIC,
            "hostAliases": keyed("ip"),
            "resourceClaims": keyed("name"),
            "resources.claims": keyed("name"),
            "schedulingGates": keyed("name"),
            "topologySpreadConstraints": keyed("topologyKey", "whenUnsatisfiable"),
            "topologySpreadConstraints[].labelSelector": ATOMIC,
            "nodeSelector": ATOMIC,
            "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution": ATOMIC,
            "affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[].preference": ATOMIC,
        }
    ),
    **_mount("containers.[]", _CONTAINER),
    **_mount("initContainers.[]", _CONTAINER),
    **_mount("ephemeralContainers.[]", _CONTAINER),
    **{
        path: rule
        for kind in ("podAffinity", "podAntiAffinity")
        for path, rule in {
            **_mount(f"affinity.{kind}.requiredDuringSchedulingIgnoredDuringExecution.[]", _AFFINITY_TERM),
            **_mount(
                f"affinity.{kind}.preferredDuringSchedulingIgnoredDuringExecution.[].podAffinityTerm",
                _AFFINITY_TERM,
            ),
        }.items()
    },
}

_POD_TEMPLATE: Table = {**_mount("metadata", _OBJECT_META), **_mount("spec", _POD_SPEC)}

_CONDITIONS = _paths({"status.conditions": keyed("type")})

_WORKLOAD: Table = {
    **_paths({"spec.selector": ATOMIC}),
    **_mount("spec.template", _POD_TEMPLATE),
    **_CONDITIONS,
}

_WEBHOOKS = _paths(
    {
        "webhooks": keyed("name"),
        "webhooks[].namespaceSelector": ATOMIC,
        "webhooks[].objectSelector": ATOMIC,
        "webhooks[].matchConditions": keyed("name"),
    }
)

_BUILTIN: dict[tuple[str, str], Table] = {
    ("", "Pod"): {
        **_mount("spec", _POD_SPEC),
        **_paths({"status.conditions": keyed("type"), "status.podIPs": keyed("ip")}),
    },
    ("", "PodTemplate"): _mount("template", _POD_TEMPLATE),
    ("", "ReplicationController"): {**_mount("spec.template", _POD_TEMPLATE), **_CONDITIONS},
    ("", "Service"): {
        **_paths({"spec.ports": keyed("port", "protocol", protocol="TCP"), "spec.selector": ATOMIC}),
        **_CONDITIONS,
    },
    ("", "Node"): _paths({"status.conditions": keyed("type"), "status.addresses": keyed("type")}),
    ("", "Namespace"): _CONDITIONS,
    ("", "PersistentVolumeClaim"): {
        **_paths({"spec.selector": ATOMIC, "spec.dataSource": ATOMIC}),
        **_CONDITIONS,
    },
    ("", "ServiceAccount"): _paths({"secrets": keyed("name")}),
    ("apps", "StatefulSet"): _WORKLOAD,
    ("apps", "Deployment"): _WORKLOAD,
    ("apps", "ReplicaSet"): _WORKLOAD,
    ("apps", "DaemonSet"): _WORKLOAD,
    ("batch", "Job"): {**_paths({"spec.selector": ATOMIC}), **_mount("spec.template", _POD_TEMPLATE)},
    ("batch", "CronJob"): {
        **_mount("spec.jobTemplate.metadata", _OBJECT_META),
        **_paths({"spec.jobTemplate.spec.selector": ATOMIC}),
        **_mount("spec.jobTemplate.spec.template", _POD_TEMPLATE),
    },
    ("policy", "PodDisruptionBudget"): {**_paths({"spec.selector": ATOMIC}), **_CONDITIONS},
    ("autoscaling", "HorizontalPodAutoscaler"): _CONDITIONS,
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): _WEBHOOKS,
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): _WEBHOOKS,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _CONDITIONS,
}


class _TableShape(Shape):
    """A place in a built-in object, answered from a path table."""

    def __init__(self, table: Table, path: tuple[str, ...] = ()) -> None:
        self._table = table
        self._path = path

    def child(self, key: str) -> Shape:
        return _TableShape(self._table, (*self._path, key))

    def item(self) -> Shape:
        return _TableShape(self._table, (*self._path, "[]"))

    def declares(self, key: str) -> bool:
        # Built-in types are Go structs; the free-form maps among them (labels, annotations, data,
        # resources.limits) hold scalars, for which being declared or not makes no difference.
        return True

    @property
    def atomic_map(self) -> bool:
        return self._table.get(self._path, None) is ATOMIC

    @property
    def list_rule(self) -> Rule:
        return self._table.get(self._path, ATOMIC)


# --- custom resources: OpenAPI v3 structural schemas ---


class _SchemaShape(Shape):
    """A place in a custom resource, answered from its CRD's structural schema."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._schema = schema

    def child(self, key: str) -> Shape:
        properties = self._schema.get("properties") or {}
        if key == "metadata" and self._schema.get("x-kubernetes-embedded-resource"):
            return _TableShape(_OBJECT_META)
        if key in properties:
            return _SchemaShape(properties[key])
        additional = self._schema.get("additionalProperties")
        if isinstance(additional, Mapping):
            return _SchemaShape(additional)
        return UNDESCRIBED

    def item(self) -> Shape:
        items = self._schema.get("items")
        return _SchemaShape(items) if isinstance(items, Mapping) else UNDESCRIBED

    def declares(self, key: str) -> bool:
        return key in (self._schema.get("properties") or {})

    @property
    def atomic_map(self) -> bool:
        return self._schema.get("x-kubernetes-map-type") == "atomic"

    @property
    def list_rule(self) -> Rule:
        list_type = self._schema.get("x-kubernetes-list-type", "atomic")
        if list_type == "set":
            return SET
        if list_type == "map":
            keys = tuple(self._schema.get("x-kubernetes-list-map-keys") or ())
            item_properties = (self._schema.get("items") or {}).get("properties") or {}
            defaults = {
                key: item_properties[key]["default"]
                for key in keys
                if isinstance(item_properties.get(key), Mapping) and "default" in item_properties[key]
            }
            return Rule("map", keys, defaults)
        return ATOMIC


class _ObjectShape(Shape):
    """The top of an object: ``metadata`` is always ObjectMeta, whatever the rest is described by."""

    def __init__(self, body: Shape, metadata: Shape) -> None:
        self._body = body
        self._metadata = metadata

    def child(self, key: str) -> Shape:
        return self._metadata if key == "metadata" else self._body.child(key)

    def declares(self, key: str) -> bool:
        return key in ("apiVersion", "kind", "metadata") or self._body.declares(key)


def shape_for(kind: tuple[str, str], schema: Mapping[str, Any] | None = None) -> Shape:
    """The shape of a whole object of ``kind`` (``(group, Kind)``).

    :param schema: the CRD's ``openAPIV3Schema`` for a custom resource; ``None`` for built-in kinds, which use
        the built-in table (kinds missing from it get atomic lists and granular objects throughout).
    """
    metadata = _TableShape(_OBJECT_META)
    if schema is not None:
        return _ObjectShape(_SchemaShape(schema), metadata)
    return _ObjectShape(_TableShape(_BUILTIN.get(kind, {})), metadata)
