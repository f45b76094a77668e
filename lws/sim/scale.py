"""The ``scale`` subresource: an ``autoscaling/v1 Scale`` view of a workload or custom resource."""

from __future__ import annotations

from typing import Any

from lws.sim import causes, errors
from lws.sim.causes import Cause
from lws.sim.errors import bad_request
from lws.sim.objects import clone, get_path, set_path
from lws.sim.resources import ResourceType
from lws.sim.selectors import SelectorError, label_selector_from_dict


def scale_of(resource: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """The ``Scale`` object for ``obj`` (replicas from the spec and status paths, selector as a string)."""
    spec = resource.scale
    if spec is None:
        raise errors.resource_not_found(f"{resource.describe()}/scale")
    meta = obj["metadata"]
    replicas = get_path(obj, spec.spec_replicas_path)
    scale_meta = {
        key: meta[key]
        for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        if key in meta
    }
    status: dict[str, Any] = {"replicas": get_path(obj, spec.status_replicas_path) or 0}
    selector = _selector_text(resource, obj)
    if selector:
        status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        # autoscaling/v1 ScaleSpec.replicas is omitempty: a scale of 0 reads as an empty spec, as there.
        "spec": {"replicas": replicas} if isinstance(replicas, int) and replicas else {},
        "status": status,
    }


def _selector_text(resource: ResourceType, obj: dict[str, Any]) -> str:
    if not resource.custom:
        # Built-in workloads publish their spec.selector in string form (what HPA uses to find pods).
        try:
            return str(label_selector_from_dict(get_path(obj, ".spec.selector") or {}))
        except SelectorError:
            return ""
    path = resource.scale.label_selector_path if resource.scale else None
    value = get_path(obj, path) if path else None
    return value if isinstance(value, str) else ""


def with_scale(resource: ResourceType, obj: dict[str, Any], scale: Any) -> dict[str, Any]:
    """A copy of ``obj`` whose spec replicas are the ``Scale``'s ``spec.replicas``."""
    if not isinstance(scale, dict) or not isinstance(scale.get("spec"), dict | None):
        raise bad_request("the body must be an autoscaling/v1 Scale object")
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.invalid(
            "Scale",
            "autoscaling",
            obj["metadata"]["name"],
            [causes.invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
        )
    spec = resource.scale
    assert spec is not None
    updated: dict[str, Any] = clone(obj)
    set_path(updated, spec.spec_replicas_path, replicas)
    return updated


def validate_custom_scale(resource: ResourceType, obj: dict[str, Any], *, spec: bool = True) -> list[Cause]:
    """What apiextensions' validator checks of a custom resource with a ``scale`` subresource.

    The replicas at ``specReplicasPath`` (not on status writes) and ``statusReplicasPath`` are integers from 0
    to 2^31-1, the selector at ``labelSelectorPath`` a string. Causes name those paths, leading dot and all.
    """
    scale_spec = resource.scale
    if not resource.custom or scale_spec is None:
        return []
    found: list[Cause] = []
    paths = [scale_spec.spec_replicas_path] if spec else []
    for path in (*paths, scale_spec.status_replicas_path):
        value = get_path(obj, path)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            detail = (
                f"{path.lstrip('.')} accessor error: {value} is of the type {_go_type(value)}, expected int64"
            )
            found.append(causes.invalid(path, 0, detail))
        elif value < 0:
            found.append(causes.invalid(path, value, "should be a non-negative integer"))
        elif value > _MAX_INT32:
            found.append(causes.invalid(path, value, f"should be less than or equal to {_MAX_INT32}"))
    selector_path = scale_spec.label_selector_path
    selector = get_path(obj, selector_path) if selector_path else None
    if selector_path and selector is not None and not isinstance(selector, str):
        detail = (
            f"{selector_path.lstrip('.')} accessor error: {selector} is of the type {_go_type(selector)}, "
            "expected string"
        )
        found.append(causes.invalid(selector_path, "", detail))
    return found


_MAX_INT32 = 2**31 - 1


def _go_type(value: Any) -> str:
    """The Go type an unstructured JSON value decodes to (for accessor errors)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return "int64"
