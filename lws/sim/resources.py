"""The resource types the embedded API server serves: built-ins plus those CRDs install.

A :class:`ResourceType` is everything the pipeline, discovery and tables need to know about one
``group/version/plural``. Objects are stored per *group-resource* (``(group, plural)``), so every served
version of a CRD reads and writes the same objects, as Kubernetes does with ``conversion: None``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

GVR = tuple[str, str, str]
"""``(group, version, plural)``; the core group is ``""``."""

GroupResource = tuple[str, str]
"""``(group, plural)``: the storage identity of a resource, shared by all its versions."""

STANDARD_VERBS: tuple[str, ...] = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)
SUBRESOURCE_VERBS: dict[str, tuple[str, ...]] = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "eviction": ("create",),
    "binding": ("create",),
    "finalize": ("update",),
    # Streams to a container: served only to say that the embedded cluster runs none (lws.sim.http).
    "log": ("get",),
    "exec": ("create", "get"),
    "attach": ("create", "get"),
    "portforward": ("create", "get"),
}
CONTAINER_STREAMS = ("log", "exec", "attach", "portforward")
"""Pod subresources that reach into a running container (``kubectl logs``, ``exec``, ``attach``,
``port-forward``)."""


@dataclass(frozen=True)
class ScaleSpec:
    """Where a resource keeps the numbers its ``scale`` subresource exposes (dotted JSON paths)."""

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str | None = None


@dataclass(frozen=True)
class PrinterColumn:
    """One CRD ``additionalPrinterColumns`` entry."""

    name: str
    type: str
    json_path: str
    description: str = ""
    priority: int = 0
    format: str = ""


@dataclass(frozen=True)
class ResourceType:
    """One served ``group/version/plural`` and the behaviour the pipeline applies to it."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STANDARD_VERBS
    subresources: tuple[str, ...] = ()
    scale: ScaleSpec | None = None
    # Whether metadata.generation is kept and bumped on spec changes (workloads, CRs) or absent.
    tracks_generation: bool = False
    # Kubernetes answers DELETE with the object for some resources and with a Status for the rest.
    returns_deleted_object: bool = False
    # Set for resources installed by a CustomResourceDefinition.
    custom: bool = False
    schema: Mapping[str, Any] | None = field(default=None, compare=False)
    printer_columns: tuple[PrinterColumn, ...] = ()
    # CRD ``selectableFields`` (``.spec.color``): extra field-selector labels besides metadata.name/namespace.
    selectable_fields: tuple[str, ...] = ()
    crd_name: str | None = None
    # Served from another resource's storage (events.k8s.io Events are core Events), converted by
    # lws.sim.conversion; None for resources stored as served.
    stored_with: GroupResource | None = None

    @property
    def gvr(self) -> GVR:
        """``(group, version, plural)``."""
        return (self.group, self.version, self.plural)

    @property
    def group_resource(self) -> GroupResource:
        """``(group, plural)``: the resource's identity (discovery, admission rules, versions)."""
        return (self.group, self.plural)

    @property
    def storage(self) -> GroupResource:
        """The group-resource its objects are stored under: its own, or the one it is ``stored_with``."""
        return self.stored_with or (self.group, self.plural)

    @property
    def api_version(self) -> str:
        """``apps/v1``, or ``v1`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        """``PodList`` for ``Pod``."""
        return f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        """Whether writes to the main resource leave ``status`` alone (a ``status`` subresource exists)."""
        return "status" in self.subresources

    def describe(self) -> str:
        """Human name for messages: ``statefulsets.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _rt(
    group: str,
    version: str,
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    sub: tuple[str, ...] = (),
    scale: ScaleSpec | None = None,
    generation: bool = False,
    returns_deleted: bool = False,
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=short,
        categories=categories,
        subresources=sub,
        scale=scale,
        tracks_generation=generation,
        returns_deleted_object=returns_deleted,
    )


_WORKLOAD_SCALE = ScaleSpec(label_selector_path=".status.selector")

