"""Request bodies in Kubernetes' protobuf encoding, for the few kinds kubectl's generators send that way.

kubectl's ``create namespace``, ``create configmap``, ``create secret`` and ``create serviceaccount`` use
client-go's typed clients, which send built-in objects as ``application/vnd.kubernetes.protobuf`` (the
answer may be JSON, which this server always sends). This module decodes those bodies: the ``k8s\\x00``
magic, the ``runtime.Unknown`` envelope with the object's ``apiVersion``/``kind``, and the object itself,
field by field from the numbers in Kubernetes' ``generated.proto`` files, into the JSON form the rest of
the server works on (zero values of non-pointer fields left out, as Go's JSON encoding leaves them out).

Other kinds answer 415 with a message saying what to do instead (send JSON, e.g. ``kubectl apply -f``).
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MEDIA_TYPE", "ProtobufError", "decode_object", "supported_kinds"]

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """A protobuf body that cannot be decoded; ``unsupported`` when the kind is simply not known here."""

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        super().__init__(message)
        self.unsupported = unsupported


@dataclass(frozen=True)
class _Field:
    """One field of a message: its JSON name and how to read it.

    ``kind`` is ``string``, ``bytes`` (base64 in JSON), ``bool``, ``int``, ``time`` (``metav1.Time``),
    ``message``, ``map_string`` or ``map_bytes``. ``pointer`` fields keep zero values (Go omits only nil).
    """

    name: str
    kind: str
    repeated: bool = False
    pointer: bool = False
    message: Mapping[int, _Field] = field(default_factory=dict)


_TIME = {1: _Field("seconds", "int"), 2: _Field("nanos", "int")}
_OWNER_REFERENCE = {
    1: _Field("kind", "string"),
    3: _Field("name", "string"),
    4: _Field("uid", "string"),
    5: _Field("apiVersion", "string"),
    6: _Field("controller", "bool", pointer=True),
    7: _Field("blockOwnerDeletion", "bool", pointer=True),
}
_OBJECT_META = {
    1: _Field("name", "string"),
    2: _Field("generateName", "string"),
    3: _Field("namespace", "string"),
    4: _Field("selfLink", "string"),
    5: _Field("uid", "string"),
    6: _Field("resourceVersion", "string"),
    7: _Field("generation", "int"),
    8: _Field("creationTimestamp", "time"),
    9: _Field("deletionTimestamp", "time", pointer=True),
    10: _Field("deletionGracePeriodSeconds", "int", pointer=True),
    11: _Field("labels", "map_string"),
    12: _Field("annotations", "map_string"),
    13: _Field("ownerReferences", "message", repeated=True, message=_OWNER_REFERENCE),
    14: _Field("finalizers", "string", repeated=True),
}
_METADATA = _Field("metadata", "message", message=_OBJECT_META)
_OBJECT_REFERENCE = {
    1: _Field("kind", "string"),
    2: _Field("namespace", "string"),
    3: _Field("name", "string"),
    4: _Field("uid", "string"),
    5: _Field("apiVersion", "string"),
    6: _Field("resourceVersion", "string"),
    7: _Field("fieldPath", "string"),
}

# Field numbers from k8s.io/api/core/v1/generated.proto.
_KINDS: dict[tuple[str, str], Mapping[int, _Field]] = {
    ("v1", "Namespace"): {
        1: _METADATA,
        2: _Field("spec", "message", message={1: _Field("finalizers", "string", repeated=True)}),
        3: _Field("status", "message", message={1: _Field("phase", "string")}),
    },
    ("v1", "ConfigMap"): {
        1: _METADATA,
        2: _Field("data", "map_string"),
        3: _Field("binaryData", "map_bytes"),
        4: _Field("immutable", "bool", pointer=True),
    },
    ("v1", "Secret"): {
        1: _METADATA,
        2: _Field("data", "map_bytes"),
        3: _Field("type", "string"),
        4: _Field("stringData", "map_string"),
        5: _Field("immutable", "bool", pointer=True),
    },
    ("v1", "ServiceAccount"): {
        1: _METADATA,
        2: _Field("secrets", "message", repeated=True, message=_OBJECT_REFERENCE),
        3: _Field("imagePullSecrets", "message", repeated=True, message={1: _Field("name", "string")}),
        4: _Field("automountServiceAccountToken", "bool", pointer=True),
    },
}


def supported_kinds() -> list[str]:
    """``apiVersion/kind`` of every kind whose protobuf encoding this module reads."""
    return [f"{api_version}/{kind}" for api_version, kind in _KINDS]


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
            yield number, wire_type, int.from_bytes(data[position : position + size], "little")
            position += size
        else:
            raise ProtobufError(f"unsupported wire type {wire_type} for field {number}")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _time(data: bytes) -> str | None:
    parts = _message(data, _TIME)
    seconds = int(parts.get("seconds", 0))
    if not seconds:
        return None
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _map_entry(data: bytes, value_kind: str) -> tuple[str, Any]:
    key, value = "", b""
    for number, _, raw in _wire(data):
        if number == 1:
            key = bytes(raw).decode()
        elif number == 2:
            value = raw
    if value_kind == "map_string":
        return key, bytes(value).decode()
    return key, base64.b64encode(bytes(value)).decode()


def _value(spec: _Field, raw: Any) -> Any:
    if spec.kind == "string":
        return bytes(raw).decode()
    if spec.kind == "bytes":
        return base64.b64encode(bytes(raw)).decode()
    if spec.kind == "bool":
        return bool(raw)
    if spec.kind == "int":
        return _signed(int(raw))
    if spec.kind == "time":
        return _time(bytes(raw))
    return _message(bytes(raw), spec.message)


def _message(data: bytes, fields: Mapping[int, _Field]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, _, raw in _wire(data):
        spec = fields.get(number)
        if spec is None:
            continue  # a field newer than this table: Kubernetes would know it, clients rarely send it
        if spec.kind in ("map_string", "map_bytes"):
            key, value = _map_entry(bytes(raw), spec.kind)
            out.setdefault(spec.name, {})[key] = value
            continue
        value = _value(spec, raw)
        if spec.repeated:
            out.setdefault(spec.name, []).append(value)
        elif value is None or (not spec.pointer and value in ("", 0) and not isinstance(value, bool)):
            out.pop(spec.name, None)
        else:
            out[spec.name] = value
    return out


def decode_object(data: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object (``k8s\\x00`` + ``runtime.Unknown``).

    :raises ProtobufError: the body is not Kubernetes protobuf, or (``unsupported``) its kind is not one this
        module knows; the message names the kind and what to send instead.
    """
    if not data.startswith(_MAGIC):
        raise ProtobufError("a Kubernetes protobuf body starts with the magic bytes k8s\\x00")
    envelope: dict[str, Any] = {}
    for number, _, raw in _wire(data[len(_MAGIC) :]):
        if number == 1:
            type_meta = _message(bytes(raw), {1: _Field("apiVersion", "string"), 2: _Field("kind", "string")})
            envelope.update(type_meta)
        elif number == 2:
            envelope["raw"] = bytes(raw)
        elif number == 3 and raw:
            raise ProtobufError(f"content encoding {bytes(raw).decode()!r} is not supported")
    api_version, kind = envelope.get("apiVersion", ""), envelope.get("kind", "")
    fields = _KINDS.get((api_version, kind))
    if fields is None:
        raise ProtobufError(
            f"the embedded cluster reads protobuf bodies only for {', '.join(supported_kinds())}, not for "
            f"{api_version}/{kind}; send it as JSON (for instance with kubectl apply -f)",
            unsupported=True,
        )
    obj = {"apiVersion": api_version, "kind": kind}
    obj.update(_message(envelope.get("raw", b""), fields))
    return obj
