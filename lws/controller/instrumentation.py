"""Tracing and metrics plugged into the operator: :mod:`lws.observability` bound to its caches.

:class:`OperatorTelemetry` is the operator's :class:`~lws.controller.context.Telemetry` implemented by
:class:`~lws.observability.telemetry.LwsTelemetry` (which sits below this layer and knows nothing of
caches or keys). The entry point builds one with :func:`build_telemetry`; the :class:`Operator` then calls
:func:`instrument` (which plugin implements which policy, for metric labels), :func:`attach` (caches,
API-call metrics) and :func:`webhook_middleware` (admission spans). Decisions reach the telemetry from the
reconcilers themselves (``ReconcileContext.decide``), never through the plugin façade. With the default
no-op telemetry these change nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet
from lws.cluster.resources import BUILTIN
from lws.controller.context import Telemetry
from lws.controller.deps import Caches, Deps
from lws.core.groups import group_ready
from lws.core.keys import split_ordinal
from lws.core.observe import controlled_by, deleting, revision_of, statefulset_ready, uid_of
from lws.hooks.manager import Hooks
from lws.k8s.pods import pod_running_and_ready
from lws.observability.lifecycle import TRACEPARENT_ANNOTATION, GroupSnapshot, SetSnapshot
from lws.observability.metrics import LwsMetrics, SetCounts
from lws.observability.telemetry import LwsTelemetry, WebhookFn

_FAILED = "Failed"


class OperatorTelemetry(LwsTelemetry, Telemetry):
    """Spans and metrics for the operator (see :mod:`lws.observability.telemetry`)."""

    def attach(self, deps: Deps) -> None:
        """Read the operator's caches, and count every API request the operator makes."""
        self.view = CacheView(deps.caches)
        self.kinds = {r.plural: r.kind for r in BUILTIN}
        if self.metrics is not None:
            deps.cluster.observers.append(self.observe_api)
            caches = deps.caches
            self.metrics.watch_sets(lambda: set_counts(caches))

    def instrument(self, hooks: Hooks) -> Hooks:
        """Learn which plugin implements each policy, and export the plugins' label sets as zeros; the
        façade itself is returned unchanged."""
        startup = {value: plugin for value, (plugin, _) in hooks.policies.startup.items()}
        restart = {value: plugin for value, (plugin, _) in hooks.policies.restart.items()}
        self.learn_policies(startup, restart)
        if self.metrics is not None:
            pairs = [(info.name, hook) for info in hooks.infos if info.enabled for hook in info.hooks]
            pairs += [(plugin, "startupPolicy") for plugin in startup.values()]
            pairs += [(plugin, "restartPolicy") for plugin in restart.values()]
            reviewers = [impl.plugin_name for impl in hooks.pm.hook.lws_review_restart.get_hookimpls()]
            self.metrics.known_plugins(sorted(set(pairs)), sorted({*restart.values(), *reviewers, "lws"}))
        return hooks


def build_telemetry(
    *, metrics: LwsMetrics | None = None, tracer_provider: TracerProvider | None = None, version: str = ""
) -> Telemetry:
    """The operator's telemetry: the no-op one when there is neither a metrics registry nor a tracer."""
    if metrics is None and tracer_provider is None:
        return Telemetry()
    return OperatorTelemetry(metrics=metrics, tracer_provider=tracer_provider, version=version)


def instrument(hooks: Hooks, telemetry: Telemetry) -> Hooks:
    """The plugin façade the operator should use with ``telemetry``."""
    return telemetry.instrument(hooks) if isinstance(telemetry, OperatorTelemetry) else hooks


def attach(telemetry: Telemetry, deps: Deps) -> None:
    """Let ``telemetry`` read the operator's caches and observe its API calls (once they exist)."""
    if isinstance(telemetry, OperatorTelemetry):
        telemetry.attach(deps)


def webhook_middleware(telemetry: Telemetry) -> Callable[[WebhookFn], WebhookFn]:
    """Wraps kopf's admission entry point so that each request is traced and timed."""
    if isinstance(telemetry, OperatorTelemetry):
        return telemetry.wrap_webhook
    return _unchanged


def _unchanged(fn: WebhookFn) -> WebhookFn:
    return fn


class CacheView:
    """Groups and leader StatefulSets as the telemetry needs them, read from the operator's caches."""

    def __init__(self, caches: Caches) -> None:
        self.caches = caches

    def group(self, namespace: str, leader_name: str) -> GroupSnapshot | None:
        parent = split_ordinal(leader_name)
        obj = self.caches.sets.get(namespace, parent[0]) if parent is not None else None
        if obj is None or deleting(obj):
            return None
        pod = self.caches.pods.get(namespace, leader_name)
        leader = pod if pod is not None and not deleting(pod) else None
        annotations = ((leader or {}).get("metadata") or {}).get("annotations") or {}
        size = _int(annotations.get(c.SIZE_ANNOTATION), LeaderWorkerSet(obj).size)
        sts = self.caches.statefulsets.get(namespace, leader_name)
        mine = sts is not None and leader is not None and controlled_by(sts, uid_of(leader))
        leader_ready = pod_running_and_ready(leader)
        # The trace-context carrier: the worker StatefulSet's own annotation (see group_reconciler).
        traceparent = (((sts or {}).get("metadata") or {}).get("annotations") or {}).get(
            TRACEPARENT_ANNOTATION
        )
        return GroupSnapshot(
            leader_uid=uid_of(leader) if leader is not None else "",
            leader_ready=leader_ready,
            ready=group_ready(leader_ready, statefulset_ready(sts) if mine else None, size_one=size == 1),
            revision=revision_of(pod),  # a leader being deleted still says which revision it ran
            workers=size == 1 or mine,
            traceparent=str(traceparent) if mine and traceparent else None,
        )

    def leader_statefulset(self, namespace: str, name: str) -> SetSnapshot | None:
        sts = self.caches.statefulsets.get(namespace, name)
        obj = self.caches.sets.get(namespace, name)
        if sts is None or obj is None:
            return None
        spec = sts.get("spec") or {}
        rolling = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
        replicas = _int(spec.get("replicas"), 1)
        partition = _int(rolling.get("partition"), 0)
        status = obj.get("status") or {}
        desired = LeaderWorkerSet(obj).replicas
        settled = (
            partition == 0
            and replicas == desired
            and status.get("updatedReplicas") == desired
            and status.get("readyReplicas") == desired
        )
        return SetSnapshot(replicas=replicas, partition=partition, revision=revision_of(sts), settled=settled)


def set_counts(caches: Caches) -> Iterator[SetCounts]:
    """Every cached LeaderWorkerSet's desired, ready, updated and failed groups (for ``lws_groups``)."""
    for obj in caches.sets.items():
        status = obj.get("status") or {}
        yield SetCounts(
            namespace=str(obj["metadata"].get("namespace") or ""),
            desired=LeaderWorkerSet(obj).replicas,
            ready=_int(status.get("readyReplicas"), 0),
            updated=_int(status.get("updatedReplicas"), 0),
            failed=sum(1 for e in status.get("groupRestarts") or [] if e.get("state") == _FAILED),
        )


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