BUILTIN_RESOURCES: tuple[ResourceType, ...] = (
    _rt("", "v1", "Namespace", "namespaces", namespaced=False, short=("ns",), sub=("status", "finalize")),
    _rt(
        "",
        "v1",
        "Pod",
        "pods",
        short=("po",),
        categories=("all",),
        sub=("status", "eviction", "binding", *CONTAINER_STREAMS),
        generation=True,
        returns_deleted=True,
    ),
    _rt(
        "",
        "v1",
        "Service",
        "services",
        short=("svc",),
        categories=("all",),
        sub=("status",),
        returns_deleted=True,
    ),
    _rt("", "v1", "Endpoints", "endpoints", short=("ep",)),
    _rt("", "v1", "ConfigMap", "configmaps", short=("cm",)),
    _rt("", "v1", "Secret", "secrets"),
    _rt("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",), returns_deleted=True),
    _rt("", "v1", "Node", "nodes", namespaced=False, short=("no",), sub=("status",)),
    _rt("", "v1", "Event", "events", short=("ev",)),
    _rt(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        short=("pvc",),
        sub=("status",),
        returns_deleted=True,
    ),
    _rt(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        namespaced=False,
        short=("pv",),
        sub=("status",),
        returns_deleted=True,
    ),
    _rt(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        short=("sts",),
        categories=("all",),
        sub=("status", "scale"),
        scale=_WORKLOAD_SCALE,
        generation=True,
    ),
    _rt(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        short=("deploy",),
        categories=("all",),
        sub=("status", "scale"),
        scale=_WORKLOAD_SCALE,
        generation=True,
    ),
    _rt(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        short=("rs",),
        categories=("all",),
        sub=("status", "scale"),
        scale=_WORKLOAD_SCALE,
        generation=True,
    ),
    _rt("apps", "v1", "ControllerRevision", "controllerrevisions"),
    _rt(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        short=("ds",),
        categories=("all",),
        sub=("status",),
        generation=True,
    ),
    replace(_rt("events.k8s.io", "v1", "Event", "events", short=("ev",)), stored_with=("", "events")),
    _rt("coordination.k8s.io", "v1", "Lease", "leases"),
    _rt("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _rt("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    _rt(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        namespaced=False,
        generation=True,
    ),
    _rt(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        namespaced=False,
        generation=True,
    ),
    _rt(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        namespaced=False,
        short=("crd", "crds"),
        sub=("status",),
        generation=True,
    ),
    _rt(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        short=("pdb",),
        sub=("status",),
        generation=True,
    ),
    _rt(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        short=("hpa",),
        categories=("all",),
        sub=("status",),
    ),
    _rt(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        namespaced=False,
        short=("pc",),
        generation=True,
    ),
    _rt("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
)

# The order Kubernetes lists groups in /apis (core first, then by priority): familiar kubectl output.
_GROUP_ORDER = (
    "",
    "apiregistration.k8s.io",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
)


def _group_rank(group: str) -> tuple[int, str]:
    try:
        return (_GROUP_ORDER.index(group), group)
    except ValueError:
        return (len(_GROUP_ORDER), group)


def version_priority(version: str) -> tuple[int, int, int]:
    """Sort key for Kubernetes versions, highest priority first: v2 > v1 > v1beta2 > v1beta1 > v1alpha1."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if match is None:
        return (3, 0, 0)  # not a Kubernetes-style version: sorted last, alphabetically by caller
    major = int(match.group(1))
    stability = {"alpha": 2, "beta": 1, None: 0}[match.group(2)]
    minor = int(match.group(3) or 0)
    return (stability, -major, -minor)


@dataclass
class ResourceRegistry:
    """Every served resource type, looked up by GVR, by short name, or grouped for discovery."""

    _by_gvr: dict[GVR, ResourceType] = field(default_factory=dict)

    @classmethod
    def with_builtins(cls) -> ResourceRegistry:
        """A registry serving the built-in Kubernetes resources."""
        registry = cls()
        for resource in BUILTIN_RESOURCES:
            registry.add(resource)
        return registry

    def add(self, resource: ResourceType) -> None:
        """Serve ``resource`` (replacing a previous definition of the same GVR)."""
        self._by_gvr[resource.gvr] = resource

    def remove_crd(self, crd_name: str) -> None:
        """Stop serving every version installed by the CRD ``crd_name``."""
        for gvr in [gvr for gvr, rt in self._by_gvr.items() if rt.crd_name == crd_name]:
            del self._by_gvr[gvr]

    def get(self, gvr: GVR) -> ResourceType | None:
        """The resource type for ``gvr``, or ``None`` if it is not served."""
        return self._by_gvr.get(gvr)

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self._by_gvr.values())

    def versions_of(self, group_resource: GroupResource) -> list[ResourceType]:
        """All served versions of one group-resource, highest priority first."""
        found = [rt for rt in self._by_gvr.values() if rt.group_resource == group_resource]
        return sorted(found, key=lambda rt: version_priority(rt.version))

    def groups(self) -> list[tuple[str, list[str]]]:
        """``[(group, [versions, highest priority first])]`` in discovery order."""
        by_group: dict[str, set[str]] = {}
        for rt in self._by_gvr.values():
            by_group.setdefault(rt.group, set()).add(rt.version)
        return [
            (group, sorted(by_group[group], key=lambda v: (version_priority(v), v)))
            for group in sorted(by_group, key=_group_rank)
        ]

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        """The resources served in one group/version, in a stable order."""
        return sorted(
            (rt for rt in self._by_gvr.values() if rt.group == group and rt.version == version),
            key=lambda rt: rt.plural,
        )

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        """The preferred served version of ``kind`` in ``group`` (used to resolve ownerReferences)."""
        found = [rt for rt in self._by_gvr.values() if rt.group == group and rt.kind == kind]
        if not found:
            return None
        return sorted(found, key=lambda rt: version_priority(rt.version))[0]


def with_version(resource: ResourceType, version: str) -> ResourceType:
    """The same resource type served under another version."""
    return replace(resource, version=version)
