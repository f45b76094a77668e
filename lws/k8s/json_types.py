"""Decoded JSON values: their type, named as OpenAPI schemas (and so Kubernetes' schema errors) name it,
equality as JSON means it, and how deeply they nest (found without recursion, so that a hostile document
cannot exhaust the stack of whoever checks it)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["format_path", "json_equal", "json_type", "too_deep", "too_deep_in_text"]

PathPart = str | int


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


def too_deep(value: Any, limit: int) -> list[PathPart] | None:
    """The path (keys and indices) to the first object or array nested deeper than ``limit``, else ``None``.

    The value at the top is level 1. Iterative: safe on any depth.
    """
    stack: list[tuple[Any, list[PathPart]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        children: list[tuple[PathPart, Any]]
        if isinstance(item, Mapping):
            children = list(item.items())
        elif isinstance(item, list):
            children = list(enumerate(item))
        else:
            continue
        if len(path) >= limit:
            return path
        stack.extend((child, [*path, key]) for key, child in reversed(children))
    return None


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:,]')


def too_deep_in_text(text: str, limit: int) -> list[PathPart] | None:
    """:func:`too_deep` for JSON text, without parsing it (a parser may itself recurse too deeply).

    Text that is not JSON gives a best guess; whoever parses it next reports the syntax error.
    """
    if text.count("{") + text.count("[") <= limit:
        return None  # cannot nest deeper than it has brackets: two C-speed counts for the common case
    frames: list[list[Any]] = []  # [kind, key or index] per open container
    last: str | None = None
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token[0] == '"':
            last = token
        elif token == ":":
            if frames and last is not None:
                try:
                    frames[-1][1] = json.loads(last)
                except ValueError:
                    frames[-1][1] = last.strip('"')
        elif token == ",":
            if frames and frames[-1][0] == "[":
                frames[-1][1] += 1
        elif token in "{[":
            if len(frames) >= limit:
                return [frame[1] for frame in frames]
            frames.append([token, 0 if token == "[" else ""])
        elif frames:
            frames.pop()
    return None


def format_path(path: list[PathPart], *, shown: int = 12) -> str:
    """``spec.items[0].name`` for a path; a long one is cut after ``shown`` parts, with ``...``."""
    text = ""
    for part in path[:shown]:
        text = f"{text}[{part}]" if isinstance(part, int) else (f"{text}.{part}" if text else str(part))
    return text + ("..." if len(path) > shown else "")
