"""Request bodies in Kubernetes' protobuf encoding, for every built-in kind the embedded cluster serves.

client-go's typed clients (kubectl's ``create namespace|configmap|secret|deployment|service|role|...``) send
built-in objects as ``application/vnd.kubernetes.protobuf``; the answer may be JSON, which this server always
sends. This module decodes such bodies into the JSON form the rest of the server works on: the ``k8s\\x00``
magic, the ``runtime.Unknown`` envelope with the object's ``apiVersion``/``kind``, then the object itself,
field by field, from a table of every message's fields (``protobuf_types.json`` beside this module: the
protobuf field numbers, JSON names, Go types and ``omitempty`` of k8s.io/api's structs, written by
``hack/sim-protobuf`` with Go reflection over their ``protobuf`` struct tags).

The JSON is what Go's ``encoding/json`` writes for the decoded struct: zero values of non-pointer
``omitempty`` fields left out (Go's protobuf marshaller writes them all), pointers kept even when zero,
``json:",inline"`` members merged into their parent, times in RFC 3339, quantities and int-or-strings as
their JSON scalars, bytes in base64. Kinds outside the table answer 415 with a message saying what to send
instead (JSON, e.g. ``kubectl apply -f``).
"""

from __future__ import annotations

import base64
import datetime
import json
import struct
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["MEDIA_TYPE", "ProtobufError", "decode_object", "field_table", "kind_types", "supported_kinds"]

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"
_SCALAR_ZERO: dict[str, Any] = {"string": "", "bool": False, "int32": 0, "int64": 0, "int": 0, "float64": 0.0}

Field = tuple[str, str, bool, bool]
"""JSON name, Go type expression, omitempty, inline."""


class ProtobufError(ValueError):
    """A protobuf body that cannot be decoded; ``unsupported`` when the kind is simply not known here."""

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        super().__init__(message)
        self.unsupported = unsupported


@cache
def _table() -> tuple[dict[str, str], dict[str, dict[int, Field]]]:
    """``(apiVersion/kind -> type name, type name -> {field number: Field})`` from protobuf_types.json."""
    raw = json.loads(resources.files("lws.sim").joinpath("protobuf_types.json").read_text())
    types: dict[str, dict[int, Field]] = {}
    for name, fields in raw["types"].items():
        types[name] = {
            int(number): (json_name, expr, "omitempty" in flags.split(","), "inline" in flags.split(","))
            for number, json_name, expr, flags in fields
        }
    return dict(raw["kinds"]), types


def kind_types() -> dict[str, str]:
    """``apiVersion/kind`` -> Go type name (``core/v1.Pod``) of every built-in kind in the table."""
    return _table()[0]


def field_table() -> dict[str, dict[int, Field]]:
    """Go type name -> {protobuf field number: (JSON name, Go type, omitempty, inline)}."""
    return _table()[1]


def supported_kinds() -> list[str]:
    """``apiVersion/kind`` of every kind whose protobuf encoding this module reads."""
    return sorted(_table()[0])


