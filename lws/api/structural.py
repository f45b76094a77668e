"""Apply a structural schema (:mod:`lws.api.schema`) to a plain JSON-like object, as the API server does.

The rules are the shared engine's (:mod:`lws.k8s.structural`, which the embedded cluster uses too); this
module words what it finds for ``lws validate``, ``lws render`` and the webhooks. Two jobs, both driven by the
schema alone:

* :func:`apply_defaults` prunes nulls of known fields and fills in ``default`` values, as the API server
  does when it decodes a custom resource;
* :func:`check` reports what the API server would reject: wrong types, values outside an enum, missing
  required fields, unknown fields (as ``kubectl``'s default strict field validation does), duplicate keys of
  list-maps and out-of-range 32/64-bit integers.

Numeric ranges (``minimum``/``maximum``) are reported only on request (``ranges=True``, in the API server's
words): for a LeaderWorkerSet the admission rules in :mod:`lws.api.validation` check them with upstream's
own messages, and one problem should give one error.
Neither function raises on arbitrary input.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from lws.api.errors import FieldError
from lws.k8s import structural
from lws.k8s.json_types import json_type
from lws.k8s.structural import INT_OR_STRING, Options, Path, Schema, Violation


def join(path: str, key: object) -> str:
    """The JSON path of ``key`` under ``path`` (``spec`` + ``replicas`` → ``spec.replicas``)."""
    text = str(key) if key != "" else '""'
    return f"{path}.{text}" if path else text


def type_error(path: str, value: object, expected: str) -> FieldError:
    """``<path>: Invalid value: <value>: must be of type <expected>, not <actual>``.

    Objects and arrays are not echoed back: they can be large, and the type says enough.
    """
    detail = f"must be of type {expected}, not {json_type(value)}"
    if isinstance(value, bool | int | float | str) or value is None:
        return FieldError(path, detail, value=value)
    return FieldError(path, detail)


def quoted(values: Iterable[object]) -> str:
    """``"A", "B"``: how apimachinery lists allowed values."""
    return ", ".join(f'"{v}"' for v in values)


# --- defaulting --------------------------------------------------------------------------------------------


def apply_defaults(schema: Schema, value: Any) -> None:
    """Prune nulls of known, non-nullable fields and fill in schema defaults, in place.

    As the API server: a default applies only where its parent object exists, so ``rolloutStrategy.type``
    is defaulted only when ``rolloutStrategy`` is written.
    """
    structural.apply_defaults(schema, value)
    structural.drop_nulls(schema, value)


# --- checking ----------------------------------------------------------------------------------------------

#: Stricter than the API server where ``lws validate`` checks a raw manifest (see :class:`Options`).
_OPTIONS = Options(
    unknown_fields=True, null_is_absent=True, whole_floats_are_integers=False, integer_formats=True
)
_INT_OR_STRING_TYPE = 'integer or string (a number such as 1, or a percentage such as "25%")'
#: Numeric bounds: left to :mod:`lws.api.validation` for a LeaderWorkerSet, which words them as upstream's
#: webhook does (one problem, one error); reported in the API server's words with ``ranges=True``.
_RANGES = {
    "minimum": "greater than or equal to",
    "maximum": "less than or equal to",
    "exclusive_minimum": "greater than",
    "exclusive_maximum": "less than",
}


def check(schema: Schema, value: Any, path: str = "", *, ranges: bool = False) -> list[FieldError]:
    """Every way ``value`` breaks ``schema``, each error naming the JSON path of the field.

    :param ranges: also report ``minimum``/``maximum``, as the API server words them
        (``spec.slices in body should be greater than or equal to 1``).
    """
    errors: list[FieldError] = []
    for violation in structural.violations(schema, value, _OPTIONS):
        where = _path(path, violation.path)
        if violation.kind in _RANGES:
            if ranges:
                detail = f"{where} in body should be {_RANGES[violation.kind]} {violation.limit}"
                errors.append(FieldError(where, detail, value=violation.value))
            continue
        if violation.kind == "unknown" and violation.value is None:
            # A null unknown field carries nothing (Go-generated manifests write creationTimestamp: null).
            continue
        errors.append(_error(violation, where))
    return errors


def _path(base: str, parts: Path) -> str:
    for part in parts:
        base = f"{base}[{part}]" if isinstance(part, int) else join(base, part)
    return base


def _error(v: Violation, path: str) -> FieldError:
    value = v.value
    if v.kind == "type":
        if v.schema.get(INT_OR_STRING):
            return type_error(
                path, value, 'integer or string (a number such as 1, or a percentage such as "25%")'
            )
        return type_error(path, value, str(v.limit[0]))
    if v.kind == "enum":
        return FieldError(path, _supported(v.limit), type="NotSupported", value=value)
    if v.kind == "required":
        properties: Mapping[str, Schema] = v.schema.get("properties") or {}
        return FieldError(path, _required_detail(properties.get(v.limit, {})), type="Required")
    if v.kind == "unknown":
        return _unknown_field(path, v.limit, v.schema.get("properties") or {})
    if v.kind == "duplicate":
        keys = v.limit or []
        shown = (
            ", ".join(f"{k}={value.get(k)!r}" for k in keys) if isinstance(value, Mapping) else repr(value)
        )
        return FieldError(path, f"duplicate entry with {shown}", type="Duplicate")
    if v.kind == "int_range":
        low, high = v.limit
        bits = "32" if high < 2**32 else "64"
        return FieldError(path, f"must be a {bits}-bit integer, between {low} and {high}", value=value)
    if v.kind == "max_length":
        return FieldError(path, f"may not be more than {v.limit} bytes", type="TooLong", value=value)
    if v.kind == "min_length":
        return FieldError(path, f"should be at least {v.limit} chars long", value=value)
    if v.kind == "pattern":
        return FieldError(path, f"should match '{v.limit}'", value=value)
    if v.kind == "format":
        return FieldError(path, f"must be a {v.limit}", value=value)
    if v.kind == "min_items":
        return FieldError(path, f"should have at least {v.limit} items", value=value)
    if v.kind == "max_items":
        return FieldError(path, f"should have at most {v.limit} items", value=value)
    return FieldError(path, f"breaks the schema rule {v.kind} ({v.limit})")


def _required_detail(prop: Schema) -> str:
    if prop.get("enum"):
        return f"must be set, to one of {quoted(prop['enum'])}"
    return "must be set"


def _unknown_field(path: str, key: object, properties: Mapping[str, Schema]) -> FieldError:
    detail = "unknown field: the API server drops it, or rejects the object under kubectl's strict validation"
    name = str(key)
    same_but_case = [p for p in properties if p.lower() == name.lower()]
    close = same_but_case or difflib.get_close_matches(name, list(properties), n=1, cutoff=0.75)
    if close:
        detail += f'; did you mean "{close[0]}"?'
    else:
        detail += f"; known fields here: {quoted(sorted(properties))}"
    return FieldError(path, detail, type="Forbidden")


def _supported(enum: Iterable[object]) -> str:
    enum = list(enum)
    if not enum:
        return "supported values: none (no enabled plugin implements any value; see `lws plugins`)"
    return f"supported values: {quoted(enum)}"
