"""Warnings for the client of the current request, sent back as ``Warning: 299 - "..."`` headers.

Admission webhooks and field validation produce them deep inside a request; the HTTP layer opens a collection
with :func:`collecting_warnings` around each request and turns what was collected into headers (kubectl prints
each as ``Warning: ...``). Outside a collection (in-process callers), warnings are dropped.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import Iterator

__all__ = ["collecting_warnings", "header_value", "warn"]

_sink: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("client_warnings", default=None)


@contextlib.contextmanager
def collecting_warnings() -> Iterator[list[str]]:
    """Collect the warnings raised while the block runs, in order, without duplicates."""
    sink: list[str] = []
    token = _sink.set(sink)
    try:
        yield sink
    finally:
        _sink.reset(token)


def warn(text: str) -> None:
    """Add a warning for the client of the current request (once, however often it is raised)."""
    sink = _sink.get()
    if sink is not None and text not in sink:
        sink.append(text)


def header_value(text: str) -> str:
    """A ``Warning`` header value as Kubernetes sends it: ``299 - "<text>"``, with quotes escaped."""
    return f"299 - {json.dumps(text)}"
