"""Structural schemas of CustomResourceDefinitions: defaulting, pruning and validation as the API server does.

:class:`StructuralSchema` wraps one version's ``openAPIV3Schema`` and offers the three steps the server runs
on every custom-resource write, each returning a new object and leaving its input alone. The rules are
those of the shared engine, :mod:`lws.k8s.structural`; this module words what it finds as the
apiextensions server does:

* :meth:`~StructuralSchema.default` fills ``default`` values at every level -- object properties, array items,
  ``additionalProperties`` values -- but only inside objects that are present, and then defaults inside the
  defaults; a ``null`` in a non-nullable field that has a default is replaced by it.
* :meth:`~StructuralSchema.prune` drops fields the schema does not know, except under
  ``x-kubernetes-preserve-unknown-fields``, ``apiVersion``/``kind``/``metadata`` at the root and in
  ``x-kubernetes-embedded-resource`` objects, and keys covered by ``additionalProperties``; it also drops
  ``null`` values of non-nullable fields without a default. :meth:`~StructuralSchema.unknown_fields` lists
  what pruning would drop, for ``fieldValidation=Strict``/``Warn``.
* :meth:`~StructuralSchema.validate` checks ``type`` (``integer`` vs ``number``, ``nullable``,
  ``x-kubernetes-int-or-string``), ``enum``, ``minimum``/``maximum`` (exclusive too), ``multipleOf``,
  ``minLength``/``maxLength``, ``pattern``, string ``format`` (``date-time``, ``date``, ``byte``, ``uuid``,
  ``ipv4``, ``ipv6``, ``cidr``; integer formats such as ``int32`` constrain nothing, as in Kubernetes),
  ``minItems``/``maxItems``, ``minProperties``/``maxProperties``, ``required``, ``x-kubernetes-list-type``
  ``set``/``map`` uniqueness, and ``allOf``/``anyOf``/``oneOf``/``not``.

It returns :class:`~lws.sim.causes.Cause` objects whose field paths (``spec.replicas``,
``spec.items[0].name``), reasons and messages are those of the apiextensions server, e.g.
``spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0``.

Not covered: CEL rules (``x-kubernetes-validations``) are ignored, and ``metadata`` (name, namespace,
generateName) is left to the server, as is the ratcheting of unchanged invalid values on update.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

from lws.k8s import structural
from lws.k8s.json_types import json_type
from lws.k8s.structural import Path, Violation
from lws.sim import causes
from lws.sim.causes import Cause

__all__ = ["StructuralSchema", "field_path"]


class StructuralSchema:
    """One CRD version's ``openAPIV3Schema``, ready to default, prune and validate objects."""

    def __init__(self, openapi_v3_schema: Mapping[str, Any]) -> None:
        self.schema: Mapping[str, Any] = openapi_v3_schema

    def default(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Return a copy of ``obj`` with schema defaults applied."""
        result = copy.deepcopy(obj)
        structural.apply_defaults(self.schema, result)
        return result

    def prune(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Return a copy of ``obj`` without the fields the schema does not specify."""
        result = copy.deepcopy(obj)
        structural.drop_nulls(self.schema, result)
        structural.prune(self.schema, result)
        return result

    def unknown_fields(self, obj: Mapping[str, Any]) -> list[str]:
        """The paths pruning would drop, e.g. ``["spec.foo", "spec.items[0].bar"]``, in document order."""
        return [field_path(p) for p in structural.prune(self.schema, copy.deepcopy(dict(obj)))]

    def validate(self, obj: Mapping[str, Any]) -> list[Cause]:
        """Check ``obj`` against the schema; an empty list means valid. CEL rules are ignored."""
        return [_cause(v) for v in structural.violations(self.schema, obj)]


def field_path(path: Path) -> str:
    """``("spec", "items", 0, "name")`` -> ``spec.items[0].name``, as apimachinery prints field paths."""
    text = ""
    for part in path:
        text = f"{text}[{part}]" if isinstance(part, int) else (f"{text}.{part}" if text else part)
    return text


def _go_number(value: float) -> str:
    # Go's %v: whole floats print without ".0".
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _cause(v: Violation) -> Cause:
    path = field_path(v.path)
    name = path or "body"
    value = v.value
    if v.kind in _BOUNDS:
        return causes.invalid(
            path, value, f"{name} in body should be {_BOUNDS[v.kind]} {_go_number(v.limit)}"
        )
    if v.kind in _COMBINATORS:
        return causes.invalid(path, value, _COMBINATORS[v.kind](json.dumps(name), v.limit))
    if v.kind == "type":
        actual = json_type(value)
        detail = f"{name} in body must be of type {','.join(v.limit)}: {json.dumps(actual)}"
        return causes.type_invalid(path, actual, detail)
    if v.kind == "enum":
        return causes.not_supported(
            path, value, [a if isinstance(a, str) else json.dumps(a) for a in v.limit]
        )
    if v.kind == "required":
        return causes.required(path)
    if v.kind == "duplicate":
        return causes.duplicate(path, value)
    if v.kind in ("max_length",):
        return causes.too_long(path, v.limit)
    if v.kind in ("max_items", "max_properties"):
        return causes.too_many(path, value, v.limit)
    if v.kind == "min_length":
        return causes.invalid(path, value, f"{name} in body should be at least {v.limit} chars long")
    if v.kind == "min_items":
        return causes.invalid(path, value, f"{name} in body should have at least {v.limit} items")
    if v.kind == "min_properties":
        return causes.invalid(path, value, f"{name} in body should have at least {v.limit} properties")
    if v.kind == "pattern":
        return causes.invalid(path, value, f"{name} in body should match '{v.limit}'")
    if v.kind == "format":
        return causes.type_invalid(
            path, value, f"{name} in body must be of type {v.limit}: {json.dumps(value)}"
        )
    # "unknown" and "int_range" are only reported on request (structural.Options), never by the server.
    return causes.invalid(path, value, f"{name} in body breaks the schema rule {v.kind}")


_BOUNDS = {
    "multiple_of": "a multiple of",
    "maximum": "less than or equal to",
    "exclusive_maximum": "less than",
    "minimum": "greater than or equal to",
    "exclusive_minimum": "greater than",
}


def _one_of(name: str, valid: Any) -> str:
    found = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
    return f"{name} must validate one and only one schema (oneOf). {found}"


_COMBINATORS: dict[str, Callable[[str, Any], str]] = {
    "any_of": lambda name, _: f"{name} must validate at least one schema (anyOf)",
    "one_of": _one_of,
    "all_of": lambda name, none: (
        f"{name} must validate all the schemas (allOf){'. None validated' if none else ''}"
    ),
    "not": lambda name, _: f"{name} must not validate the schema (not)",
}
