"""What a pod requests from the scheduler, by Kubernetes' rules (``k8s.io/component-helpers`` PodRequests).

* A container requests its ``requests``; a resource with only a limit requests the limit (the API server
  defaults requests from limits, so a template with limits only still asks for them).
* Regular containers and sidecars (init containers with ``restartPolicy: Always``) run together: they add.
* Other init containers run one at a time before the regular containers, each alongside the sidecars
  started before it; the pod needs the largest of those moments or the steady state, whichever is larger.
* Pod-level ``spec.resources`` (cpu, memory, hugepages) replace the containers' sum where set.
* ``spec.overhead`` (from the RuntimeClass) is added on top.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_CEILING, Decimal
from typing import Any

from lws.api.quantity import QuantityError, parse_quantity

__all__ = [
    "Resources",
    "add",
    "container_requests",
    "format_quantity",
    "format_resources",
    "maximum",
    "parse_resources",
    "pod_requests",
    "scale",
    "total",
]

#: Resource name to amount (``cpu`` in cores, memory in bytes...).
Resources = dict[str, Decimal]

_POD_LEVEL = ("cpu", "memory")
_BINARY = ("memory", "ephemeral-storage", "storage")
_BINARY_SUFFIXES = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))
_FRACTION_SUFFIXES = (("m", Decimal("1e-3")), ("u", Decimal("1e-6")), ("n", Decimal("1e-9")))


def parse_resources(values: Mapping[str, Any] | None, where: str) -> Resources:
    """Quantities of a ``requests``/``limits`` map; a malformed one is a ``ValueError`` naming ``where``."""
    out: Resources = {}
    for name, raw in (values or {}).items():
        try:
            out[str(name)] = parse_quantity(raw)
        except QuantityError as exc:
            raise ValueError(f"{where}.{name}: {exc}") from None
    return out


def container_requests(container: Mapping[str, Any], where: str = "container") -> Resources:
    """A container's requests, with limits standing in for requests it does not state."""
    resources = container.get("resources") or {}
    limits = parse_resources(resources.get("limits"), f"{where}.resources.limits")
    requests = parse_resources(resources.get("requests"), f"{where}.resources.requests")
    return {**limits, **requests}


def add(a: Mapping[str, Decimal], b: Mapping[str, Decimal]) -> Resources:
    """The sum of two resource maps, resource by resource."""
    out = dict(a)
    for name, value in b.items():
        out[name] = out.get(name, Decimal(0)) + value
    return out


def maximum(a: Mapping[str, Decimal], b: Mapping[str, Decimal]) -> Resources:
    """The larger of two resource maps, resource by resource."""
    out = dict(a)
    for name, value in b.items():
        out[name] = max(out.get(name, Decimal(0)), value)
    return out


def scale(a: Mapping[str, Decimal], factor: int) -> Resources:
    """``factor`` times a resource map (e.g. ``size - 1`` worker pods)."""
    return {name: value * factor for name, value in a.items()}


def total(parts: Iterable[Mapping[str, Decimal]]) -> Resources:
    """The sum of any number of resource maps."""
    out: Resources = {}
    for part in parts:
        out = add(out, part)
    return out


def pod_requests(spec: Mapping[str, Any], where: str = "spec") -> Resources:
    """Everything one pod with this spec requests (see the module doc for the rules)."""
    steady = total(
        container_requests(x, f"{where}.containers[{x.get('name')}]") for x in spec.get("containers") or []
    )
    sidecars: Resources = {}
    init_peak: Resources = {}
    for x in spec.get("initContainers") or []:
        own = container_requests(x, f"{where}.initContainers[{x.get('name')}]")
        if x.get("restartPolicy") == "Always":
            steady = add(steady, own)
            sidecars = add(sidecars, own)
            moment = sidecars
        else:
            moment = add(own, sidecars)
        init_peak = maximum(init_peak, moment)
    needed = maximum(steady, init_peak)
    pod_level = container_requests({"resources": spec.get("resources") or {}}, f"{where}.resources")
    for name, value in pod_level.items():
        if name in _POD_LEVEL or name.startswith("hugepages-"):
            needed[name] = value
    overhead = parse_resources(spec.get("overhead"), f"{where}.overhead")
    return {name: value for name, value in add(needed, overhead).items() if value != 0}


def format_quantity(name: str, value: Decimal) -> str:
    """A quantity as Kubernetes would print it: ``500m``, ``8``, ``16Gi`` (binary suffixes for bytes)."""
    if value == value.to_integral_value():
        whole = int(value)
        if name in _BINARY or name.startswith("hugepages-"):
            for suffix, factor in _BINARY_SUFFIXES:
                if whole and whole % factor == 0:
                    return f"{whole // factor}{suffix}"
        return str(whole)
    for fraction, unit in _FRACTION_SUFFIXES:
        scaled = value / unit
        if scaled == scaled.to_integral_value():
            return f"{int(scaled)}{fraction}"
    # Finer than a nano-unit cannot be stored; Kubernetes rounds up.
    return f"{int((value / Decimal('1e-9')).to_integral_value(rounding=ROUND_CEILING))}n"


def format_resources(resources: Mapping[str, Decimal]) -> dict[str, str]:
    """A resource map as Kubernetes quantities (see :func:`format_quantity`), sorted by name."""
    return {name: format_quantity(name, resources[name]) for name in sorted(resources)}
