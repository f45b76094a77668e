"""What the observability tests share: LeaderWorkerSet manifests, waits, and reading a trace."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import ReadableSpan

from lws.api import constants as c
from lws.controller.in_process import InProcessOperator
from lws.sim.errors import APIError
from lws.sim.runner import EmbeddedCluster
from lws.sim.testing import wait_until

LWS = (c.GROUP, c.VERSION, c.PLURAL)
PODS = ("", "v1", "pods")
STATEFULSETS = ("apps", "v1", "statefulsets")
MERGE = "application/merge-patch+json"


def make_lws(
    name: str, *, replicas: int = 2, size: int = 2, image: str = "app:1", **spec: Any
) -> dict[str, Any]:
    """A small LeaderWorkerSet; ``leaderWorkerTemplate`` keys in ``spec`` go into its template."""
    template: dict[str, Any] = {
        "size": size,
        "workerTemplate": {"spec": {"containers": [{"name": "app", "image": image}]}},
    }
    template.update(copy.deepcopy(spec.pop("leaderWorkerTemplate", {})))
    body: dict[str, Any] = {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "leaderWorkerTemplate": template, **spec},
    }
    return body


def settled(obj: dict[str, Any]) -> bool:
    """Every group ready and updated, for the current generation."""
    status = obj.get("status") or {}
    replicas = (obj.get("spec") or {}).get("replicas", 1)
    return (
        status.get("observedGeneration") == obj["metadata"].get("generation")
        and status.get("readyReplicas") == replicas
        and status.get("updatedReplicas") == replicas
        and status.get("replicas") == replicas
    )


def wait_settled(
    cluster: EmbeddedCluster, operator: InProcessOperator, namespace: str, name: str, *, timeout: float = 30.0
) -> dict[str, Any]:
    """Wait until the set has settled and the operator has acted on everything up to then."""

    def check() -> dict[str, Any] | None:
        obj = cluster.sync.get(LWS, namespace, name)
        return obj if settled(obj) else None

    obj: dict[str, Any] = wait_until(check, timeout=timeout, what=f"{namespace}/{name} to settle")
    operator.settle(obj["metadata"]["resourceVersion"])
    return obj


def uid(obj: dict[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("uid") or "")


def get_pod(cluster: EmbeddedCluster, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return cluster.sync.get(PODS, namespace, name)
    except APIError as exc:
        if exc.code == 404:
            return None
        raise


# --- reading spans -----------------------------------------------------------------------------------------


def named(spans: Iterable[ReadableSpan], name: str, **attributes: Any) -> list[ReadableSpan]:
    """Spans called ``name`` whose attributes include ``attributes`` (dots spelled as ``__``)."""
    wanted = {key.replace("__", "."): value for key, value in attributes.items()}
    return [
        s
        for s in spans
        if s.name == name and all((s.attributes or {}).get(k) == v for k, v in wanted.items())
    ]


def children(spans: Iterable[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    """Direct children of ``parent``, by start time."""
    found = [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]
    return sorted(found, key=lambda s: s.start_time or 0)


def in_trace(spans: Iterable[ReadableSpan], root: ReadableSpan) -> list[ReadableSpan]:
    """Every span of ``root``'s trace, by start time."""
    found = [s for s in spans if s.context.trace_id == root.context.trace_id]
    return sorted(found, key=lambda s: s.start_time or 0)


def event_names(span: ReadableSpan) -> list[str]:
    return [event.name for event in sorted(span.events, key=lambda e: e.timestamp)]


def attr(span: ReadableSpan, key: str) -> Any:
    return (span.attributes or {}).get(key)


def subsequence(items: Sequence[str], wanted: Sequence[str]) -> bool:
    """Whether ``wanted`` appears in ``items`` in this order (other items may come between)."""
    it = iter(items)
    return all(any(item == w for item in it) for w in wanted)


# --- a collector -------------------------------------------------------------------------------------------


class Collector:
    """A bare OTLP/HTTP receiver: keeps every ExportTraceServiceRequest posted to /v1/traces."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, ExportTraceServiceRequest]] = []
        self.received = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                outer.requests.append((self.path, request))
                outer.received.set()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Collector:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def spans(self) -> list[Span]:
        return [
            span
            for _, request in list(self.requests)
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]

    def span_names(self) -> list[str]:
        return [span.name for span in self.spans()]

    def resource(self) -> dict[str, str]:
        _, request = self.requests[0]
        return {kv.key: kv.value.string_value for kv in request.resource_spans[0].resource.attributes}
