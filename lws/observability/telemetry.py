"""The operator's telemetry: spans and metrics for reconciles, API calls, plugin calls, webhooks, and the
lifecycles that tie a group's reconciles into one story.

:class:`LwsTelemetry` implements the operator's telemetry seam (``lws.controller.context.Telemetry``)
structurally, so this layer depends on neither the controller nor the cluster adapter; the controller
binds it to its caches through a :class:`ClusterView`. What it emits:

* ``reconcile LeaderWorkerSet`` / ``reconcile group`` for every reconcile, with a child per API call
  (``apply StatefulSet``, ``patch LeaderWorkerSet/status``...) and per plugin call (``call hook
  lws_mutate_pod``, ``call policy restartPolicy``), and the decision taken (``leaderworkerset.decision``);
* one trace per group lifecycle (``create group``, ``update group``, ``recreate group``, ``recover
  group``): a root span from the cause to "all pods Ready", parent of every reconcile of the group in
  between and of the group's pod admissions, linked to the set reconcile that started it;
* ``mutate Pod``, ``mutate LeaderWorkerSet``, ``validate LeaderWorkerSet`` for admission requests;
* the metrics of :class:`lws.observability.metrics.LwsMetrics`.

Spans are recorded as data while the work runs and emitted when it ends (:mod:`lws.observability.records`):
only then is it known which lifecycle a reconcile belongs to. With no tracer provider nothing is recorded
beyond what the metrics need. Everything runs on the operator's event loop; nothing here blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

from lws.api import constants as c
from lws.core.keys import split_ordinal
from lws.core.pod_failure import pod_failures
from lws.hooks.types import RestartDecision, RestartEvent, WorkerGate
from lws.observability import attributes as a
from lws.observability.lifecycle import (
    SPAN_NAMES,
    End,
    Escalate,
    GroupFindings,
    GroupSnapshot,
    GroupTrack,
    LifecycleKind,
    Milestone,
    OpenLifecycle,
    SetSnapshot,
    Start,
    context_of,
    group_steps,
    set_changes,
    traceparent_of,
)
from lws.observability.metrics import LwsMetrics
from lws.observability.records import ChildSpan, SpanRecord, emit

log = logging.getLogger("lws.observability")

GroupId = tuple[str, str, int]
"""(namespace, LeaderWorkerSet, group index)."""

RECONCILE_SPANS: Mapping[str, str] = {"set": "reconcile LeaderWorkerSet", "group": "reconcile group"}
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
_SET_ACTIONS = {
    ("create", "controllerrevisions"): "create revision",
    ("delete", "controllerrevisions"): "delete old revision",
    ("apply", "statefulsets"): "apply leader StatefulSet",
    ("create", "services"): "create Service",
    ("patch", "leaderworkersets/status"): "update status",
}
#: Links from a set reconcile to the lifecycles it started: enough to follow, bounded for 1,000-group sets.
MAX_LINKS = 16


class ReconcileKey(Protocol):
    """A work-queue key (``lws.core.routing.Key``)."""

    @property
    def kind(self) -> str: ...

    @property
    def namespace(self) -> str: ...

    @property
    def name(self) -> str: ...


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


class ClusterView(Protocol):
    """The operator's caches, as the telemetry reads them (implemented in the controller layer)."""

    def group(self, namespace: str, leader_name: str) -> GroupSnapshot | None:
        """The group led by ``leader_name``; ``None`` when its LeaderWorkerSet is gone."""
        ...

    def leader_statefulset(self, namespace: str, name: str) -> SetSnapshot | None:
        """The set's leader StatefulSet; ``None`` when it does not exist."""
        ...


WebhookFn = Callable[..., Awaitable[Mapping[str, Any]]]
"""kopf's admission entry point: ``fn(review, *, webhook=..., headers=..., sslpeer=...) -> review``."""


@dataclass
class RestartNote:
    action: str
    reason: str
    plugin: str
    trigger: str


