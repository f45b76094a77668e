"""Decoded JSON values: their type, named as OpenAPI schemas (and so Kubernetes' schema errors) name it, and
equality as JSON means it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["json_equal", "json_type"]


def json_type(value: object) -> str:
    """``null``, ``boolean``, ``integer``, ``number``, ``string``, ``object`` or ``array``.

    ``True`` is a boolean, not an integer, and a whole float is still a ``number``. Anything JSON cannot
    hold (a tuple, a date YAML decoded) is named by its Python type, so a message never claims it fits.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def json_equal(left: Any, right: Any) -> bool:
    """Equality of JSON values that, unlike ``==``, tells ``true`` from ``1`` (but ``1`` equals ``1.0``)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        return False
    return bool(left == right)
