"""API requests: a child span per request a reconcile makes, and request metrics for every request.

The cluster client reports each request (``lws.cluster.client.ApiCall``); these turn it into a
``{verb} {Kind}`` client span inside the reconcile's record and into ``lws_api_requests_total`` and
``lws_api_request_duration_seconds``. They say what was requested, never what it meant: decisions are
reported by the reconcilers themselves (:mod:`lws.core.decisions`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from opentelemetry.trace import SpanKind

from lws.api import constants as c
from lws.observability import attributes as a
from lws.observability.metrics import LwsMetrics
from lws.observability.records import ChildSpan, SpanRecord

log = logging.getLogger("lws.observability")

_METHODS = {
    "get": "GET",
    "list": "GET",
    "watch": "GET",
    "create": "POST",
    "update": "PUT",
    "patch": "PATCH",
    "apply": "PATCH",
    "delete": "DELETE",
}
_NAME_KEYS = {"pods": a.K8S_POD_NAME, "statefulsets": a.K8S_STATEFULSET_NAME, "nodes": a.K8S_NODE_NAME}


class ApiCallView(Protocol):
    """One API request, complete when its scope exits (``lws.cluster.client.ApiCall``)."""

    @property
    def verb(self) -> str: ...

    @property
    def resource(self) -> str: ...

    @property
    def namespace(self) -> str | None: ...

    @property
    def name(self) -> str | None: ...

    @property
    def subresource(self) -> str | None: ...

    @property
    def status(self) -> int | None: ...

    @property
    def seconds(self) -> float: ...

    @property
    def target(self) -> str: ...


def api_span(call: ApiCallView, start_ns: int, end_ns: int, kinds: Mapping[str, str]) -> ChildSpan:
    """The client span of one finished request (``kinds``: resource plural -> kind, for the span name)."""
    kind = kinds.get(call.resource, call.resource)
    attrs: dict[str, Any] = {
        a.HTTP_REQUEST_METHOD: _METHODS.get(call.verb, "_OTHER"),
        a.API_VERB: call.verb,
        a.API_RESOURCE: call.target,
    }
    if call.namespace:
        attrs[a.K8S_NAMESPACE_NAME] = call.namespace
    if call.name:
        if call.resource == c.PLURAL:
            attrs[a.LWS_NAME] = call.name
        else:
            attrs[_NAME_KEYS.get(call.resource, a.OBJECT_NAME)] = call.name
    error = None
    if call.status is not None:
        attrs[a.HTTP_RESPONSE_STATUS_CODE] = call.status
        if call.status >= 400:
            error = str(call.status)  # HTTP client convention: 4xx and 5xx fail the span
    else:
        error = "_OTHER"  # no answer: the connection failed
    name = f"{call.verb} {kind}/{call.subresource}" if call.subresource else f"{call.verb} {kind}"
    return ChildSpan(name, SpanKind.CLIENT, start_ns, end_ns, attrs, error=error)


class ApiCallScope:
    """Entered around one API request of a recorded reconcile; adds its span when the request is over."""

    __slots__ = ("call", "kinds", "record", "start_ns")

    def __init__(self, record: SpanRecord, call: ApiCallView, kinds: Callable[[], Mapping[str, str]]) -> None:
        self.record, self.call, self.kinds = record, call, kinds
        self.start_ns = 0

    def __enter__(self) -> None:
        self.start_ns = time.time_ns()

    def __exit__(self, *exc: object) -> None:
        try:
            if self.record.children is not None:
                self.record.children.append(api_span(self.call, self.start_ns, time.time_ns(), self.kinds()))
        except Exception:
            log.exception("telemetry failed while recording an API call")


class ApiMetricScope:
    """Entered around every API request of the process: counts it and times it."""

    __slots__ = ("call", "metrics")

    def __init__(self, metrics: LwsMetrics, call: ApiCallView) -> None:
        self.metrics, self.call = metrics, call

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        call = self.call
        code = str(call.status) if call.status else "<error>"
        self.metrics.api_requests.labels(call.verb, call.target, code).inc()
        if call.verb != "watch":  # a watch lasts as long as the server keeps it open
            self.metrics.api_duration.labels(call.verb, call.target).observe(call.seconds)