def decode_object(data: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object (``k8s\\x00`` + ``runtime.Unknown``).

    :raises ProtobufError: the body is not Kubernetes protobuf, or (``unsupported``) its kind is not one this
        module knows; the message names the kind and what to send instead.
    """
    if not data.startswith(_MAGIC):
        raise ProtobufError("a Kubernetes protobuf body starts with the magic bytes k8s\\x00")
    api_version = kind = ""
    payload = b""
    for number, wire_type, raw in _wire(data[len(_MAGIC) :]):
        if number == 1 and wire_type == 2:
            for inner, inner_wire, value in _wire(bytes(raw)):
                if inner_wire == 2 and inner in (1, 2):
                    text = bytes(value).decode()
                    api_version, kind = (text, kind) if inner == 1 else (api_version, text)
        elif number == 2 and wire_type == 2:
            payload = bytes(raw)
        elif number == 3 and wire_type == 2 and raw:
            raise ProtobufError(f"content encoding {bytes(raw).decode()!r} is not supported")
    kinds, _ = _table()
    type_name = kinds.get(f"{api_version}/{kind}")
    if type_name is None:
        raise ProtobufError(
            f"the embedded cluster reads protobuf bodies only for built-in kinds it serves, not for "
            f"{api_version}/{kind}; send it as JSON (for instance with kubectl apply -f)",
            unsupported=True,
        )
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    obj.update(_message(payload, type_name))
    return obj


# -- the wire format -------------------------------------------------------------------------------


def _wire(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """``(field number, wire type, value)`` of each field of an encoded message."""
    position = 0

    def varint() -> int:
        nonlocal position
        result = shift = 0
        while True:
            if position >= len(data):
                raise ProtobufError("truncated varint")
            byte = data[position]
            position += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ProtobufError("varint longer than 64 bits")

    while position < len(data):
        key = varint()
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            yield number, wire_type, varint()
        elif wire_type == 2:
            length = varint()
            if position + length > len(data):
                raise ProtobufError("truncated length-delimited field")
            yield number, wire_type, data[position : position + length]
            position += length
        elif wire_type in (1, 5):
            size = 8 if wire_type == 1 else 4
            if position + size > len(data):
                raise ProtobufError("truncated fixed-size field")
            yield number, wire_type, data[position : position + size]
            position += size
        else:
            raise ProtobufError(f"unsupported wire type {wire_type} for field {number}")


def _varints(data: bytes) -> Iterator[int]:
    """The values of a packed repeated varint field."""
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            if shift > 63:
                raise ProtobufError("varint longer than 64 bits")
            continue
        yield value
        value = shift = 0
    if shift:
        raise ProtobufError("truncated packed varint")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


# -- messages --------------------------------------------------------------------------------------


def _message(data: bytes, type_name: str) -> dict[str, Any]:
    """A message of Go type ``type_name`` as Go's JSON encoding writes it."""
    fields = _table()[1].get(type_name)
    if fields is None:
        raise ProtobufError(f"no field table for {type_name}")
    out: dict[str, Any] = {}
    for number, wire_type, raw in _wire(data):
        spec = fields.get(number)
        if spec is None:
            continue  # a field newer than this table: Kubernetes' decoder skips it too
        name, expr, omitempty, inline = spec
        if inline:
            out.update(_message(bytes(raw), expr))
            continue
        if expr.startswith("[]"):
            out.setdefault(name, []).extend(_repeated(expr[2:], wire_type, raw))
        elif expr.startswith("map[string]"):
            key, value = _map_entry(bytes(raw), expr[len("map[string]") :])
            out.setdefault(name, {})[key] = value
        else:
            pointer = expr.startswith("*")
            value = _value(expr.lstrip("*"), wire_type, raw)
            if value is None or (omitempty and not pointer and _is_zero(expr, value)):
                out.pop(name, None)
            else:
                out[name] = value
    return out


def _is_zero(expr: str, value: Any) -> bool:
    return expr in _SCALAR_ZERO and value == _SCALAR_ZERO[expr] and type(value) is type(_SCALAR_ZERO[expr])


def _repeated(expr: str, wire_type: int, raw: Any) -> list[Any]:
    if wire_type == 2 and expr in ("int32", "int64", "int", "bool"):
        return [_scalar(expr, value) for value in _varints(bytes(raw))]  # packed
    return [_value(expr, wire_type, raw)]


def _map_entry(data: bytes, expr: str) -> tuple[str, Any]:
    key: str = ""
    value: Any = "" if expr in ("string", "bytes") else None
    for number, wire_type, raw in _wire(data):
        if number == 1:
            key = bytes(raw).decode()
        elif number == 2:
            value = _value(expr, wire_type, raw)
    return key, value


def _value(expr: str, wire_type: int, raw: Any) -> Any:
    """One field's value of Go type ``expr`` (a scalar, ``bytes``, a special type or a struct)."""
    if expr == "string":
        return bytes(raw).decode()
    if expr == "bytes":
        return base64.b64encode(bytes(raw)).decode()
    if expr in ("bool", "int32", "int64", "int"):
        return _scalar(expr, raw)
    if expr == "float64":
        return struct.unpack("<d", bytes(raw))[0] if wire_type == 1 else float(raw)
    if expr.startswith("@"):
        return _special(expr[1:], bytes(raw))
    return _message(bytes(raw), expr)


def _scalar(expr: str, raw: Any) -> Any:
    if not isinstance(raw, int):
        raise ProtobufError(f"a {expr} field must be a varint")
    return bool(raw) if expr == "bool" else _signed(raw)


def _parts(data: bytes) -> dict[int, Any]:
    return {number: value for number, _, value in _wire(data)}


def _special(kind: str, data: bytes) -> Any:
    """Types with a message of their own on the wire and a scalar in JSON."""
    parts = _parts(data)
    if kind in ("Time", "MicroTime"):
        seconds, nanos = _signed(int(parts.get(1, 0))), int(parts.get(2, 0))
        if not seconds and not nanos:
            return None  # the zero time: JSON null, left out
        moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
        if kind == "Time":
            return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
    if kind == "Quantity":
        return bytes(parts.get(1, b"")).decode() or "0"
    if kind == "IntOrString":
        if int(parts.get(1, 0)) == 1:
            return bytes(parts.get(3, b"")).decode()
        return _signed(int(parts.get(2, 0)))
    if kind == "Duration":
        return _go_duration(_signed(int(parts.get(1, 0))))
    if kind == "RawExtension":
        raw = bytes(parts.get(1, b""))
        if not raw:
            return None
        if raw.startswith(_MAGIC):
            return decode_object(raw)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ProtobufError(f"an embedded object is neither JSON nor Kubernetes protobuf: {exc}") from exc
    raise ProtobufError(f"no decoder for {kind}")


def _go_duration(nanos: int) -> str:
    """A duration as Go's ``time.Duration.String`` writes it (``1h2m3.5s``, ``1.5ms``, ``0s``)."""
    if nanos == 0:
        return "0s"
    sign, nanos = ("-", -nanos) if nanos < 0 else ("", nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return sign + _trimmed(nanos / size) + unit
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{hours}h" if hours else ""
    if hours or minutes:
        text += f"{minutes}m"
    return sign + text + _trimmed(rest / 1_000_000_000) + "s"


def _trimmed(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"
