"""Resources served from another resource's storage, converted on the way in and out.

Kubernetes keeps one Event store: ``events.k8s.io/v1`` Events are core Events in etcd, converted field by
field (``pkg/apis/events/v1/conversion.go``), so an event written through either API is listed, watched and
described through both: ``kubectl describe`` (core/v1, by ``involvedObject``) shows what an operator recorded
with ``events.k8s.io/v1`` (``regarding``). Here the stored form is the core one; a resource type with
``stored_with`` set reads and writes that storage through :func:`present` and :func:`to_storage`.

Every other resource is stored as served (all versions of a CRD share their objects unchanged, as with
``conversion: None``), and presenting it only relabels ``apiVersion``/``kind``.
"""

from __future__ import annotations

from typing import Any

from lws.sim.objects import with_api_version
from lws.sim.resources import ResourceType

__all__ = ["present", "to_storage"]

# events.k8s.io/v1 field -> core/v1 field. Everything else (reason, type, action, eventTime, series, related,
# reportingInstance, metadata) is the same in both.
_EVENT_FIELDS = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}

# (group, kind) of a resource stored with another -> (its field -> the stored field, stored apiVersion/kind)
_CONVERSIONS: dict[tuple[str, str], tuple[dict[str, str], tuple[str, str]]] = {
    ("events.k8s.io", "Event"): (_EVENT_FIELDS, ("v1", "Event")),
}


def present(obj: dict[str, Any], resource: ResourceType) -> dict[str, Any]:
    """The stored ``obj`` as ``resource`` serves it (shallow: nested values are shared, never mutate them).

    Idempotent: an object already in ``resource``'s form comes back as it is.
    """
    if resource.stored_with is None or obj.get("apiVersion") == resource.api_version:
        return with_api_version(obj, resource)
    fields, _ = _CONVERSIONS[(resource.group, resource.kind)]
    back = {stored: served for served, stored in fields.items()}
    converted = {back.get(key, key): value for key, value in obj.items()}
    converted["apiVersion"], converted["kind"] = resource.api_version, resource.kind
    return converted


def to_storage(resource: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj``, written through ``resource``, in the form it is stored in (shallow, like :func:`present`)."""
    if resource.stored_with is None:
        return obj
    fields, (api_version, kind) = _CONVERSIONS[(resource.group, resource.kind)]
    converted = {fields.get(key, key): value for key, value in obj.items()}
    converted["apiVersion"], converted["kind"] = api_version, kind
    return converted
