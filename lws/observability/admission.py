"""Admission requests: a ``mutate Pod`` / ``validate LeaderWorkerSet``... server span per request (the plugin
calls it makes inside), in the group's lifecycle trace when the pod belongs to one, and the webhook metrics.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.core.keys import split_ordinal
from lws.observability import attributes as a
from lws.observability.metrics import LwsMetrics
from lws.observability.reconciles import GroupId
from lws.observability.records import SpanRecord, emit

WebhookFn = Callable[..., Awaitable[Mapping[str, Any]]]
"""kopf's admission entry point: ``fn(review, *, webhook=..., headers=..., sslpeer=...) -> review``."""

#: The admission request being served in this task (plugin calls made for it are its children).
_admission: contextvars.ContextVar[SpanRecord | None] = contextvars.ContextVar("lws_admission", default=None)


def current_admission() -> SpanRecord | None:
    """The admission request being recorded in this task, if any."""
    return _admission.get()


class AdmissionTracing:
    """Wraps kopf's admission entry point.

    :param lifecycle_context: the trace context of a group's open lifecycle, if any.
    """

    def __init__(
        self,
        *,
        tracer: trace.Tracer | None,
        metrics: LwsMetrics | None,
        lifecycle_context: Callable[[GroupId], Context | None],
    ) -> None:
        self.tracer = tracer
        self.metrics = metrics
        self.lifecycle_context = lifecycle_context

    def wrap(self, fn: WebhookFn) -> WebhookFn:
        """A span per request (plugin calls inside), and its latency."""

        async def observed(request: Mapping[str, Any], **kwargs: Any) -> Mapping[str, Any]:
            webhook = str(kwargs.get("webhook") or "")
            record, label, group = self._record(request, webhook)
            started = time.perf_counter()
            token = _admission.set(record)
            result = "error"
            try:
                response = await fn(request, **kwargs)
                allowed = bool((response.get("response") or {}).get("allowed"))
                result = "allowed" if allowed else "denied"
                record.set_attribute(a.ADMISSION_ALLOWED, allowed)
                return response
            except BaseException as exc:
                record.error = exc
                raise
            finally:
                _admission.reset(token)
                record.end_ns = time.time_ns()
                if self.metrics is not None:
                    self.metrics.webhook_duration.labels(label).observe(time.perf_counter() - started)
                    self.metrics.webhook_requests.labels(label, result).inc()
                self._emit(record, group)

        return observed

    def _record(self, request: Mapping[str, Any], webhook: str) -> tuple[SpanRecord, str, GroupId | None]:
        review = request.get("request") or {}
        kind = str((review.get("kind") or {}).get("kind") or "object")
        verb = webhook.split("-", 1)[0] if webhook else "admit"
        obj = review.get("object") or review.get("oldObject") or {}
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        namespace = str(review.get("namespace") or meta.get("namespace") or "")
        name = str(review.get("name") or meta.get("name") or meta.get("generateName") or "")
        attrs: dict[str, Any] = {
            a.K8S_NAMESPACE_NAME: namespace,
            a.ADMISSION_OPERATION: str(review.get("operation") or ""),
        }
        group = None
        if kind == "Pod":
            attrs[a.K8S_POD_NAME] = name
            group = group_of_pod(namespace, name, labels)
            if group is not None:
                attrs[a.LWS_NAME], attrs[a.GROUP_INDEX] = group[1], group[2]
        elif kind == c.KIND:
            attrs[a.LWS_NAME] = name
        elif kind == d.KIND:
            attrs[a.DS_NAME] = name
        record = SpanRecord(
            f"{verb} {kind}",
            SpanKind.SERVER,
            time.time_ns(),
            attrs,
            children=[] if self.tracer is not None else None,
        )
        return record, f"{verb}-{kind.lower()}", group

    def _emit(self, record: SpanRecord, group: GroupId | None) -> None:
        if self.tracer is None:
            return
        parent = self.lifecycle_context(group) if group is not None else None
        error_type = type(record.error).__name__ if record.error is not None else None
        emit(self.tracer, record, parent=parent, error_type=error_type)


def group_of_pod(namespace: str, name: str, labels: Mapping[str, str]) -> GroupId | None:
    """The group a pod belongs to, from its labels (or, for a leader not yet labelled, its ordinal)."""
    set_name = labels.get(c.SET_NAME_LABEL)
    if not set_name:
        return None
    index = labels.get(c.GROUP_INDEX_LABEL)
    if index is not None and index.isdigit():
        return namespace, set_name, int(index)
    # A leader pod is labelled with its group index by the webhook itself: its ordinal is the index.
    ordinal = split_ordinal(name)
    if labels.get(c.WORKER_INDEX_LABEL) == "0" and ordinal is not None:
        return namespace, set_name, ordinal[1]
    return None