@dataclass
class Reconcile(SpanRecord):
    """One reconcile being recorded, and what it decided."""

    key_kind: str = ""
    namespace: str = ""
    key_name: str = ""
    group: GroupId | None = None
    outcome: str | None = None
    restart: RestartNote | None = None
    gate: str | None = None
    gate_checked: bool = False
    workers_created: bool = False
    workers_created_ns: int = 0
    leader_deleted: bool = False
    #: (set) the leader StatefulSet as the reconcile found it; whether its apply has been accounted for.
    before: SetSnapshot | None = None
    applied: bool = False
    set_done: bool = False
    actions: list[str] = field(default_factory=list)
    #: (group) the lifecycle open when it began, and the one it opened, if any.
    lifecycle_at_start: Lifecycle | None = None
    started: Lifecycle | None = None
    #: (set) lifecycles it started, to link both ways once its own span exists.
    started_lifecycles: list[Lifecycle] = field(default_factory=list)
    owner: LwsTelemetry | None = None


@dataclass
class Lifecycle:
    """An open group lifecycle: its decision state, its clock and (when tracing) its root span."""

    group: GroupId
    state: OpenLifecycle
    reason: str
    started: float
    measured: bool
    span: trace.Span | None = None

    @property
    def kind(self) -> LifecycleKind:
        return self.state.kind

    def context(self) -> Context | None:
        return trace.set_span_in_context(self.span) if self.span is not None else None


_current: contextvars.ContextVar[Reconcile | None] = contextvars.ContextVar("lws_telemetry", default=None)
_admission: contextvars.ContextVar[SpanRecord | None] = contextvars.ContextVar("lws_admission", default=None)
_NO_SCOPE: contextlib.nullcontext[None] = contextlib.nullcontext()


