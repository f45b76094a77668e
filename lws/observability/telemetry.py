"""The operator's telemetry: what reconciles, API calls, plugin calls and admission requests report,
turned into spans and metrics. This module wires the parts together; each job has a module of its own:

* :mod:`~lws.observability.reconciles`: a reconcile's record (``reconcile LeaderWorkerSet`` /
  ``reconcile group``) and the decisions it reported (:mod:`lws.core.decisions`);
* :mod:`~lws.observability.api_calls`: a child span per API request, and the request metrics;
* :mod:`~lws.observability.plugin_calls`: a child span per plugin call, and the hook latency metrics;
* :mod:`~lws.observability.admission`: a span per admission request, and the webhook metrics;
* :mod:`~lws.observability.group_lifecycles`: one trace per group lifecycle (``create group``,
  ``recreate group``...) and the time-to-ready, update and recovery histograms;
* :mod:`~lws.observability.failures`: restart decisions and failure detection time, once per failure.

:class:`LwsTelemetry` implements the operator's telemetry seam (``lws.controller.context.Telemetry``)
structurally, so this layer depends on neither the controller nor the cluster adapter. It infers nothing:
every decision arrives as a typed record from the reconcile that took it, and the reconcile's record is
passed in by the reconcile's own context (there is no second "current reconcile"). Spans are recorded as
data while the work runs and emitted when it ends (:mod:`lws.observability.records`). Everything runs on
the operator's event loop; nothing here blocks.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from lws.core.decisions import (
    Decision,
    GroupRecreated,
    LeaderStatefulSetApplied,
    RestartDecided,
    WorkersCreated,
    WorkersGated,
)
from lws.core.keys import split_ordinal
from lws.observability import attributes as a
from lws.observability.admission import AdmissionTracing, WebhookFn, current_admission
from lws.observability.api_calls import ApiCallScope, ApiCallView, ApiMetricScope
from lws.observability.failures import FailureMeasurements
from lws.observability.group_lifecycles import ClusterView, GroupLifecycles
from lws.observability.lifecycle import TRACEPARENT_ANNOTATION, SetSnapshot
from lws.observability.metrics import LwsMetrics
from lws.observability.plugin_calls import record_plugin_call
from lws.observability.reconciles import RECONCILE_SPANS, GroupId, Reconcile, ReconcileKey
from lws.observability.records import emit

__all__ = ["ApiCallView", "ClusterView", "GroupId", "LwsTelemetry", "Reconcile", "WebhookFn"]

log = logging.getLogger("lws.observability")
_NO_SCOPE: contextlib.nullcontext[None] = contextlib.nullcontext()


class LwsTelemetry:
    """Spans (when given a tracer provider) and metrics (when given :class:`LwsMetrics`)."""

    def __init__(
        self,
        *,
        metrics: LwsMetrics | None = None,
        tracer_provider: TracerProvider | None = None,
        version: str = "",
    ) -> None:
        self.metrics = metrics
        self.tracer = tracer_provider.get_tracer("lws.operator", version) if tracer_provider else None
        #: Resource plural -> kind, for span names (``statefulsets`` -> ``StatefulSet``).
        self.kinds: dict[str, str] = {}
        #: Which plugin implements each policy value (``startupPolicy=LeaderReady`` -> ``startup_policies``).
        self.policy_plugins: dict[str, str] = {}
        self.lifecycles = GroupLifecycles(tracer=self.tracer, metrics=metrics)
        self.failures = FailureMeasurements(metrics)
        self.lifecycles.on_group_gone = self.failures.forget
        self.admission = AdmissionTracing(
            tracer=self.tracer, metrics=metrics, lifecycle_context=self.lifecycles.context
        )

    @property
    def tracing(self) -> bool:
        return self.tracer is not None

    @property
    def view(self) -> ClusterView | None:
        return self.lifecycles.view

    @view.setter
    def view(self, view: ClusterView | None) -> None:
        self.lifecycles.view = view

    def learn_policies(self, startup: Mapping[str, str], restart: Mapping[str, str]) -> None:
        """Which plugin implements each startup and restart policy value (for metric labels)."""
        self.policy_plugins.update({f"startupPolicy={value}": plugin for value, plugin in startup.items()})
        self.policy_plugins.update({f"restartPolicy={value}": plugin for value, plugin in restart.items()})

    def open_lifecycles(self) -> dict[GroupId, str]:
        """Groups with an open lifecycle, and its kind (for tests and ``lws demo``)."""
        return self.lifecycles.open_lifecycles()

    def shutdown(self) -> None:
        """End every open lifecycle (outcome ``operator stopped``) so that their spans are exported."""
        self.lifecycles.shutdown()

    # --- the telemetry seam ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def reconcile(self, key: ReconcileKey, attributes: Mapping[str, Any]) -> Iterator[Reconcile]:
        """Record one reconcile; its span is emitted once it has ended and :meth:`reconcile_done` ran."""
        record = self._begin(key, attributes)
        try:
            yield record
        except BaseException as exc:
            record.error = exc
            record.outcome = record.outcome or "error"
            raise
        finally:
            record.end_ns = time.time_ns()
            record.ended = True
            if record.outcome is not None:
                self._finish(record)

    def reconcile_done(self, span: object, key: ReconcileKey, outcome: str, seconds: float) -> None:
        """Count the reconcile, and emit its span if it has ended."""
        if self.metrics is not None:
            self.metrics.reconciles.labels(key.kind, outcome).inc()
            self.metrics.reconcile_duration.labels(key.kind).observe(seconds)
            if outcome == "error":
                self.metrics.reconcile_errors.labels(key.kind).inc()
        if not isinstance(span, Reconcile):
            return
        span.outcome = outcome
        if span.ended:
            self._finish(span)
        elif outcome == "error" and span.error is None:
            # A failed reconcile reports from inside its own scope, while handling the exception.
            span.error = sys.exception()

    def api_call(self, parent: object, call: ApiCallView) -> contextlib.AbstractContextManager[None]:
        """A span for an API request made by the reconcile ``parent`` records."""
        if not isinstance(parent, Reconcile) or parent.children is None:
            return _NO_SCOPE
        return ApiCallScope(parent, call, lambda: self.kinds)

    def hook_called(
        self, parent: object, hook: str, plugin: str, seconds: float, error: BaseException | None
    ) -> None:
        """A plugin implementation (or policy) ran, for the reconcile ``parent`` records, or for the
        admission request being served."""
        record = parent if isinstance(parent, Reconcile) else current_admission()
        record_plugin_call(
            metrics=self.metrics,
            record=record,
            hook=hook,
            plugin=plugin,
            seconds=seconds,
            error=error,
            policy_plugins=self.policy_plugins,
        )

    def decided(self, span: object, decision: Decision) -> None:
        """What the reconcile ``span`` records decided: on its span, and into lifecycles and metrics."""
        if isinstance(span, Reconcile):
            self._guarded(lambda record: self._decided(record, decision), span)

    def trace_carrier(self, span: object) -> Mapping[str, str]:
        """The group lifecycle's trace context, for the worker StatefulSet the reconcile creates."""
        group = span.group if isinstance(span, Reconcile) else None
        traceparent = self.lifecycles.traceparent(group) if group is not None else None
        return {TRACEPARENT_ANNOTATION: traceparent} if traceparent is not None else {}

    # --- API metrics (every request of the process, not only reconciles') ------------------------------

    def observe_api(self, call: ApiCallView) -> contextlib.AbstractContextManager[None]:
        """An API-call observer for the cluster client: requests by verb, resource and code."""
        if self.metrics is None:
            return _NO_SCOPE
        return ApiMetricScope(self.metrics, call)

    # --- admission -------------------------------------------------------------------------------------

    def wrap_webhook(self, fn: WebhookFn) -> WebhookFn:
        """Wrap kopf's admission entry point: a span per request (plugin calls inside), and its latency."""
        return self.admission.wrap(fn)

    # --- decisions -------------------------------------------------------------------------------------

    def _decided(self, record: Reconcile, decision: Decision) -> None:
        if isinstance(decision, RestartDecided):
            self._restart_decided(record, decision)
        elif isinstance(decision, WorkersGated):
            record.gate_checked = True
            record.gate = decision.gate
            record.set_attribute(a.STARTUP_GATE, decision.gate if decision.gate is not None else "open")
        elif isinstance(decision, WorkersCreated):
            record.workers_created, record.workers_created_ns = True, time.time_ns()
        elif isinstance(decision, GroupRecreated):
            if record.restart is not None:
                record.leader_deleted = True
                self.lifecycles.group_recreated(record)
        elif record.key_kind == "disaggregatedset":
            if decision.action not in record.actions:
                record.actions.append(decision.action)
        elif record.key_kind == "set":
            if decision.action not in record.actions:
                record.actions.append(decision.action)
            if isinstance(decision, LeaderStatefulSetApplied):
                if decision.previous is not None:
                    replicas, partition, revision = decision.previous
                    record.before = SetSnapshot(replicas, partition, revision, settled=False)
                record.after = SetSnapshot(decision.replicas, decision.partition, decision.revision, False)
                self.lifecycles.set_applied(record)

    def _restart_decided(self, record: Reconcile, decision: RestartDecided) -> None:
        if decision.trigger == "not-ready" and decision.action == "ignore":
            # Every new pod is not ready for a while, and the restart policy is offered it in case it
            # times such pods out; left alone, it is no restart, and is neither reported nor counted.
            return
        record.restart = decision
        meta = decision.pod.get("metadata") or {}
        record.set_attribute(a.RESTART_DECISION, decision.action)
        record.set_attribute(a.RESTART_PLUGIN, decision.by)
        record.set_attribute(a.RESTART_REASON, decision.reason)
        record.set_attribute(a.RESTART_TRIGGER, decision.trigger)
        record.add_event(
            "restart detected",
            {
                a.K8S_POD_NAME: str(meta.get("name") or ""),
                a.K8S_POD_UID: str(meta.get("uid") or ""),
                a.RESTART_DECISION: decision.action,
                a.RESTART_PLUGIN: decision.by,
            },
        )
        if record.group is not None:
            self.failures.decided(record.group, decision)

    # --- reconciles ------------------------------------------------------------------------------------

    def _begin(self, key: ReconcileKey, attributes: Mapping[str, Any]) -> Reconcile:
        attrs: dict[str, Any] = dict(attributes)
        attrs[a.K8S_NAMESPACE_NAME] = key.namespace
        attrs[a.CONTROLLER] = key.kind
        record = Reconcile(
            RECONCILE_SPANS.get(key.kind, f"reconcile {key.kind}"),
            SpanKind.INTERNAL,
            time.time_ns(),
            attrs,
            children=[] if self.tracing else None,
            key_kind=key.kind,
            namespace=key.namespace,
            key_name=key.name,
        )
        if key.kind == "set":
            attrs[a.LWS_NAME] = key.name
        elif key.kind == "disaggregatedset":
            attrs[a.DS_NAME] = key.name
        else:
            attrs[a.K8S_POD_NAME] = key.name
            parent = split_ordinal(key.name)
            if parent is not None:
                record.group = (key.namespace, parent[0], parent[1])
                attrs[a.LWS_NAME], attrs[a.GROUP_INDEX] = parent
                record.lifecycle_at_start = self.lifecycles.live(record.group)
        return record

    def _finish(self, record: Reconcile) -> None:
        finishers = {"set": self.lifecycles.finish_set, "disaggregatedset": self._finish_disaggregated}
        self._guarded(finishers.get(record.key_kind, self.lifecycles.finish_group), record)

    def _finish_disaggregated(self, record: Reconcile) -> None:
        """A DisaggregatedSet reconcile: its span, with what it decided (its children are LeaderWorkerSets,
        whose own reconciles and group lifecycles trace the pods)."""
        record.set_attribute(a.DECISION, ", ".join(record.actions) or "none")
        if self.tracer is not None:
            error_type = type(record.error).__name__ if record.error is not None else None
            emit(self.tracer, record, parent=None, error_type=error_type)

    @staticmethod
    def _guarded(fn: Callable[[Reconcile], None], record: Reconcile) -> None:
        """Telemetry must never break a reconcile: its own failures are logged, not raised."""
        try:
            fn(record)
        except Exception:
            log.exception(
                "telemetry failed while recording %s %s/%s",
                record.key_kind,
                record.namespace,
                record.key_name,
            )
