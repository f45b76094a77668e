"""The operator's Prometheus metrics, in one class that takes a registry, and the ``/metrics`` endpoint.

Nothing registers at import: ``lws run`` builds :class:`LwsMetrics` on a registry of its own and serves it
with :class:`MetricsServer`; tests build one per test on a fresh ``CollectorRegistry``. Labels are bounded
sets (controller, result, verb, resource, plugin, hook, webhook, namespace): never a LeaderWorkerSet, pod
or group name; per-object detail belongs to traces and status. Label sets known at start are exported as
zeros. The list, with what each answers, is in ``docs/observability.md``.
"""

from __future__ import annotations

import logging
import ssl
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("lws.observability")

NAMESPACE = "lws"
CONTROLLERS = ("set", "group", "disaggregatedset")
RESULTS = ("success", "requeue", "error")
WEBHOOKS = (
    "mutate-leaderworkerset",
    "validate-leaderworkerset",
    "mutate-pod",
    "validate-pod",
    "validate-disaggregatedset",
)
WEBHOOK_RESULTS = ("allowed", "denied", "error")
RESTART_TRIGGERS = ("container-restart", "pod-deletion")
RESTART_ACTIONS = ("recreate", "wait", "fail", "ignore")
GROUP_STATES = ("desired", "ready", "updated", "failed")
RECOVERY_KINDS = ("recreate", "recover")

#: Group lifecycles last seconds to an hour (image pulls, model loading).
LIFECYCLE_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
#: A watch event reaches the operator in milliseconds; timestamps have whole seconds, hence the floor.
DETECTION_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
#: Reconciles, API calls, webhooks and plugin calls: sub-millisecond to seconds.
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class SetCounts:
    """One LeaderWorkerSet's groups, as its spec and status say."""

    namespace: str
    desired: int
    ready: int
    updated: int
    failed: int


SetsSource = Callable[[], Iterable[SetCounts]]


class GroupStates(Collector):
    """``lws_groups{namespace,state}``, summed over the sets of each namespace at scrape time.

    Read from the operator's cache when Prometheus asks, so reconciles pay nothing for it.
    """

    def __init__(self) -> None:
        self.source: SetsSource | None = None

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(GROUP_STATES, 0))
        for counts in self.source() if self.source is not None else ():
            total = totals[counts.namespace]
            total["desired"] += counts.desired
            total["ready"] += counts.ready
            total["updated"] += counts.updated
            total["failed"] += counts.failed
        for namespace, total in sorted(totals.items()):
            for state in GROUP_STATES:
                family.add_metric([namespace, state], total[state])
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            f"{NAMESPACE}_groups",
            "Leader/worker groups of all LeaderWorkerSets in a namespace, by state: desired (spec.replicas), "
            "ready and updated (status), failed (given up by the restart policy).",
            labels=["namespace", "state"],
        )