class LwsTelemetry:
    """Spans (when given a tracer provider) and metrics (when given :class:`LwsMetrics`).

    :param policy_plugins: which plugin implements each policy value, as the plugin façade reports policy
        calls (``startupPolicy=LeaderReady`` -> ``startup_policies``); see :meth:`learn_policies`.
    """

    def __init__(
        self,
        *,
        metrics: LwsMetrics | None = None,
        tracer_provider: TracerProvider | None = None,
        version: str = "",
    ) -> None:
        self.metrics = metrics
        self.tracer = tracer_provider.get_tracer("lws.operator", version) if tracer_provider else None
        self.view: ClusterView | None = None
        #: Resource plural -> kind, for span names (``statefulsets`` -> ``StatefulSet``).
        self.kinds: dict[str, str] = {}
        self.policy_plugins: dict[str, str] = {}
        self._pending: dict[tuple[str, str, str], Reconcile] = {}
        self._tracks: dict[GroupId, GroupTrack] = {}
        self._live: dict[GroupId, Lifecycle] = {}
        self._measured_failures: dict[GroupId, dict[str, int]] = {}
        #: Sets in a rollout -> monotonic time of its last partition move (``None`` before the first).
        self._rollouts: dict[tuple[str, str], float | None] = {}

    @property
    def tracing(self) -> bool:
        return self.tracer is not None

    def learn_policies(self, startup: Mapping[str, str], restart: Mapping[str, str]) -> None:
        """Which plugin implements each startup and restart policy value (for metric labels)."""
        self.policy_plugins.update({f"startupPolicy={value}": plugin for value, plugin in startup.items()})
        self.policy_plugins.update({f"restartPolicy={value}": plugin for value, plugin in restart.items()})

    def open_lifecycles(self) -> dict[GroupId, str]:
        """Groups with an open lifecycle, and its kind (for tests and ``lws demo``)."""
        return {group: lifecycle.kind for group, lifecycle in self._live.items()}

    # --- the telemetry seam ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def reconcile(self, key: ReconcileKey, attributes: Mapping[str, Any]) -> Iterator[Reconcile]:
        """Record one reconcile; its span is emitted once it has ended and :meth:`reconcile_done` ran."""
        record = self._begin(key, attributes)
        token = _current.set(record)
        try:
            yield record
        except BaseException as exc:
            record.error = exc
            record.outcome = record.outcome or "error"
            raise
        finally:
            _current.reset(token)
            record.end_ns = time.time_ns()
            if record.outcome is not None:
                self._finish(record)
            else:
                self._pending[(key.kind, key.namespace, key.name)] = record

    def api_call(self, parent: object, call: ApiCallView) -> contextlib.AbstractContextManager[None]:
        """A span (and the decisions it implies) for an API request made by the current reconcile."""
        record = _current.get()
        if record is None:
            return _NO_SCOPE
        return _ApiCallScope(self, record, call)

    def hook_called(
        self, parent: object, hook: str, plugin: str, seconds: float, error: BaseException | None
    ) -> None:
        """A plugin implementation (or policy) ran: its latency, and a span in the current reconcile or
        admission request."""
        policy_value = None
        if hook == "policy":
            # The façade reports policies as hook "policy", plugin "startupPolicy=LeaderReady".
            hook, _, policy_value = plugin.partition("=")
            plugin = self.policy_plugins.get(f"{hook}={policy_value}", "lws")
        if self.metrics is not None:
            self.metrics.hook_duration.labels(plugin, hook).observe(seconds)
            if error is not None:
                self.metrics.hook_errors.labels(plugin, hook).inc()
        record = _current.get() or _admission.get()
        if record is None or record.children is None:
            return
        end = time.time_ns()
        start = end - int(seconds * 1e9)
        failed = type(error).__name__ if error is not None else None
        last = record.children[-1] if record.children else None
        if policy_value is None and last is not None and last.attributes.get(a.HOOK_NAME) == hook:
            # The façade calls a hook's implementations one after the other: one span for the call (the
            # time of each plugin is in lws_plugin_hook_duration_seconds), listing who ran.
            names: list[str] = last.attributes[a.PLUGIN_NAMES]
            names.append(plugin)
            last.attributes.pop(a.PLUGIN_NAME, None)
            last.end_ns = end
            if failed is not None:
                last.attributes[a.PLUGIN_NAME] = plugin
                last.error, last.description = failed, str(error)
            return
        attrs: dict[str, Any] = {a.HOOK_NAME: hook, a.PLUGIN_NAME: plugin, a.PLUGIN_NAMES: [plugin]}
        if policy_value is not None:
            attrs[a.POLICY_VALUE] = policy_value
        name = f"call policy {hook}" if policy_value is not None else f"call hook {hook}"
        record.children.append(
            ChildSpan(name, SpanKind.INTERNAL, start, end, attrs, failed, str(error) if error else None)
        )

    def reconcile_done(self, key: ReconcileKey, outcome: str, seconds: float) -> None:
        """Count the reconcile, and emit its span if it has ended."""
        if self.metrics is not None:
            self.metrics.reconciles.labels(key.kind, outcome).inc()
            self.metrics.reconcile_duration.labels(key.kind).observe(seconds)
            if outcome == "error":
                self.metrics.reconcile_errors.labels(key.kind).inc()
        pending = self._pending.pop((key.kind, key.namespace, key.name), None)
        if pending is not None:
            pending.outcome = outcome
            self._finish(pending)
            return
        # A failed reconcile reports from inside its own scope, while handling the exception.
        record = _current.get()
        if record is not None and (record.key_kind, record.namespace, record.key_name) == (
            key.kind,
            key.namespace,
            key.name,
        ):
            record.outcome = outcome
            if outcome == "error" and record.error is None:
                record.error = sys.exception()

    # --- API metrics (every request of the process, not only reconciles') ------------------------------

    def observe_api(self, call: ApiCallView) -> contextlib.AbstractContextManager[None]:
        """An API-call observer for the cluster client: requests by verb, resource and code."""
        if self.metrics is None:
            return _NO_SCOPE
        return _ApiMetricScope(self.metrics, call)

    # --- admission -------------------------------------------------------------------------------------

    def wrap_webhook(self, fn: WebhookFn) -> WebhookFn:
        """Wrap kopf's admission entry point: a span per request (plugin calls inside), and its latency."""

        async def observed(request: Mapping[str, Any], **kwargs: Any) -> Mapping[str, Any]:
            webhook = str(kwargs.get("webhook") or "")
            record, label, group = self._admission_record(request, webhook)
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
                self._emit_admission(record, group)

        return observed

    def _admission_record(
        self, request: Mapping[str, Any], webhook: str
    ) -> tuple[SpanRecord, str, GroupId | None]:
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
            group = _group_of_pod(namespace, name, labels)
            if group is not None:
                attrs[a.LWS_NAME], attrs[a.GROUP_INDEX] = group[1], group[2]
        elif kind == c.KIND:
            attrs[a.LWS_NAME] = name
        record = SpanRecord(
            f"{verb} {kind}",
            SpanKind.SERVER,
            time.time_ns(),
            attrs,
            children=[] if self.tracing else None,
        )
        return record, f"{verb}-{kind.lower()}", group

    def _emit_admission(self, record: SpanRecord, group: GroupId | None) -> None:
        if self.tracer is None:
            return
        lifecycle = self._live.get(group) if group is not None else None
        parent = lifecycle.context() if lifecycle is not None else None
        error_type = type(record.error).__name__ if record.error is not None else None
        emit(self.tracer, record, parent=parent, error_type=error_type)

    # --- what the plugin façade reports (lws.observability.hooks) ---------------------------------------

    def note_restart(
        self, record: Reconcile, event: RestartEvent, decision: RestartDecision, by: str
    ) -> None:
        kinds = {failure.kind for failure in pod_failures(event.pod)}
        trigger = (
            "pod-deletion"
            if "deleted" in kinds
            else "container-restart"
            if "container-restarted" in kinds
            else "pod-failed"
            if "failed" in kinds
            else "not-ready"
        )
        record.restart = RestartNote(decision.action, decision.reason, by, trigger)
        meta = event.pod.get("metadata") or {}
        record.set_attribute(a.RESTART_DECISION, decision.action)
        record.set_attribute(a.RESTART_PLUGIN, by)
        record.set_attribute(a.RESTART_REASON, decision.reason)
        record.set_attribute(a.RESTART_TRIGGER, trigger)
        record.add_event(
            "restart detected",
            {
                a.K8S_POD_NAME: str(meta.get("name") or ""),
                a.K8S_POD_UID: str(meta.get("uid") or ""),
                a.RESTART_DECISION: decision.action,
                a.RESTART_PLUGIN: by,
            },
        )
        if record.group is None:
            return
        # Restarts stay visible on the pod (restartCount > 0) and are looked at on every reconcile of the
        # group: each pod failure is measured and counted once.
        uid = str(meta.get("uid") or "")
        signature = -1 if trigger == "pod-deletion" else _restarts(event.pod)
        seen = self._measured_failures.setdefault(record.group, {})
        if seen.get(uid) == signature:
            return
        alive = {str((p.get("metadata") or {}).get("uid") or "") for p in event.group_pods}
        for gone in [known for known in seen if known not in alive]:
            del seen[gone]  # pods of earlier incarnations of the group
        seen[uid] = signature
        if self.metrics is None:
            return
        self.metrics.restart_decisions.labels(decision.action, by).inc()
        failed_at = _failure_time(event.pod)
        if failed_at is not None:
            detected = max(0.0, (event.now - failed_at).total_seconds())
            self.metrics.failure_detection.observe(detected)

    def note_gate(self, record: Reconcile, gate: WorkerGate | None) -> None:
        record.gate_checked = True
        record.gate = gate.reason if gate is not None else None
        record.set_attribute(a.STARTUP_GATE, gate.reason if gate is not None else "open")

    def lifecycle_traceparent(self, record: Reconcile) -> str | None:
        """The trace context of the group's open lifecycle, to record on the worker StatefulSet."""
        lifecycle = self._live.get(record.group) if record.group is not None else None
        context = lifecycle.context() if lifecycle is not None else None
        return traceparent_of(context) if context is not None else None

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
            owner=self,
        )
        if key.kind == "set":
            attrs[a.LWS_NAME] = key.name
            if self.view is not None:
                record.before = self.view.leader_statefulset(key.namespace, key.name)
        else:
            attrs[a.K8S_POD_NAME] = key.name
            parent = split_ordinal(key.name)
            if parent is not None:
                record.group = (key.namespace, parent[0], parent[1])
                attrs[a.LWS_NAME], attrs[a.GROUP_INDEX] = parent
                record.lifecycle_at_start = self._live.get(record.group)
        return record

    def _api_done(self, record: Reconcile, call: ApiCallView, start_ns: int) -> None:
        end_ns = time.time_ns()
        ok = call.status is not None and call.status < 400
        if ok and record.key_kind == "group":
            if call.verb == "create" and call.resource == "statefulsets":
                record.workers_created, record.workers_created_ns = True, end_ns
            elif call.verb == "delete" and call.resource == "pods" and record.restart is not None:
                record.leader_deleted = True
                self._group_recreated(record)
        elif ok and record.key_kind == "set":
            action = _SET_ACTIONS.get((call.verb, call.target))
            if action is not None and action not in record.actions:
                record.actions.append(action)
            if call.verb == "apply" and call.resource == "statefulsets" and call.name == record.key_name:
                record.applied = True
                # The reconciler puts the applied object in its cache right after this call returns; read
                # it then, so that the groups' lifecycles are open before their pods reach our webhook.
                asyncio.get_running_loop().call_soon(self._guarded, self._set_applied, record)
        if record.tracing:
            record.add_child(self._api_span(call, start_ns, end_ns))

    def _api_span(self, call: ApiCallView, start_ns: int, end_ns: int) -> ChildSpan:
        kind = self.kinds.get(call.resource, call.resource)
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

    def _guarded(self, fn: Callable[[Reconcile], None], record: Reconcile) -> None:
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

    def _finish(self, record: Reconcile) -> None:
        self._guarded(self._finish_set if record.key_kind == "set" else self._finish_group, record)

    # --- set reconciles --------------------------------------------------------------------------------

    def _set_applied(self, record: Reconcile) -> None:
        if record.set_done or self.view is None:
            return
        after = self.view.leader_statefulset(record.namespace, record.key_name)
        if after is None:
            return
        record.set_done = True
        before = record.before
        changes = set_changes(before, after)
        record.set_attribute(a.REPLICAS, after.replicas)
        record.set_attribute(a.PARTITION, after.partition)
        record.set_attribute(a.REVISION, after.revision)
        if before is not None:
            record.set_attribute(a.PREVIOUS_REPLICAS, before.replicas)
            record.set_attribute(a.PREVIOUS_PARTITION, before.partition)
        now = time.monotonic()
        set_id = (record.namespace, record.key_name)
        for index in changes.removed:
            self._close((record.namespace, record.key_name, index), "removed")
            self._tracks.pop((record.namespace, record.key_name, index), None)
        if changes.rollout_started:
            record.actions.append("start rollout")
            self._rollouts[set_id] = None
        if changes.partition_moved:
            record.actions.append(
                f"rollout step: partition {before.partition if before else 0}->{after.partition}"
            )
            last = self._rollouts.get(set_id)
            if last is not None and self.metrics is not None:
                self.metrics.rollout_step.observe(now - last)
            if set_id in self._rollouts:
                self._rollouts[set_id] = now
        if changes.created:
            reason = "set created" if before is None else "scaled up"
            record.actions.append(f"{reason}: groups {changes.created.start}-{changes.created.stop - 1}")
        for index in changes.created:
            group = (record.namespace, record.key_name, index)
            if group not in self._live:
                self._start_from_set(record, group, OpenLifecycle("create"), reason)
        for index in changes.updated:
            group = (record.namespace, record.key_name, index)
            self._close(group, "superseded")
            self._start_from_set(record, group, OpenLifecycle("update", after.revision), "partition moved")

    def _start_from_set(self, record: Reconcile, group: GroupId, state: OpenLifecycle, reason: str) -> None:
        lifecycle = self._open(group, state, reason, start_ns=time.time_ns(), measured=True, parent=None)
        self._tracks.setdefault(group, GroupTrack()).lifecycle = state
        if lifecycle.span is not None:
            record.started_lifecycles.append(lifecycle)

    def _finish_set(self, record: Reconcile) -> None:
        if record.applied and not record.set_done:
            self._set_applied(record)
        set_id = (record.namespace, record.key_name)
        if set_id in self._rollouts and self.view is not None:
            now = self.view.leader_statefulset(record.namespace, record.key_name)
            if now is None:
                self._rollouts.pop(set_id)  # the set is gone
            elif now.partition == 0 and now.settled:
                last = self._rollouts.pop(set_id)
                record.actions.append("rollout done")
                if last is not None and self.metrics is not None:
                    self.metrics.rollout_step.observe(time.monotonic() - last)
        record.set_attribute(a.DECISION, ", ".join(record.actions) or "none")
        if self.tracer is None:
            return
        span = self._emit_reconcile(record, parent=None, end=False)
        for lifecycle in record.started_lifecycles[:MAX_LINKS]:
            if lifecycle.span is not None and lifecycle.span.is_recording():
                lifecycle.span.add_link(span.get_span_context(), {a.LINK_ROLE: "started by"})
                span.add_link(lifecycle.span.get_span_context(), {a.LINK_ROLE: "started"})
        for lifecycle in record.started_lifecycles[MAX_LINKS:]:
            if lifecycle.span is not None and lifecycle.span.is_recording():
                lifecycle.span.add_link(span.get_span_context(), {a.LINK_ROLE: "started by"})
        span.end(end_time=record.end_ns)

    # --- group reconciles ------------------------------------------------------------------------------

    def _group_recreated(self, record: Reconcile) -> None:
        """The restart policy's recreation went through: count it, and open the recovery lifecycle now,
        before the new leader pod reaches our webhook."""
        note = record.restart
        if note is None or note.action != "recreate" or record.group is None:
            return
        if self.metrics is not None:
            self.metrics.group_recreations.labels(note.trigger, note.plugin).inc()
        self._apply_restart(record)

    def _apply_restart(self, record: Reconcile) -> None:
        group, note = record.group, record.restart
        assert group is not None and note is not None
        current = self._live.get(group)
        if current is not None and current.kind == "recreate":
            return
        snap = self.view.group(record.namespace, record.key_name) if self.view is not None else None
        track = self._tracks.setdefault(group, GroupTrack(leader_uid=snap.leader_uid if snap else ""))
        # The caches may not show our own deletion yet: the leader they show is the one being replaced.
        leader = (snap.leader_uid if snap is not None else "") or track.leader_uid
        reason = note.reason or "restart policy"
        if current is not None and current.kind == "recover":
            self._escalate(current, Escalate(reason, leader))
            track.lifecycle = current.state
            return
        self._close(group, "superseded")
        track.lifecycle = OpenLifecycle("recreate", replaces_leader=leader)
        record.started = self._open(
            group, track.lifecycle, reason, start_ns=record.start_ns, measured=True, parent=None
        )

    def _finish_group(self, record: Reconcile) -> None:
        group = record.group
        snap = self.view.group(record.namespace, record.key_name) if self.view and group else None
        if group is None or snap is None:
            ending: list[tuple[Lifecycle, str]] = []
            if group is not None and self.view is not None:  # the set is gone, and so is the group
                gone = self._live.pop(group, None)
                ending = [(gone, "removed")] if gone is not None else []
                self._tracks.pop(group, None)
                self._measured_failures.pop(group, None)
            self._emit_group(record, ending)
            return
        record.set_attribute(a.REVISION, snap.revision)
        track = self._tracks.get(group)
        found = GroupFindings(
            restart=record.restart.action if record.restart is not None else None,
            restart_reason=record.restart.reason if record.restart is not None else "",
            workers_created=record.workers_created,
            gate=record.gate,
        )
        ending = []
        for step in group_steps(track, snap, found):
            if isinstance(step, Start):
                parent = context_of(step.resume_from) if step.resume_from else None
                start_ns = record.start_ns if step.at_reconcile_start else time.time_ns()
                opened = self._open(
                    group,
                    step.opened(),
                    step.reason,
                    start_ns=start_ns,
                    measured=step.measured,
                    parent=parent,
                )
                record.started = record.started or opened
            elif isinstance(step, Escalate):
                live = self._live.get(group)
                if live is not None:
                    self._escalate(live, step)
            elif isinstance(step, End):
                closing = self._live.pop(group, None)
                if closing is not None:
                    ending.append((closing, step.outcome))
            else:
                self._milestone(self._live.get(group) or (ending[-1][0] if ending else None), step, record)
        track = self._tracks.setdefault(group, track or GroupTrack())
        track.ready, track.leader_uid, track.leader_ready = snap.ready, snap.leader_uid, snap.leader_ready
        if record.gate_checked:
            track.gate = record.gate
        live = self._live.get(group)
        track.lifecycle = live.state if live is not None else None
        self._emit_group(record, ending)

    @staticmethod
    def _milestone(lifecycle: Lifecycle | None, step: Milestone, record: Reconcile) -> None:
        if lifecycle is None or lifecycle.span is None:
            return
        # What the reconcile found happened before it ran (the event that queued it); what it did, when
        # it did it.
        details: dict[str, Any] = {}
        at = record.start_ns
        if step.name == "leader pod created":
            details[a.K8S_POD_UID] = step.detail
        elif step.name == "leader pod deleted":  # often by this very reconcile: seen by its end
            details[a.K8S_POD_UID] = step.detail
            at = record.end_ns or at
        elif step.name == "workers held back":
            details[a.STARTUP_GATE] = step.detail
            at = record.end_ns or at
        elif step.name == "worker StatefulSet created":
            at = record.workers_created_ns or at
        lifecycle.span.add_event(step.name, details, timestamp=at)

    def _emit_group(self, record: Reconcile, ending: list[tuple[Lifecycle, str]]) -> None:
        record.set_attribute(a.DECISION, _group_decision(record))
        parent = record.started or record.lifecycle_at_start
        if parent is None and record.group is not None:
            parent = self._live.get(record.group)
        if self.tracer is not None:
            self._emit_reconcile(record, parent=parent.context() if parent is not None else None)
        for lifecycle, outcome in ending:
            self._end(lifecycle, outcome, end_ns=record.end_ns or time.time_ns())

    def _emit_reconcile(self, record: Reconcile, *, parent: Context | None, end: bool = True) -> trace.Span:
        assert self.tracer is not None
        record.set_attribute(a.RECONCILE_RESULT, record.outcome or "error")
        error_type = None
        if record.outcome == "error":
            error_type = type(record.error).__name__ if record.error is not None else "_OTHER"
        return emit(self.tracer, record, parent=parent, error_type=error_type, end=end)

    # --- lifecycles ------------------------------------------------------------------------------------

    def _open(
        self,
        group: GroupId,
        state: OpenLifecycle,
        reason: str,
        *,
        start_ns: int,
        measured: bool,
        parent: Context | None,
    ) -> Lifecycle:
        elapsed = max(0.0, (time.time_ns() - start_ns) / 1e9)
        lifecycle = Lifecycle(group, state, reason, time.monotonic() - elapsed, measured)
        if self.tracer is not None:
            attrs: dict[str, Any] = {
                a.K8S_NAMESPACE_NAME: group[0],
                a.LWS_NAME: group[1],
                a.GROUP_INDEX: group[2],
                a.LIFECYCLE_KIND: state.kind,
                a.LIFECYCLE_REASON: reason,
            }
            if state.target_revision:
                attrs[a.REVISION] = state.target_revision
            lifecycle.span = self.tracer.start_span(
                SPAN_NAMES[state.kind],
                context=parent if parent is not None else Context(),
                attributes=attrs,
                start_time=start_ns,
                record_exception=False,
                set_status_on_exception=False,
            )
        self._live[group] = lifecycle
        return lifecycle

    @staticmethod
    def _escalate(lifecycle: Lifecycle, step: Escalate) -> None:
        lifecycle.state = step.opened()
        lifecycle.reason = step.reason
        if lifecycle.span is not None:
            lifecycle.span.update_name(SPAN_NAMES["recreate"])
            lifecycle.span.set_attribute(a.LIFECYCLE_KIND, "recreate")
            lifecycle.span.set_attribute(a.LIFECYCLE_REASON, step.reason)

    def _close(self, group: GroupId, outcome: str) -> None:
        lifecycle = self._live.pop(group, None)
        if lifecycle is not None:
            self._end(lifecycle, outcome, end_ns=time.time_ns())

    def _end(self, lifecycle: Lifecycle, outcome: str, *, end_ns: int) -> None:
        seconds = time.monotonic() - lifecycle.started
        if outcome == "ready" and lifecycle.measured and self.metrics is not None:
            if lifecycle.kind == "create":
                self.metrics.group_time_to_ready.observe(seconds)
            elif lifecycle.kind == "update":
                self.metrics.group_update.observe(seconds)
            elif lifecycle.kind in ("recreate", "recover"):
                self.metrics.group_recovery.labels(lifecycle.kind).observe(seconds)
        if lifecycle.span is not None:
            lifecycle.span.set_attribute(a.LIFECYCLE_OUTCOME, outcome)
            if outcome == "failed":
                lifecycle.span.set_status(Status(StatusCode.ERROR, "the restart policy gave the group up"))
                lifecycle.span.set_attribute(a.ERROR_TYPE, "GroupFailed")
            if outcome == "ready":
                lifecycle.span.add_event("group ready")
            lifecycle.span.end(end_time=end_ns)

    def shutdown(self) -> None:
        """End every open lifecycle (outcome ``operator stopped``) so that their spans are exported."""
        for group in list(self._live):
            self._close(group, "operator stopped")


