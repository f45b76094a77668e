"""Spans recorded in memory while their work runs, and emitted (with their children) once it is over.

A reconcile learns only at its end which group lifecycle it belongs to: the restart policy's answer comes
halfway through, and the reconcile that detects a worker's restart must open the trace of the group's
recovery. So a reconcile's span, and the API and plugin calls inside it, are written down as plain data and
turned into OpenTelemetry spans, with their real start and end times, when the parent is known. Recording
is a few dict and list operations; the SDK's span objects are only made when tracing is on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, Tracer

from lws.observability import attributes as a


@dataclass
class ChildSpan:
    """A finished span inside a recorded one (an API call, a plugin call)."""

    name: str
    kind: SpanKind
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    #: ``error.type`` when it failed (the span's status is then ERROR).
    error: str | None = None
    description: str | None = None


@dataclass
class SpanRecord:
    """A span in the making. Offers what reconcilers use of a span: attributes, events, errors."""

    name: str
    kind: SpanKind
    start_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    #: Children are kept only when tracing is on (``None`` otherwise: metrics need none of them).
    children: list[ChildSpan] | None = None
    events: list[tuple[str, int, Mapping[str, Any]]] = field(default_factory=list)
    error: BaseException | None = None
    end_ns: int | None = None

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        self.events.append((name, time.time_ns(), dict(attributes or {})))

    def record_error(self, error: BaseException) -> None:
        self.error = error

    @property
    def tracing(self) -> bool:
        return self.children is not None

    def add_child(self, child: ChildSpan) -> None:
        if self.children is not None:
            self.children.append(child)


def emit(
    tracer: Tracer,
    record: SpanRecord,
    *,
    parent: Context | None,
    links: Sequence[Link] = (),
    error_type: str | None = None,
    end: bool = True,
) -> trace.Span:
    """Turn ``record`` into a span under ``parent`` (a new trace when ``None``), children included.

    :param error_type: mark the span failed with this ``error.type`` (children carry their own).
    :param end: end the span at ``record.end_ns``; pass ``False`` to add links to it first.
    """
    span = tracer.start_span(
        record.name,
        context=parent if parent is not None else Context(),
        kind=record.kind,
        attributes=record.attributes,
        links=links,
        start_time=record.start_ns,
        record_exception=False,
        set_status_on_exception=False,
    )
    for name, timestamp, attrs in record.events:
        span.add_event(name, attrs, timestamp=timestamp)
    inside = trace.set_span_in_context(span)
    for child in record.children or ():
        child_span = tracer.start_span(
            child.name,
            context=inside,
            kind=child.kind,
            attributes=child.attributes,
            start_time=child.start_ns,
        )
        if child.error is not None:
            child_span.set_attribute(a.ERROR_TYPE, child.error)
            child_span.set_status(Status(StatusCode.ERROR, child.description))
        child_span.end(end_time=child.end_ns)
    if error_type is not None:
        span.set_attribute(a.ERROR_TYPE, error_type)
        description = str(record.error) if record.error is not None else None
        span.set_status(Status(StatusCode.ERROR, description))
    if end:
        span.end(end_time=record.end_ns or time.time_ns())
    return span
