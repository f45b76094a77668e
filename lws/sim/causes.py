"""Field-level validation causes, shaped like apimachinery's ``field.Error``.

A :class:`Cause` becomes one entry of ``Status.details.causes`` in a 422 ``Invalid`` answer: ``field`` is the
dotted path (``spec.replicas``), ``reason`` the ``CauseType`` (``FieldValueInvalid``...) and ``message`` the
error body without the path (``Invalid value: -1: must be greater than or equal to 0``), exactly the split the
real API server makes, so kubectl prints the same text for us as for a real cluster.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Cause",
    "duplicate",
    "forbidden",
    "format_value",
    "invalid",
    "not_supported",
    "required",
    "too_long",
    "too_many",
    "type_invalid",
]


@dataclass(frozen=True)
class Cause:
    """One problem with one field of an object.

    :param field: dotted field path as Kubernetes prints it, e.g. ``spec.template.spec.containers[0].name``.
    :param reason: the ``metav1.CauseType``, e.g. ``FieldValueRequired``.
    :param message: the error body, e.g. ``Required value``; the path is not repeated in it.
    """

    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    def to_status_cause(self) -> dict[str, str]:
        """Render as a ``metav1.StatusCause`` dict for ``Status.details.causes``."""
        return {"reason": self.reason, "message": self.message, "field": self.field}


def format_value(value: Any) -> str:
    """Render a bad value the way ``field.Error`` does: strings quoted, scalars bare, the rest as JSON."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        # Go's %v prints a whole float64 without a fractional part.
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _body(kind: str, detail: str, *, value: Any = None, show_value: bool = False) -> str:
    text = f"{kind}: {format_value(value)}" if show_value else kind
    return f"{text}: {detail}" if detail else text


def invalid(field: str, value: Any, detail: str = "") -> Cause:
    """A malformed value: failed pattern, out of bounds, wrong format."""
    return Cause(field, "FieldValueInvalid", _body("Invalid value", detail, value=value, show_value=True))


def type_invalid(field: str, value: Any, detail: str) -> Cause:
    """A value of the wrong JSON type (``must be of type integer``)."""
    return Cause(field, "FieldValueTypeInvalid", _body("Invalid value", detail, value=value, show_value=True))


def required(field: str, detail: str = "") -> Cause:
    """A required value is missing or empty."""
    return Cause(field, "FieldValueRequired", _body("Required value", detail))


def not_supported(field: str, value: Any, supported: Iterable[Any]) -> Cause:
    """A value outside an enumeration; the message lists the supported values as Kubernetes does."""
    quoted = ", ".join(json.dumps(str(v), ensure_ascii=False) for v in supported)
    detail = f"supported values: {quoted}" if quoted else ""
    return Cause(
        field, "FieldValueNotSupported", _body("Unsupported value", detail, value=value, show_value=True)
    )


def duplicate(field: str, value: Any) -> Cause:
    """A value that must be unique appears twice (list-map keys, names)."""
    return Cause(field, "FieldValueDuplicate", _body("Duplicate value", "", value=value, show_value=True))


def forbidden(field: str, detail: str) -> Cause:
    """A well-formed value that is not allowed here."""
    return Cause(field, "FieldValueForbidden", _body("Forbidden", detail))


def too_long(field: str, max_length: int) -> Cause:
    """A string longer than allowed; like Kubernetes, the value itself is not echoed."""
    unit = "byte" if max_length == 1 else "bytes"
    return Cause(field, "FieldValueTooLong", _body("Too long", f"may not be more than {max_length} {unit}"))


def too_many(field: str, actual: int, max_items: int) -> Cause:
    """A list with more items than allowed."""
    unit = "item" if max_items == 1 else "items"
    detail = f"must have at most {max_items} {unit}"
    return Cause(field, "FieldValueTooMany", _body("Too many", detail, value=actual, show_value=True))
