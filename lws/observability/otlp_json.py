"""Finished spans as OTLP JSON, the format an OpenTelemetry Collector (``otlpjsonfile`` receiver), Jaeger
and Tempo import.

The spans are encoded by the OTLP exporter's own encoder (the protobuf ``ExportTraceServiceRequest`` it
sends), then written with protobuf's JSON mapping, adjusted where the OTLP/JSON spec departs from it: trace
and span ids are hex strings rather than base64, and enums are integers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """One ``ExportTraceServiceRequest`` holding ``spans``, as an OTLP/JSON document."""
    document = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                _hex_ids(span)
                for link in span.get("links", []):
                    _hex_ids(link)
    return document


def write_otlp_json(spans: Sequence[ReadableSpan], path: str | Path) -> Path:
    """Write ``spans`` to ``path`` as one line of OTLP/JSON (a JSON Lines file the collector reads)."""
    target = Path(path)
    target.write_text(json.dumps(otlp_json(spans), separators=(",", ":")) + "\n", encoding="utf-8")
    return target


def _hex_ids(item: dict[str, Any]) -> None:
    for key in _ID_FIELDS:
        if item.get(key):
            item[key] = base64.b64decode(item[key]).hex()
