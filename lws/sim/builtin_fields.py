"""The fields of built-in kinds, as Kubernetes' typed decoders know them: unknown ones are reported, dropped.

A real API server decodes a built-in object into its Go struct, so a field the struct does not have is lost
(``fieldValidation=Ignore``), reported in a ``Warning`` header (``Warn``, the default), or refused with 400
(``Strict``, what kubectl sends). The structs' fields come from the same generated table as the protobuf
decoder (``protobuf_types.json``, JSON names and Go types of k8s.io/api), so every built-in kind served has
its complete schema here. Paths are written as ``sigs.k8s.io/json`` writes them: ``spec.template.foo``,
``spec.containers[0].foo``; ``metadata`` included (``metadata.foo``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from lws.sim import protobuf

__all__ = ["known", "prune_unknown", "unknown_fields"]

Fields = dict[str, str]
"""JSON name -> Go type expression (inline members merged in)."""


@cache
def _fields(type_name: str) -> Fields:
    types = protobuf.field_table()
    out: Fields = {}
    for json_name, expr, _omitempty, inline in types.get(type_name, {}).values():
        if inline:
            out.update(_fields(expr))
        else:
            out[json_name] = expr
    return out


def known(api_version: str, kind: str) -> str | None:
    """The Go type name of a built-in kind, or None when this table does not describe it."""
    return protobuf.kind_types().get(f"{api_version}/{kind}")


def unknown_fields(type_name: str, body: Any) -> list[str]:
    """Paths of ``body``'s fields that type ``type_name`` does not have (``apiVersion``, ``kind`` known)."""
    found: list[str] = []
    _walk(type_name, body, "", found, prune=False, top=True)
    return found


def prune_unknown(type_name: str, body: Any) -> Any:
    """``body`` without the fields type ``type_name`` does not have (a copy where something was dropped)."""
    return _walk(type_name, body, "", [], prune=True, top=True)


def _walk(expr: str, value: Any, path: str, found: list[str], *, prune: bool, top: bool = False) -> Any:
    expr = expr.lstrip("*")
    if (
        value is None
        or expr.startswith("@")
        or expr in ("string", "bytes", "bool", "int32", "int64", "int", "float64")
    ):
        return value
    if expr.startswith("[]"):
        if not isinstance(value, list):
            return value
        items = [_walk(expr[2:], item, f"{path}[{i}]", found, prune=prune) for i, item in enumerate(value)]
        return items if prune else value
    if expr.startswith("map[string]"):
        if not isinstance(value, Mapping):
            return value
        inner = expr[len("map[string]") :]
        entries = {
            key: _walk(inner, item, f"{path}.{key}" if path else key, found, prune=prune)
            for key, item in value.items()
        }
        return entries if prune else value
    if not isinstance(value, Mapping):
        return value
    fields = _fields(expr)
    if not fields:
        return value  # a type the table does not describe: nothing to say
    kept: dict[str, Any] = {}
    for key, item in value.items():
        child = f"{path}.{key}" if path else key
        field_expr = fields.get(key)
        if field_expr is None:
            if (top and key in ("apiVersion", "kind")) or key.startswith("$"):
                kept[key] = item  # TypeMeta; strategic-merge directives in a patch
                continue
            found.append(child)
            continue
        kept[key] = _walk(field_expr, item, child, found, prune=prune)
    return kept if prune else value