class _ApiCallScope:
    """Entered around one API request of a reconcile; records it when the request is over."""

    __slots__ = ("call", "record", "start_ns", "telemetry")

    def __init__(self, telemetry: LwsTelemetry, record: Reconcile, call: ApiCallView) -> None:
        self.telemetry, self.record, self.call = telemetry, record, call
        self.start_ns = 0

    def __enter__(self) -> None:
        self.start_ns = time.time_ns()

    def __exit__(self, *exc: object) -> None:
        try:
            self.telemetry._api_done(self.record, self.call, self.start_ns)
        except Exception:
            log.exception("telemetry failed while recording an API call")


class _ApiMetricScope:
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


def current_reconcile() -> Reconcile | None:
    """The reconcile being recorded in this task, if any (for the plugin façade's reports)."""
    return _current.get()


def _group_decision(record: Reconcile) -> str:
    restart = record.restart
    if restart is not None and restart.action == "recreate" and record.leader_deleted:
        return "recreate group"
    if restart is not None and restart.action == "wait":
        return "delay group recreation"
    if restart is not None and restart.action == "fail":
        return "mark group failed"
    if record.workers_created:
        return "create worker StatefulSet"
    if record.gate is not None:
        return "hold workers"
    return "none"


def _group_of_pod(namespace: str, name: str, labels: Mapping[str, str]) -> GroupId | None:
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


def _restarts(pod: Mapping[str, Any]) -> int:
    status = pod.get("status") or {}
    return sum(
        int(cs.get("restartCount") or 0)
        for key in ("initContainerStatuses", "containerStatuses")
        for cs in status.get(key) or []
    )


def _failure_time(pod: Mapping[str, Any]) -> datetime | None:
    """When the pod failed: its latest container termination, or the moment its deletion was asked for."""
    meta = pod.get("metadata") or {}
    deleted = meta.get("deletionTimestamp")
    if deleted:
        at = _parse_time(str(deleted))
        grace = meta.get("deletionGracePeriodSeconds")
        if at is not None and isinstance(grace, int):
            return datetime.fromtimestamp(at.timestamp() - grace, UTC)
        return at
    status = pod.get("status") or {}
    finished = [
        _parse_time(str(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt") or ""))
        for key in ("initContainerStatuses", "containerStatuses")
        for cs in status.get(key) or []
        if int(cs.get("restartCount") or 0) > 0
    ]
    known = [moment for moment in finished if moment is not None]
    return max(known) if known else None


def _parse_time(text: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
