"""What a CustomResourceDefinition teaches the API server: the resource types it serves and its status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.sim import causes
from lws.sim.causes import Cause
from lws.sim.resources import PrinterColumn, ResourceType, ScaleSpec

CRD_GVR = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def validate_crd(crd: Mapping[str, Any]) -> list[Cause]:
    """The problems that would stop a real API server from accepting ``crd`` (the subset clients hit)."""
    problems: list[Cause] = []
    spec = crd.get("spec")
    if not isinstance(spec, Mapping):
        return [causes.required("spec")]
    group = spec.get("group")
    names: Mapping[str, Any] = spec["names"] if isinstance(spec.get("names"), Mapping) else {}
    plural = names.get("plural")
    if not group:
        problems.append(causes.required("spec.group"))
    if not plural:
        problems.append(causes.required("spec.names.plural"))
    if not names.get("kind"):
        problems.append(causes.required("spec.names.kind"))
    if not names.get("listKind") and not names.get("kind"):
        problems.append(causes.required("spec.names.listKind"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        problems.append(causes.not_supported("spec.scope", spec.get("scope"), ["Cluster", "Namespaced"]))
    name = crd.get("metadata", {}).get("name")
    if group and plural and name != f"{plural}.{group}":
        problems.append(causes.invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        problems.append(
            causes.required("spec.versions", "must have exactly one version marked as storage version")
        )
    else:
        storage = [v for v in versions if isinstance(v, Mapping) and v.get("storage")]
        if len(storage) != 1:
            problems.append(
                causes.invalid(
                    "spec.versions", len(storage), "must have exactly one version marked as storage version"
                )
            )
        for index, version in enumerate(versions):
            if not isinstance(version, Mapping) or not version.get("name"):
                problems.append(causes.required(f"spec.versions[{index}].name"))
            elif not isinstance((version.get("schema") or {}).get("openAPIV3Schema"), Mapping):
                problems.append(
                    causes.required(f"spec.versions[{index}].schema.openAPIV3Schema", "schemas are required")
                )
    return problems


def resource_types(crd: Mapping[str, Any]) -> list[ResourceType]:
    """One :class:`ResourceType` per served version of ``crd`` (assumed valid)."""
    spec = crd["spec"]
    names = spec["names"]
    kind = names["kind"]
    served: list[ResourceType] = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        scale = subresources.get("scale")
        sub: list[str] = []
        if "status" in subresources:
            sub.append("status")
        if scale is not None:
            sub.append("scale")
        served.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                kind=kind,
                plural=names["plural"],
                singular=names.get("singular") or kind.lower(),
                namespaced=spec.get("scope") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=tuple(sub),
                scale=None
                if scale is None
                else ScaleSpec(
                    spec_replicas_path=scale.get("specReplicasPath", ".spec.replicas"),
                    status_replicas_path=scale.get("statusReplicasPath", ".status.replicas"),
                    label_selector_path=scale.get("labelSelectorPath"),
                ),
                tracks_generation=True,
                returns_deleted_object=True,
                custom=True,
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                printer_columns=tuple(
                    _printer_column(c) for c in version.get("additionalPrinterColumns") or ()
                ),
                selectable_fields=tuple(
                    str(field["jsonPath"])
                    for field in version.get("selectableFields") or ()
                    if field.get("jsonPath")
                ),
                crd_name=crd["metadata"]["name"],
            )
        )
    return served


def _printer_column(column: Mapping[str, Any]) -> PrinterColumn:
    return PrinterColumn(
        name=str(column.get("name", "")),
        type=str(column.get("type", "string")),
        json_path=str(column.get("jsonPath", "")),
        description=str(column.get("description", "")),
        priority=int(column.get("priority", 0) or 0),
        format=str(column.get("format", "")),
    )


def established_status(crd: Mapping[str, Any], now: str) -> dict[str, Any]:
    """The status a real API server settles on for an accepted CRD: names accepted, established."""
    spec = crd["spec"]
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    previous = {
        c.get("type"): c for c in (crd.get("status") or {}).get("conditions") or () if isinstance(c, dict)
    }

    def condition(kind: str, reason: str, message: str) -> dict[str, Any]:
        old = previous.get(kind)
        since = old["lastTransitionTime"] if old and old.get("status") == "True" else now
        return {
            "type": kind,
            "status": "True",
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        }

    stored = [v["name"] for v in spec["versions"] if v.get("storage")]
    old_stored = list((crd.get("status") or {}).get("storedVersions") or [])
    return {
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": names,
        "storedVersions": old_stored + [v for v in stored if v not in old_stored],
    }
