"""The fields of built-in kinds, as Kubernetes' typed decoders know them: unknown ones are reported, dropped.

A real API server decodes a built-in object into its Go struct, so a field the struct does not have is lost
(``fieldValidation=Ignore``), reported in a ``Warning`` header (``Warn``, the default), or refused with 400
(``Strict``, what kubectl sends). The structs' fields come from the same generated table as the protobuf
decoder (``protobuf_types.json``, JSON names and Go types of k8s.io/api), so every built-in kind served has
its complete schema here. Paths are written as ``sigs.k8s.io/json`` writes them: ``spec.template.foo``,
``spec.containers[0].foo``; ``metadata`` included (``metadata.foo``).

One walk does both jobs, on every write a client sends, so it is kept cheap: each Go type is compiled once
into nested :class:`_Node` objects, paths are only spelled out for fields actually unknown, and nothing is
copied unless something is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from lws.sim import protobuf

__all__ = ["check", "known"]

_SCALARS = frozenset({"string", "bytes", "bool", "int32", "int64", "int", "float64"})


@dataclass(eq=False)
class _Node:
    """How to walk a value of one Go type: ``kind`` is ``leaf``, ``list``, ``map`` or ``struct``."""

    kind: str
    item: _Node | None = None
    fields: dict[str, _Node] = field(default_factory=dict)


_LEAF = _Node("leaf")


@cache
def _node(expr: str) -> _Node:
    expr = expr.lstrip("*")
    if expr in _SCALARS or expr.startswith("@"):
        return _LEAF
    if expr.startswith("[]"):
        inner = _node(expr[2:])
        return _LEAF if inner is _LEAF else _Node("list", item=inner)
    if expr.startswith("map[string]"):
        inner = _node(expr[len("map[string]") :])
        return _LEAF if inner is _LEAF else _Node("map", item=inner)
    existing = _STRUCTS.get(expr)
    if existing is not None:
        return existing
    node = _Node("struct")
    _STRUCTS[expr] = node  # registered before its fields, so recursive types refer to this node
    node.fields.update(_struct_fields(expr))
    return node


_STRUCTS: dict[str, _Node] = {}


def _struct_fields(type_name: str) -> dict[str, _Node]:
    out: dict[str, _Node] = {}
    for json_name, expr, _omitempty, inline in protobuf.field_table().get(type_name, {}).values():
        if inline:
            out.update(_struct_fields(expr))
        else:
            name = expr.lstrip("*")
            out[json_name] = _STRUCTS.get(name) or _node(expr)
    return out


def known(api_version: str, kind: str) -> str | None:
    """The Go type name of a built-in kind, or None when this table does not describe it."""
    return protobuf.kind_types().get(f"{api_version}/{kind}")


def check(type_name: str, body: Any) -> tuple[Any, list[str]]:
    """``(body without unknown fields, their paths)`` for a body of Go type ``type_name``.

    ``apiVersion``/``kind`` at the top and strategic-merge directives (``$patch``...) are known everywhere.
    The body itself comes back when nothing is unknown.
    """
    found: list[str] = []
    pruned = _walk(_node(type_name), body, [], found, top=True)
    return pruned, found


def _walk(node: _Node, value: Any, path: list[str | int], found: list[str], *, top: bool = False) -> Any:
    if node.kind == "leaf" or value is None:
        return value
    if node.kind == "list":
        if not isinstance(value, list):
            return value
        item = node.item
        assert item is not None
        changed = None
        for index, element in enumerate(value):
            path.append(index)
            walked = _walk(item, element, path, found)
            path.pop()
            if walked is not element:
                changed = changed if changed is not None else list(value)
                changed[index] = walked
        return value if changed is None else changed
    if not isinstance(value, Mapping):
        return value
    if node.kind == "map":
        item = node.item
        assert item is not None
        changed_map = None
        for key, element in value.items():
            path.append(key)
            walked = _walk(item, element, path, found)
            path.pop()
            if walked is not element:
                changed_map = changed_map if changed_map is not None else dict(value)
                changed_map[key] = walked
        return value if changed_map is None else changed_map
    fields = node.fields
    if not fields:
        return value  # a type the table does not describe: nothing to say
    result = None
    for key, element in value.items():
        child = fields.get(key)
        if child is None:
            if (top and key in ("apiVersion", "kind")) or key.startswith("$"):
                continue  # TypeMeta; strategic-merge directives in a patch
            found.append(_spelled(path, key))
            result = result if result is not None else dict(value)
            del result[key]
            continue
        if child.kind == "leaf" or element is None:
            continue
        path.append(key)
        walked = _walk(child, element, path, found)
        path.pop()
        if walked is not element:
            result = result if result is not None else dict(value)
            result[key] = walked
    return value if result is None else result


def _spelled(path: list[str | int], key: str) -> str:
    """``spec.containers[0].name``: keys joined by dots, list indexes in brackets."""
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    return (text + "." + key).lstrip(".")
