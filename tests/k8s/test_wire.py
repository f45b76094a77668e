"""lws.k8s.wire: orjson's speed, and the values the standard library's json accepts."""

from __future__ import annotations

import json
import math

import pytest

from lws.k8s import wire

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "bench-0", "labels": {"a": "b"}, "annotations": {"note": "café ✓"}},
    "spec": {"containers": [{"name": "app", "image": "app:1", "ports": [{"containerPort": 8080}]}]},
    "status": {"phase": "Running", "ready": True, "deletionGracePeriodSeconds": None, "ratio": 0.5},
}


def test_an_object_round_trips_and_is_compact_utf8() -> None:
    encoded = wire.dumps(POD)
    assert isinstance(encoded, bytes)
    assert json.loads(encoded) == POD
    assert wire.loads(encoded) == POD
    assert b", " not in encoded and b": " not in encoded  # compact, as the API server writes
    assert "café ✓".encode() in encoded  # UTF-8, not \u escapes


@pytest.mark.parametrize(
    "value",
    [
        {"big": 2**70},  # beyond 64 bits: orjson refuses, json does not
        {1: "not a string key"},
    ],
)
def test_what_orjson_refuses_to_encode_is_encoded_as_json_would(value: object) -> None:
    assert wire.dumps(value) == json.dumps(value, separators=(",", ":")).encode()


def test_what_orjson_refuses_to_decode_is_decoded_as_json_would() -> None:
    assert math.isnan(wire.loads(b'{"x": NaN}')["x"])
    assert wire.loads('"\\ud800"') == "\ud800"  # a lone surrogate
    assert wire.loads("[1, 2]") == [1, 2]  # str as well as bytes


def test_integers_up_to_64_bits_decode_exactly_and_larger_ones_as_floats() -> None:
    # An API server sends no larger ones; Kubernetes decodes them into a custom resource as floats too.
    assert wire.loads(b'{"a": -9223372036854775808, "b": 18446744073709551615}') == {
        "a": -(2**63),
        "b": 2**64 - 1,
    }
    assert wire.loads(b'{"big": 123456789012345678901234567890}') == {"big": 1.2345678901234568e29}


@pytest.mark.parametrize("data", [b"", b"{", b"{'a': 1}", b"\xff\xfe"])
def test_what_is_not_json_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        wire.loads(data)