class LwsMetrics:
    """Every metric the operator exports, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

        def counter(name: str, doc: str, labels: Iterable[str] = ()) -> Counter:
            return Counter(name, doc, list(labels), namespace=NAMESPACE, registry=registry)

        def histogram(name: str, doc: str, labels: Iterable[str], buckets: Iterable[float]) -> Histogram:
            return Histogram(
                name,
                doc,
                list(labels),
                namespace=NAMESPACE,
                unit="seconds",
                registry=registry,
                buckets=tuple(buckets),
            )

        # --- reconciles (the shape of controller-runtime's, under our prefix) ---
        self.reconciles = counter(
            "reconcile",
            "Reconciles by controller (set, group, disaggregatedset) and result (success, requeue, error).",
            ["controller", "result"],
        )
        self.reconcile_errors = counter(
            "reconcile_errors", "Reconciles that failed and will be retried with backoff.", ["controller"]
        )
        self.reconcile_duration = histogram(
            "reconcile_duration",
            "Wall time of one reconcile, by controller (set, group, disaggregatedset).",
            ["controller"],
            FAST_BUCKETS,
        )
        # --- group SLIs ---
        self.group_time_to_ready = histogram(
            "group_time_to_ready",
            "From the reconcile that asked for a new group (leader StatefulSet scaled up) to all its pods "
            "Ready.",
            [],
            LIFECYCLE_BUCKETS,
        )
        self.group_update = histogram(
            "group_update",
            "From the rollout step that reached a group (partition moved past it) to all its pods Ready on "
            "the new revision.",
            [],
            LIFECYCLE_BUCKETS,
        )
        self.group_recovery = histogram(
            "group_recovery",
            "From a group's failure being detected to all its pods Ready again: recreated by the restart "
            "policy (kind=recreate) or back by itself, e.g. a container restarted in place (kind=recover).",
            ["kind"],
            LIFECYCLE_BUCKETS,
        )
        self.failure_detection = histogram(
            "group_failure_detection",
            "From a pod's failure (its container's termination, or its deletion being asked for) to the "
            "operator acting on it (timestamps have whole seconds).",
            [],
            DETECTION_BUCKETS,
        )
        self.group_recreations = counter(
            "group_recreations",
            "Groups recreated by their restart policy, by what set it off (reason: container-restart, "
            "pod-deletion) and the plugin whose decision counted.",
            ["reason", "plugin"],
        )
        self.restart_decisions = counter(
            "group_restart_decisions",
            "The restart policy's first answer to each pod failure (recreate, wait, fail, ignore), by "
            "plugin.",
            ["action", "plugin"],
        )
        self.rollout_step = histogram(
            "rollout_step_duration",
            "How long a rollout step lasted: from the partition moving down to its next move (or to the "
            "rollout being done).",
            [],
            LIFECYCLE_BUCKETS,
        )
        # --- admission and plugins ---
        self.webhook_duration = histogram(
            "webhook_duration", "Latency of an admission webhook request.", ["webhook"], FAST_BUCKETS
        )
        self.webhook_requests = counter(
            "webhook_requests",
            "Admission webhook requests by result (allowed, denied, error).",
            ["webhook", "result"],
        )
        self.hook_duration = histogram(
            "plugin_hook_duration",
            "Time spent in one plugin's implementation of a hook or policy.",
            ["plugin", "hook"],
            FAST_BUCKETS,
        )
        self._hook_timers: dict[tuple[str, str], Histogram] = {}
        self.hook_errors = counter(
            "plugin_hook_errors", "Plugin hook or policy calls that raised.", ["plugin", "hook"]
        )
        # --- API server ---
        self.api_requests = counter(
            "api_requests",
            "Requests to the Kubernetes API by verb, resource and HTTP code.",
            ["verb", "resource", "code"],
        )
        self.api_duration = histogram(
            "api_request_duration",
            "Latency of Kubernetes API requests (watches excluded: they last as long as the server keeps "
            "them).",
            ["verb", "resource"],
            FAST_BUCKETS,
        )
        self.groups = GroupStates()
        registry.register(self.groups)
        self._zeros()

    def _zeros(self) -> None:
        for controller in CONTROLLERS:
            self.reconcile_errors.labels(controller)
            self.reconcile_duration.labels(controller)
            for result in RESULTS:
                self.reconciles.labels(controller, result)
        for webhook in WEBHOOKS:
            self.webhook_duration.labels(webhook)
            for result in WEBHOOK_RESULTS:
                self.webhook_requests.labels(webhook, result)
        for kind in RECOVERY_KINDS:
            self.group_recovery.labels(kind)

    def hook_timer(self, plugin: str, hook: str) -> Histogram:
        """``lws_plugin_hook_duration_seconds`` of one plugin's hook. Plugins run dozens of times per group:
        the labelled child is looked up once, not on every call."""
        key = (plugin, hook)
        child = self._hook_timers.get(key)
        if child is None:
            child = self._hook_timers[key] = self.hook_duration.labels(plugin, hook)
        return child

    def known_plugins(self, hooks: Iterable[tuple[str, str]], restart_deciders: Iterable[str]) -> None:
        """Export zeros for the (plugin, hook) pairs and restart deciders the loaded plugins make known."""
        for plugin, hook in hooks:
            self.hook_duration.labels(plugin, hook)
            self.hook_errors.labels(plugin, hook)
        for plugin in restart_deciders:
            for reason in RESTART_TRIGGERS:
                self.group_recreations.labels(reason, plugin)
            for action in RESTART_ACTIONS:
                self.restart_decisions.labels(action, plugin)

    def watch_sets(self, source: SetsSource) -> None:
        """Where ``lws_groups`` reads the sets from (the operator's cache)."""
        self.groups.source = source


#: Decides on one ``/metrics`` request before it is served: ``None`` lets it through, a response (401,
#: 403...) is sent instead. ``lws.controller.metrics_endpoint`` asks the API server (TokenReview and
#: SubjectAccessReview), as upstream's controller does.
Guard = Callable[[web.Request], Awaitable[web.StreamResponse | None]]


class MetricsServer:
    """``/metrics`` on the operator's event loop (the ServiceMonitor scrapes it).

    :param ssl_context: serve HTTPS with it (plain HTTP without).
    :param guard: checked before every scrape (see :data:`Guard`).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.guard = guard
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Where it serves (with the port it got, once started)."""
        return f"{'https' if self.ssl_context else 'http'}://{self.host}:{self.port}/metrics"

    async def start(self) -> int:
        """Listen; returns the port (useful when asked for port 0)."""
        serve = make_aiohttp_handler(self.registry)
        guard = self.guard

        async def metrics(request: web.Request) -> web.StreamResponse:
            if guard is not None:
                refusal = await guard(request)
                if refusal is not None:
                    return refusal
            return await serve(request)

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.ssl_context)
        await site.start()
        addresses = self._runner.addresses  # aiohttp's public record of what its sites listen on
        if addresses:
            self.port = int(addresses[0][1])
        log.info(
            "metrics on %s%s",
            self.url,
            " (bearer token, authorized by the API server)" if guard is not None else "",
        )
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MetricsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def families(registry: CollectorRegistry) -> Iterator[str]:
    """Names of the metric families in ``registry`` (for docs and tests)."""
    for metric in registry.collect():
        yield metric.name
