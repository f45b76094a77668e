"""JSON on the wire between the operator and the API server, and inside the embedded cluster.

Objects go back and forth as JSON all the time: every change to a pod is encoded once for each watch that
sees it and decoded again by each watcher. orjson does both about ten and two times quicker than the
standard library; its output is compact UTF-8, as the API server's.

:func:`dumps` encodes whatever ``json`` does (what orjson refuses, integers beyond 64 bits and keys that are
not strings, goes through ``json``). :func:`loads` is for what an API server sends: an integer beyond 64
bits comes back as a float, as when Kubernetes decodes a custom resource; input orjson refuses (``NaN``,
lone surrogates) is decoded by ``json``. Bodies a client sends the embedded cluster are parsed by ``json``,
which keeps such integers for validation to refuse.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """``value`` as compact JSON bytes."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value, separators=(",", ":")).encode()


def loads(data: bytes | str) -> Any:
    """The JSON value in ``data`` (integers beyond 64 bits as floats); ValueError when it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
