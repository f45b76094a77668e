"""Kubernetes objects as a Go controller writes them: ``json.Marshal`` of the typed struct, byte for byte.

Upstream hashes some objects by marshalling Go structs (the DisaggregatedSet revision is
``sha256(json.Marshal(...))``), so matching its hashes means matching Go's ``encoding/json`` output for an
object that was first *decoded* into those structs: fields in Go struct order, unknown fields dropped,
``omitempty``/``omitzero`` applied, map keys sorted, quantities and times re-encoded by their own
``MarshalJSON``, and strings escaped as Go escapes them (``<``, ``>``, ``&`` and U+2028/2029 included).

The Go types come from ``go_types.json`` beside this module, written by ``hack/go-types`` with Go
reflection over ``k8s.io/api``. The kubernetes Python client's models are no substitute: their attributes
are in alphabetical order, not Go's. A JSON ``null`` counts as absent, as in an object stored through a
structural schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from lws.k8s.quantity import QuantityError, canonical_quantity

__all__ = ["GoJSONError", "GoTypes", "kubernetes_types"]

Field = tuple[str, str, str]  # JSON name, type expression, tag options

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1), "int": (-(2**63), 2**63 - 1)}
_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_HTML_CHARS = re.compile("[<>&\u2028\u2029]")
_SURROGATES = re.compile("[\ud800-\udfff]")


class GoJSONError(ValueError):
    """The value could not be decoded into the Go type (Go's decoder would fail too)."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"{path or '(root)'}: {detail}")


@dataclass(frozen=True)
class GoTypes:
    """Go struct types by name (``core/v1.Container``), each a list of its JSON fields in encoding order.

    A type expression is ``*T``, ``[]T``, ``map[string]T``, a scalar kind (``string``, ``bool``, ``int32``,
    ``int64``), a struct name, or ``@Quantity``/``@IntOrString``/``@Time`` for the structs with their own
    ``MarshalJSON``.
    """

    types: Mapping[str, Sequence[Field]]

    def extended(self, more: Mapping[str, Sequence[Field]]) -> GoTypes:
        """These types plus ``more`` (e.g. an API's own structs that embed Kubernetes types)."""
        return GoTypes({**self.types, **more})

    def marshal(self, value: Any, type_expr: str) -> str:
        """``json.Marshal`` of ``value`` decoded into ``type_expr``: compact JSON text, as Go writes it.

        Raises :class:`GoJSONError` (with the JSON path) where Go's decoder would reject the value.
        """
        out: list[str] = []
        self._encode(value, type_expr, "", out)
        return "".join(out)

    # --- encoding --------------------------------------------------------------------------------------

    def _encode(self, value: Any, texpr: str, path: str, out: list[str]) -> None:
        if value is None:
            out.append(self._zero(texpr))
        elif texpr.startswith("*"):
            self._encode(value, texpr[1:], path, out)
        elif texpr.startswith("[]"):
            if not isinstance(value, list):
                raise GoJSONError(path, f"must be an array, not {_kind(value)}")
            out.append("[")
            for i, item in enumerate(value):
                if i:
                    out.append(",")
                self._encode(item, texpr[2:], f"{path}[{i}]", out)
            out.append("]")
        elif texpr.startswith("map[string]"):
            if not isinstance(value, Mapping):
                raise GoJSONError(path, f"must be an object, not {_kind(value)}")
            out.append("{")
            # Go writes map keys sorted; code point order equals the UTF-8 byte order Go sorts by.
            for i, key in enumerate(sorted(value)):
                if i:
                    out.append(",")
                out.append(go_string(key))
                out.append(":")
                self._encode(value[key], texpr[len("map[string]") :], f"{path}.{key}", out)
            out.append("}")
        elif texpr.startswith("@"):
            out.append(self._special(value, texpr[1:], path))
        elif texpr in self.types:
            self._encode_struct(value, texpr, path, out)
        else:
            out.append(_scalar(value, texpr, path))

    def _encode_struct(self, value: Any, texpr: str, path: str, out: list[str]) -> None:
        if not isinstance(value, Mapping):
            raise GoJSONError(path, f"must be an object, not {_kind(value)}")
        out.append("{")
        first = True
        for name, ftype, opts in self.types[texpr]:
            item = value.get(name)  # decoding is case-sensitive; other keys are dropped
            options = opts.split(",")
            if "omitempty" in options and _empty(item, ftype, self.types):
                continue
            if "omitzero" in options and self._zero_value(item, ftype):
                continue
            if not first:
                out.append(",")
            first = False
            out.append(go_string(name))
            out.append(":")
            self._encode(item, ftype, f"{path}.{name}" if path else name, out)
        out.append("}")

    def _zero(self, texpr: str) -> str:
        """How Go writes the zero value of a type (an absent or null field)."""
        if texpr.startswith(("*", "[]", "map[string]")) or texpr in ("bytes", "@Time", "@FieldsV1"):
            return "null"
        if texpr == "@Quantity":
            return '"0"'
        if texpr == "@IntOrString":
            return "0"
        if texpr in self.types:
            out: list[str] = []
            self._encode_struct({}, texpr, "", out)
            return "".join(out)
        return {"string": '""', "bool": "false"}.get(texpr, "0")

    def _zero_value(self, value: Any, texpr: str) -> bool:
        """``omitzero``: the decoded value is the type's zero value (``IsZero()`` where the type has one)."""
        if value is None:
            return True
        if texpr == "@Time":
            return _parse_time(value, "") is None
        if texpr.startswith(("*", "[]", "map[string]")):
            return False
        if texpr in self.types:
            return isinstance(value, Mapping) and all(
                self._zero_value(value.get(name), ftype) for name, ftype, _ in self.types[texpr]
            )
        return _empty(value, texpr, self.types)

    def _special(self, value: Any, kind: str, path: str) -> str:
        if kind == "Quantity":
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise GoJSONError(path, f"must be a quantity (a string or a number), not {_kind(value)}")
            text = value if isinstance(value, str) else _go_number(value)
            try:
                return go_string(canonical_quantity(text))
            except QuantityError as exc:
                raise GoJSONError(path, str(exc)) from None
        if kind == "IntOrString":
            if isinstance(value, str):
                return go_string(value)
            return _scalar(value, "int32", path)
        if kind == "Time":
            parsed = _parse_time(value, path)
            return "null" if parsed is None else go_string(parsed.strftime("%Y-%m-%dT%H:%M:%SZ"))
        raise GoJSONError(path, f"a {kind} value is not supported here")


def _empty(value: Any, texpr: str, types: Mapping[str, Any]) -> bool:
    """Go's ``omitempty``: false, 0, "", a nil pointer, and an empty (or nil) slice or map; never a struct."""
    if value is None:
        return not (texpr in types or texpr.startswith("@"))
    if texpr.startswith(("[]", "map[string]")) or texpr == "string":
        return len(value) == 0 if isinstance(value, str | list | Mapping) else False
    if texpr == "bool":
        return value is False
    if texpr in _INT_RANGES or texpr == "float64":
        return value == 0 and not isinstance(value, bool)
    return False


def _scalar(value: Any, texpr: str, path: str) -> str:
    if texpr == "string":
        if not isinstance(value, str):
            raise GoJSONError(path, f"must be a string, not {_kind(value)}")
        return go_string(value)
    if texpr == "bool":
        if not isinstance(value, bool):
            raise GoJSONError(path, f"must be a boolean, not {_kind(value)}")
        return "true" if value else "false"
    if texpr in _INT_RANGES:
        low, high = _INT_RANGES[texpr]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise GoJSONError(path, f"must be an integer that fits an {texpr}, not {value!r}")
        return str(value)
    raise GoJSONError(path, f"the Go type {texpr} is not supported")


def go_string(text: str) -> str:
    """A JSON string as Go's encoder writes it (HTML-safe escapes; invalid UTF-16 becomes U+FFFD)."""
    text = _SURROGATES.sub("\ufffd", text)
    return _HTML_CHARS.sub(lambda m: _HTML_ESCAPES[m.group()], json.dumps(text, ensure_ascii=False))


def _go_number(value: int | float) -> str:
    """A JSON number as the API server wrote it into the stored object (Go's float formatting)."""
    if isinstance(value, int):
        return str(value)
    if value == 0 or 1e-6 <= abs(value) < 1e21:
        # Go writes the shortest digits that round-trip, positionally (Python's repr digits are the same).
        text = format(Decimal(repr(value)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    # Exponent form; Go writes e-7 where Python writes e-07.
    return re.sub(r"e-0(\d)$", r"e-\1", repr(value))


def _parse_time(value: Any, path: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise GoJSONError(path, f"must be an RFC 3339 time string, not {_kind(value)}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise GoJSONError(
            path, f"must be an RFC 3339 time such as 2024-01-31T12:00:00Z, not {value!r}"
        ) from None
    if parsed.tzinfo is None:
        raise GoJSONError(path, f"must carry a time zone (RFC 3339), not {value!r}")
    parsed = parsed.astimezone(UTC)
    return None if parsed == datetime(1, 1, 1, tzinfo=UTC) else parsed


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else type(value).__name__


@cache
def kubernetes_types() -> GoTypes:
    """The Kubernetes types a LeaderWorkerSet template embeds: ``core/v1.PodTemplateSpec``,
    ``core/v1.PersistentVolumeClaim``, ``apps/v1.StatefulSetPersistentVolumeClaimRetentionPolicy`` and all
    they contain."""
    data = json.loads(resources.files("lws.k8s").joinpath("go_types.json").read_text(encoding="utf-8"))
    return GoTypes({name: [tuple(f) for f in fields] for name, fields in data["types"].items()})
