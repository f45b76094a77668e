"""The type of a decoded JSON value, named as OpenAPI schemas (and so Kubernetes' schema errors) name it."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["json_type"]


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
