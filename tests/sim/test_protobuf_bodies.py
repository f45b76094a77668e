"""Kubernetes protobuf request bodies (lws.sim.protobuf), encoded here field by field as client-go does."""

from __future__ import annotations

import pytest

from lws.sim.protobuf import ProtobufError, decode_object


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, payload: bytes | str | int | bool) -> bytes:
    if isinstance(payload, bool | int):
        return varint(number << 3) + varint(int(payload))
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(number << 3 | 2) + varint(len(data)) + data


def entry(number: int, key: str, value: str | bytes) -> bytes:
    return field(number, field(1, key) + field(2, value))


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return (
        b"k8s\x00"
        + field(1, field(1, api_version) + field(2, kind))
        + field(2, raw)
        + field(3, "")
        + field(4, "")
    )


def object_meta(**extra: bytes) -> bytes:
    # Go's generated marshaller writes every non-pointer field, zero or not.
    return (
        field(1, "demo")
        + field(2, "")
        + field(3, "")
        + field(6, "")
        + field(7, 0)
        + field(8, b"")
        + entry(11, "team", "a")
        + entry(11, "tier", "b")
        + b"".join(extra.values())
    )


def test_a_namespace_as_kubectl_create_sends_it() -> None:
    raw = field(1, object_meta()) + field(2, field(1, "kubernetes")) + field(3, field(1, ""))
    assert decode_object(envelope("v1", "Namespace", raw)) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "demo", "labels": {"team": "a", "tier": "b"}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {},
    }


def test_config_maps_and_secrets_keep_binary_data_as_base64_and_pointer_booleans() -> None:
    meta = object_meta(
        owner=field(13, field(1, "Deployment") + field(3, "d") + field(4, "u-1") + field(6, False))
    )
    raw = field(1, meta) + entry(2, "a", "1") + entry(3, "blob", b"\x00\x01") + field(4, False)
    decoded = decode_object(envelope("v1", "ConfigMap", raw))
    assert decoded["data"] == {"a": "1"}
    assert decoded["binaryData"] == {"blob": "AAE="}
    assert decoded["immutable"] is False
    assert decoded["metadata"]["ownerReferences"] == [
        {"kind": "Deployment", "name": "d", "uid": "u-1", "controller": False}
    ]

    secret = decode_object(
        envelope("v1", "Secret", field(1, object_meta()) + entry(2, "k", b"v") + field(3, "Opaque"))
    )
    assert (secret["data"], secret["type"]) == ({"k": "dg=="}, "Opaque")


def test_times_become_rfc3339() -> None:
    meta = field(1, "x") + field(9, field(1, 1_700_000_000) + field(2, 0)) + field(10, 30)
    decoded = decode_object(envelope("v1", "ServiceAccount", field(1, meta)))
    assert decoded["metadata"] == {
        "name": "x",
        "deletionTimestamp": "2023-11-14T22:13:20Z",
        "deletionGracePeriodSeconds": 30,
    }


def test_unknown_kinds_say_what_to_do_instead() -> None:
    with pytest.raises(ProtobufError, match="send it as JSON") as raised:
        decode_object(envelope("apps/v1", "Deployment", b""))
    assert raised.value.unsupported


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b"k8s\x00\x0a\xff",
        b"k8s\x00" + field(3, "gzip") + field(1, field(1, "v1") + field(2, "ConfigMap")),
    ],
)
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(ProtobufError) as raised:
        decode_object(body)
    assert not raised.value.unsupported
