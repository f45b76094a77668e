"""The API resources the operator talks to, and the REST paths that name them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from lws.api import constants as c
from lws.api.disaggregated import constants as d


@dataclass(frozen=True)
class Resource:
    """One API resource: ``(group, version, plural)`` plus what a client needs to build its paths."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """``/api/v1/namespaces/<ns>/pods/<name>/<sub>`` and its cluster-scoped and collection forms.

        A namespaced resource with ``namespace=None`` gives the all-namespaces collection path.
        """
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
            if subresource:
                base += f"/{subresource}"
        return base

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


PODS = Resource("", "v1", "pods", "Pod")
SERVICES = Resource("", "v1", "services", "Service")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
STATEFULSETS = Resource("apps", "v1", "statefulsets", "StatefulSet")
#: The leader Deployment of a ``groupIdentity: Hash`` set.
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
CONTROLLER_REVISIONS = Resource("apps", "v1", "controllerrevisions", "ControllerRevision")
EVENTS = Resource("events.k8s.io", "v1", "events", "Event")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
MUTATING_WEBHOOK_CONFIGURATIONS = Resource(
    "admissionregistration.k8s.io",
    "v1",
    "mutatingwebhookconfigurations",
    "MutatingWebhookConfiguration",
    False,
)
VALIDATING_WEBHOOK_CONFIGURATIONS = Resource(
    "admissionregistration.k8s.io",
    "v1",
    "validatingwebhookconfigurations",
    "ValidatingWebhookConfiguration",
    False,
)
LEADERWORKERSETS = Resource(c.GROUP, c.VERSION, c.PLURAL, c.KIND)
DISAGGREGATEDSETS = Resource(d.GROUP, d.VERSION, d.PLURAL, d.KIND)
ROLE_SCALERS = Resource(d.GROUP, d.VERSION, d.SCALER_PLURAL, d.SCALER_KIND)

BUILTIN: tuple[Resource, ...] = (
    PODS,
    SERVICES,
    NODES,
    NAMESPACES,
    STATEFULSETS,
    CONTROLLER_REVISIONS,
    EVENTS,
    LEASES,
    MUTATING_WEBHOOK_CONFIGURATIONS,
    VALIDATING_WEBHOOK_CONFIGURATIONS,
    LEADERWORKERSETS,
    DISAGGREGATEDSETS,
    ROLE_SCALERS,
)
_BY_KIND = {(r.api_version, r.kind): r for r in BUILTIN}


def known(api_version: str, kind: str) -> Resource | None:
    """The resource of a kind the operator already knows, without discovery."""
    return _BY_KIND.get((api_version, kind))
