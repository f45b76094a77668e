"""The operator process: caches, work queue, leader election, webhooks, probes, and kopf, run together.

:class:`Operator` is what ``lws run`` starts and what tests and ``lws demo`` embed. One replica:

* keeps caches of every LeaderWorkerSet and of the pods, StatefulSets, Services and ControllerRevisions
  they own (label-selected), each fed by an informer that relists after a watch gap;
* serves the admission webhooks (every replica, through kopf), registering itself in the webhook
  configurations;
* reconciles (only while it holds the Lease, and only once every cache has listed): informer events
  become work-queue keys, and workers run the set and group reconcilers on them;
* answers ``/healthz`` (alive) and ``/readyz`` (caches synced and webhooks registered);
* on stop (SIGINT/SIGTERM, or :meth:`stop`): stops reconciling, releases the Lease, takes itself out of
  the webhook configurations, and closes its connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import kopf
from aiohttp import web

from lws import __version__
from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.cluster.certs import make_serving_certificate
from lws.cluster.client import ApiObserver, Cluster
from lws.cluster.errors import ApiError, NotFound
from lws.cluster.events import EventRecorder
from lws.cluster.informer import Informer
from lws.cluster.lease import LeaderElector, LeaseConfig
from lws.cluster.resources import (
    CONTROLLER_REVISIONS,
    DISAGGREGATEDSETS,
    LEADERWORKERSETS,
    NODES,
    PODS,
    ROLE_SCALERS,
    SERVICES,
    STATEFULSETS,
)
from lws.cluster.tls import CertificateFilesError, ServingTLS
from lws.cluster.webhooks import Endpoint, WebhookRegistrar, registered_webhooks
from lws.controller import handlers, instrumentation, refusals
from lws.controller.context import Telemetry, hook_observer, reconciling
from lws.controller.deps import (
    BY_DS,
    BY_GROUP,
    BY_NODE,
    BY_REVISION,
    BY_SET,
    Caches,
    Deps,
    DisaggregatedCaches,
    GroupBook,
    KindCaches,
    ds_index,
    group_index,
    node_index,
    node_labels_only,
    revision_index,
    set_index,
)
from lws.controller.disaggregated_reconciler import reconcile_disaggregated_set
from lws.controller.group_reconciler import reconcile_group
from lws.controller.kopf_webhooks import ListeningWebhookServer
from lws.controller.management import ManagementWatch
from lws.controller.queue import ShutDown, WorkQueue
from lws.controller.set_reconciler import reconcile_set
from lws.controller.settings import OperatorSettings
from lws.core import hash_identity, routing
from lws.core.routing import Key
from lws.hooks.manager import Hooks

log = logging.getLogger("lws.operator")

Connect = Callable[[str | None, str | None, Sequence[ApiObserver]], Awaitable[Cluster]]
"""(kubeconfig, context, observers) -> a connected :class:`Cluster`."""


class OperatorStartError(RuntimeError):
    """The operator cannot start against this cluster; the message says what to do."""


class Operator:
    """One replica of the operator. Call :meth:`run`; it returns after a stop.

    :param connect: makes the cluster client from the settings (``lws.cluster.kube.connect``); the
        composition root passes it, so this layer never depends on the ``kubernetes`` package.
    :param telemetry: the tracing/metrics seam (no-op by default).
    :param api_observers: process-wide observers of every API call (metrics).
    :param handle_signals: stop cleanly on SIGINT/SIGTERM (a process's main operator, not an embedded one).
    """

    def __init__(
        self,
        settings: OperatorSettings,
        hooks: Hooks,
        *,
        connect: Connect,
        telemetry: Telemetry | None = None,
        api_observers: Sequence[ApiObserver] = (),
        handle_signals: bool = False,
    ) -> None:
        self.settings = settings
        self._handle_signals = handle_signals
        self.telemetry = telemetry or Telemetry()
        self.hooks = instrumentation.instrument(hooks, self.telemetry)
        self.hooks.observer = hook_observer(self.telemetry)
        self.cluster: Cluster | None = None
        self._connect = connect
        self._api_observers = list(api_observers)
        self.queue: WorkQueue[Key] = WorkQueue(spacing=self._spacing)
        self.deps: Deps | None = None
        self.elector: LeaderElector | None = None
        self.registrar: WebhookRegistrar | None = None
        self.ready = asyncio.Event()
        #: Set while this replica may reconcile (it holds the Lease, or leader election is off).
        self.leading = asyncio.Event()
        #: The reconciles running now; cancelled the moment leadership is lost.
        self._reconciles: set[asyncio.Task[None]] = set()
        #: Informers started while running (plugin kinds); stopped with the others.
        self._late_tasks: list[asyncio.Task[None]] = []
        self.health_port: int | None = None
        self.health_host: str | None = None
        self.webhook_url: str | None = None
        #: Why the operator stopped on its own, if it did (``None`` after a requested stop).
        self.failure: str | None = None
        self._stop = asyncio.Event()
        self._webhooks_listening = asyncio.Event()
        self._crashing = False
        self._stopped_own = False
        self._cert_dir: tempfile.TemporaryDirectory[str] | None = None
        #: What the webhook server presents (made here, or mounted files reloaded on rotation).
        self.webhook_tls: ServingTLS | None = None
        #: The LeaderWorkerSetOperator named cluster, honoured (once connected).
        self.management: ManagementWatch | None = None
        self._refused: refusals.Refusals | None = None
        #: Whether the cluster serves DisaggregatedSets (and their RoleScalers): their controller runs then.
        self.disaggregated = False

    # --- lifecycle -----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask a running :meth:`run` to shut down cleanly (from the operator's own loop)."""
        self._stop.set()

    def _take_signals(self) -> None:
        """SIGINT/SIGTERM stop us first (then kopf), instead of kopf's own handlers stopping kopf first."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stop)

    def crash(self) -> None:
        """Stop as if the process were killed: keep the Lease and the webhook registration behind.

        The cluster sees what a ``kill -9`` leaves (a Lease that must expire, a webhook URL nobody
        answers), while this process still closes its own connections. For tests of recovery.
        """
        self._crashing = True
        if self.elector is not None:
            self.elector.release_on_stop = False
        self._stop.set()

    async def run(self) -> None:
        """Run until stopped or until a part fails for good; always cleans up behind itself."""
        if self._handle_signals:
            self._take_signals()
        self._check_lease_settings()
        cluster = await self._connect(self.settings.kubeconfig, self.settings.context, self._api_observers)
        self.cluster = cluster
        log.info("connected to %s (%s)", cluster.server, cluster.info.source)
        health: web.AppRunner | None = None
        try:
            await self._require_crd(cluster)
            self.disaggregated = await self._serves_disaggregated(cluster)
            # Bound before anything is registered: a start that fails here leaves the cluster untouched.
            health = await self._serve_health()
        except BaseException:
            await cluster.close()
            raise
        deps = self._build(cluster)
        self.deps = deps
        instrumentation.attach(self.telemetry, deps)
        self.management = ManagementWatch(
            cluster, version=__version__, leading=self.leading, on_resume=self.resync
        )
        kopf_settings = kopf.OperatorSettings()
        try:
            server = self._webhook_server(cluster) if self.settings.webhooks else None
        except CertificateFilesError as exc:
            await cluster.close()
            raise OperatorStartError(f"cannot serve the webhooks: {exc}") from None
        handlers.configure(kopf_settings, server=server)
        registry = handlers.build_registry(
            hooks=self.hooks,
            connection=cluster.connection_details,
            webhooks=self.settings.webhooks,
            warnings=self.management.warnings,
        )
        stop_flag = asyncio.Event()
        background: list[asyncio.Task[Any]] = []
        try:
            # Every long-running task is created before kopf starts: kopf cancels, on exit, all tasks
            # created after it, and ours must be stopped in order (stop reconciling, then clean up).
            background += [
                asyncio.create_task(i.run(), name=f"informer {i.resource}") for i in deps.caches.informers
            ]
            background.append(asyncio.create_task(deps.recorder.run(), name="event recorder"))
            background.append(asyncio.create_task(self._lead(), name="leader election"))
            background += [
                asyncio.create_task(self._work(n), name=f"worker {n}") for n in range(self.settings.workers)
            ]
            background.append(asyncio.create_task(self._resync(), name="resync"))
            background.append(asyncio.create_task(self.management.run(), name="LeaderWorkerSetOperator"))
            background.append(asyncio.create_task(self._readiness(), name="readiness"))
            if self.registrar is not None:
                background.append(asyncio.create_task(self._register_webhooks(), name="webhook registration"))
            if self.webhook_tls is not None and self.webhook_tls.directory is not None:
                watch = self.webhook_tls.watch(self.settings.cert_check_interval)
                background.append(asyncio.create_task(watch, name="webhook certificate"))
            background.append(asyncio.create_task(self._relay_stop(background, stop_flag), name="stop relay"))
            await asyncio.sleep(0)  # let them start, so kopf sees them as pre-existing
            namespaces = self.settings.namespaces
            # kopf.operator() is spawn_tasks() + run_tasks(); done in two steps so that, in between, our
            # signal handlers replace kopf's: a signal then stops our part first, and kopf after it.
            ours = set(asyncio.all_tasks())
            kopf_tasks = await kopf.spawn_tasks(
                registry=registry,
                settings=kopf_settings,
                standalone=True,
                clusterwide=namespaces is None,
                namespaces=list(namespaces or ()),
                stop_flag=stop_flag,
            )
            if self._handle_signals:
                self._take_signals()
            await kopf.run_tasks(kopf_tasks, ignored=ours)
        finally:
            await self._shutdown(background, health)

    async def _shutdown(self, background: list[asyncio.Task[Any]], health: web.AppRunner | None) -> None:
        """After kopf stopped: whatever the stop relay did not get to (kopf failed), then connections."""
        await self._stop_own(background)
        if health is not None:
            await health.cleanup()
        if self._cert_dir is not None:
            self._cert_dir.cleanup()
        if self.cluster is not None:
            await self.cluster.close()
        log.info("stopped")

    async def _stop_own(self, background: list[asyncio.Task[Any]]) -> None:
        """Stop reconciling, release the Lease, leave the webhook configurations; once, in that order."""
        if self._stopped_own:
            return
        self._stopped_own = True
        log.info("shutting down")
        self.ready.clear()
        self.queue.shut_down()
        current = asyncio.current_task()
        tasks = [t for t in background if t is not current]
        # Reconciling stops before the Lease is released (the elector's task releases it when cancelled):
        # a standby may take over the moment it is.
        self.leading.clear()
        workers = [t for t in tasks if t.get_name().startswith("worker ")]
        await self._cancel(workers)
        await self._cancel([t for t in tasks if t not in workers] + self._late_tasks)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                error = task.exception()
                log.error("%s failed: %s", task.get_name(), error, exc_info=error)
        if self.registrar is not None and not self._crashing:
            await self.registrar.unregister()

    @staticmethod
    async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded, so that one task ignoring its cancellation can never keep the process alive.
            _, stuck = await asyncio.wait(tasks, timeout=10.0)
            for task in stuck:
                log.error("%s did not stop within 10 s; leaving it behind", task.get_name())

    async def _relay_stop(self, background: list[asyncio.Task[Any]], stop_flag: asyncio.Event) -> None:
        """On a stop request (or when one of our tasks ends, always a failure): stop our part, then kopf.

        Our part goes first, while kopf still serves webhooks, so no admission request fails on the way
        out; and kopf finds no tasks of ours left to wait for.
        """
        others = [t for t in background if t is not asyncio.current_task()]
        stopper = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait([stopper, *others], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper:
                error = None if task.cancelled() else task.exception()
                self.failure = f"{task.get_name()}: {error or 'ended unexpectedly'}"
                log.error("%s; stopping", self.failure)
        stopper.cancel()
        try:
            await self._stop_own(background)
        finally:
            stop_flag.set()

    # --- assembly ------------------------------------------------------------------------------------

    def _check_lease_settings(self) -> None:
        """Refuse lease durations under which two replicas could lead at once (client-go refuses them too)."""
        if not self.settings.leader_elect:
            return
        problems = LeaseConfig(
            identity=self.settings.identity,
            lease_duration=self.settings.lease_duration,
            renew_deadline=self.settings.renew_deadline,
            retry_period=self.settings.retry_period,
        ).problems()
        if problems:
            raise OperatorStartError(
                "leader election: "
                + "; ".join(problems)
                + " (see --leader-elect-lease-duration, --leader-elect-renew-deadline, "
                "--leader-elect-retry-period, or leaderElection in the configuration file)"
            )

    async def _require_crd(self, cluster: Cluster) -> None:
        """Fail at once, saying what to do, when the cluster does not serve LeaderWorkerSets."""
        try:
            await cluster.resource_for(c.API_VERSION, c.KIND, discover=True)
        except NotFound:
            raise OperatorStartError(
                f"the cluster at {cluster.server} serves no {c.KIND} ({c.API_VERSION}): install the CRD "
                "first, e.g. `kubectl apply --server-side -f crds/` "
                "or `lws crd | kubectl apply --server-side -f -`"
            ) from None
        except ApiError as exc:
            # Transient errors were retried by the client; what is left will not pass by itself.
            raise OperatorStartError(
                f"cannot tell whether the cluster at {cluster.server} serves {c.KIND} ({c.API_VERSION}): "
                f"{exc}; check that the API server is up and that this operator's account may read "
                f"/apis/{c.API_VERSION}"
            ) from None

    async def _serves_disaggregated(self, cluster: Cluster) -> bool:
        """Whether both DisaggregatedSet CRDs are installed; without them that controller stays off."""
        try:
            for kind in (d.KIND, d.SCALER_KIND):
                await cluster.resource_for(d.API_VERSION, kind, discover=True)
        except NotFound:
            log.info(
                "the cluster serves no %s (%s): the DisaggregatedSet controller is off; install its CRDs "
                "(crds/, or `lws crd --kind DisaggregatedSet`) and restart to turn it on",
                d.KIND,
                d.API_VERSION,
            )
            return False
        return True

    def _build(self, cluster: Cluster) -> Deps:
        selector = c.SET_NAME_LABEL
        namespaces = list(self.settings.namespaces) if self.settings.namespaces is not None else None

        def informer(
            resource: Any,
            route: Callable[[dict[str, Any]], list[Key]],
            groups: bool = False,
            also: Callable[[str, dict[str, Any], dict[str, Any] | None], None] | None = None,
            *,
            label_selector: str = selector,
            indexers: dict[str, Any] | None = None,
            observers: Sequence[Any] = (),
        ) -> Informer:
            indexers = {BY_SET: set_index, **(indexers or {})}
            if groups:
                indexers.update({BY_GROUP: group_index, BY_NODE: node_index})
            return Informer(
                cluster,
                resource,
                label_selector=label_selector,
                namespaces=namespaces,
                indexers=indexers,
                handlers=[lambda _kind, obj, _old: self._enqueue(route(obj)), *([also] if also else [])],
                observers=observers,
            )

        def to_disaggregated(_kind: str, obj: dict[str, Any], _old: dict[str, Any] | None) -> None:
            self._enqueue(routing.disaggregated_keys(obj))

        def owned_by_disaggregated(resource: Any) -> Informer:
            return Informer(
                cluster,
                resource,
                label_selector=d.SET_NAME_LABEL,
                namespaces=namespaces,
                indexers={BY_DS: ds_index},
                handlers=[to_disaggregated],
            )

        disaggregated = None
        if self.disaggregated:
            disaggregated = DisaggregatedCaches(
                sets=Informer(
                    cluster,
                    DISAGGREGATEDSETS,
                    all_objects=True,
                    namespaces=namespaces,
                    handlers=[self._on_ds_event],
                ),
                scalers=owned_by_disaggregated(ROLE_SCALERS),
                services=owned_by_disaggregated(SERVICES),
            )

        groups = GroupBook()

        caches = Caches(
            # Every LeaderWorkerSet is ours: no selector. A relist reports sets deleted in a watch gap.
            # Those a DisaggregatedSet controls are its children: indexed by it; a change reconciles it.
            sets=Informer(
                cluster,
                LEADERWORKERSETS,
                all_objects=True,
                namespaces=namespaces,
                indexers={BY_DS: ds_index},
                handlers=[self._on_set_event, *([to_disaggregated] if disaggregated else [])],
            ),
            pods=informer(
                PODS, routing.pod_keys, groups=True, also=self._on_pod_deleted, observers=[groups.pod_changed]
            ),
            statefulsets=informer(
                STATEFULSETS, routing.statefulset_keys, observers=[groups.statefulset_changed]
            ),
            services=informer(SERVICES, routing.service_keys),
            # The StatefulSet controller copies the pod template's labels (ours included) onto its own
            # revisions of every StatefulSet, adding controller.kubernetes.io/hash; a set's own never
            # carry that label (upstream's and ours alike), so the server leaves the others out.
            revisions=informer(
                CONTROLLER_REVISIONS,
                routing.owned_keys,
                label_selector=f"{selector},!{c.HISTORY_HASH_LABEL}",
                indexers={BY_REVISION: revision_index},
            ),
            # Node labels only, for placement plugins; watched, so a relabelled node is seen at once.
            nodes=Informer(
                cluster, NODES, all_objects=True, transform=node_labels_only, handlers=[self._on_node_event]
            ),
            kinds=KindCaches(
                lambda resource: informer(resource, routing.plugin_object_keys), self._start_late
            ),
            disaggregated=disaggregated,
            groups=groups,
        )
        recorder = EventRecorder(cluster, instance=self.settings.identity.split("_")[0])
        namespace = self.operator_namespace
        if self.settings.leader_elect:
            self.elector = LeaderElector(
                cluster,
                LeaseConfig(
                    identity=self.settings.identity,
                    namespace=namespace,
                    name=self.settings.lease_name,
                    lease_duration=self.settings.lease_duration,
                    renew_deadline=self.settings.renew_deadline,
                    retry_period=self.settings.retry_period,
                    fallback_namespace=None if cluster.info.in_cluster else "default",
                ),
            )
        return Deps(
            cluster=cluster,
            caches=caches,
            hooks=self.hooks,
            recorder=recorder,
            telemetry=self.telemetry,
            field_manager=self.settings.field_manager,
            status_interval=self.settings.status_interval,
        )

    @property
    def default_bind_host(self) -> str:
        """Where probes and metrics listen when no host is given: every interface in a pod (the kubelet
        and Prometheus come from outside it), loopback outside one (nothing else needs them there)."""
        in_pod = self.cluster is not None and self.cluster.info.in_cluster
        return "0.0.0.0" if in_pod else "127.0.0.1"

    @property
    def operator_namespace(self) -> str:
        info_ns = self.cluster.info.namespace if self.cluster is not None else None
        return self.settings.operator_namespace or info_ns or c.OPERATOR_NAMESPACE

    def _webhook_server(self, cluster: Cluster) -> ListeningWebhookServer:
        in_pod = cluster.info.in_cluster and self.settings.webhook_url is None
        host = self.settings.webhook_host or ("0.0.0.0" if in_pod else "127.0.0.1")
        port = self.settings.webhook_port
        if port is None:
            port = 9443 if in_pod else 0
        if port == 0:
            port = _free_port(host)
        if self.settings.internal_certs:
            tls, advertised = self._own_certificate(cluster, in_pod, host, port)
        else:
            # cert-manager or OLM made the certificate and put its CA into the webhook configurations.
            tls = ServingTLS.from_directory(self.settings.webhook_cert_dir)
            advertised = "127.0.0.1" if host in ("0.0.0.0", "") else host
            self.webhook_url = f"https://{advertised}:{port}"
        self.webhook_tls = tls
        # kopf loads a certificate from files at start; ours comes from the context's SNI callback, which
        # also serves rotations, so the files kopf reads (a private copy) never change.
        self._cert_dir = tempfile.TemporaryDirectory(prefix="lws-webhook-")
        cert_path, key_path = tls.pair.write(self._cert_dir.name)
        traced = instrumentation.webhook_middleware(self.telemetry)
        return ListeningWebhookServer(
            on_listening=lambda _url: self._webhooks_listening.set(),
            middleware=lambda fn: traced(handlers.direct_pod_webhooks(fn, self.hooks)),
            addr=host,
            port=port,
            host=advertised,
            context=tls.context,
            certfile=str(cert_path),
            pkeyfile=str(key_path),
            cadata=tls.pair.cert_pem,
        )

    def _own_certificate(
        self, cluster: Cluster, in_pod: bool, host: str, port: int
    ) -> tuple[ServingTLS, str]:
        """A CA and serving certificate made now, and the registrar that keeps the CA in the webhook
        configurations (``internalCertManagement``)."""
        namespace = self.operator_namespace
        if in_pod:
            service = self.settings.webhook_service
            endpoint = Endpoint(service_namespace=namespace, service_name=service)
            dns = [
                service,
                f"{service}.{namespace}",
                f"{service}.{namespace}.svc",
                f"{service}.{namespace}.svc.cluster.local",
            ]
            ips: list[str] = []
            identity = f"pod/{namespace}/{os.environ.get('POD_NAME') or socket.gethostname()}"
            advertised = f"{service}.{namespace}.svc"
        else:
            base = (
                self.settings.webhook_url
                or f"https://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
            )
            endpoint = Endpoint(url=base)
            advertised = urllib.parse.urlsplit(base).hostname or "127.0.0.1"
            dns, ips = ([], [advertised]) if _is_ip(advertised) else ([advertised], [])
            identity = f"local/{socket.gethostname()}/{os.getpid()}/{port}"
        certificate = make_serving_certificate(
            identity=identity, dns_names=dns, ip_addresses=ips, url=endpoint.url
        )
        self.registrar = WebhookRegistrar(
            cluster,
            certificate=certificate,
            endpoint=endpoint,
            operator_namespace=namespace,
            webhooks=registered_webhooks(disaggregatedset=self.settings.disaggregatedset_webhook),
        )
        self.webhook_url = endpoint.url
        return ServingTLS.from_certificate(certificate), advertised

    # --- events into keys ----------------------------------------------------------------------------

    def _spacing(self, key: Key) -> float:
        """Set reconciles look at every group: one per :attr:`OperatorSettings.set_interval` is enough."""
        return self.settings.set_interval if key.kind == "set" else 0.0

    def _enqueue(self, keys: list[Key]) -> None:
        for key in keys:
            self.queue.add(key)

    def _on_set_event(self, kind: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if kind == "DELETED":
            return  # garbage collection removes what it owned
        meta = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        self.queue.add(Key("set", namespace, name))
        if (
            old is None
            or old.get("spec") != obj.get("spec")
            or (old.get("metadata") or {}).get("annotations") != meta.get("annotations")
        ):
            # A group reconcile that ran before its set was cached had nothing to act on: a set seen for
            # the first time gets its groups looked at again. Startup and restart policies live in the
            # spec, plugin settings in annotations: a change lets waiting groups look again too.
            for key in self._group_keys(namespace, name):
                self.queue.add(key)

    def _on_ds_event(self, kind: str, obj: dict[str, Any], _old: dict[str, Any] | None) -> None:
        if kind != "DELETED":  # garbage collection removes what it owned
            meta = obj.get("metadata") or {}
            self.queue.add(Key("disaggregatedset", str(meta.get("namespace")), str(meta.get("name"))))

    def _on_node_event(self, kind: str, node: dict[str, Any], old: dict[str, Any] | None) -> None:
        labels = (node.get("metadata") or {}).get("labels")
        if kind != "MODIFIED" or old is None or (old.get("metadata") or {}).get("labels") == labels:
            return
        # A group whose workers wait on its leader's node (placement) looks again at the new labels.
        assert self.deps is not None
        for pod in self.deps.caches.pods.by_index(BY_NODE, str(node["metadata"]["name"])):
            meta = pod["metadata"]
            self.queue.add(Key("group", str(meta.get("namespace")), str(meta["name"])))

    def _on_pod_deleted(self, kind: str, pod: dict[str, Any], old: dict[str, Any] | None) -> None:
        """groupIdentity Hash: a pod of the set is gone, so a group being torn down may be gone too, and
        its gated replacement leaders may start scheduling (groupReplacementPolicy PostTermination)."""
        if kind != "DELETED" or not hash_identity.is_hash_pod(pod):
            return
        assert self.deps is not None
        meta = pod.get("metadata") or {}
        namespace, set_name = str(meta.get("namespace")), (meta.get("labels") or {}).get(c.SET_NAME_LABEL)
        for other in self.deps.caches.pods.by_index(BY_SET, f"{namespace}/{set_name}"):
            if hash_identity.gated(other):
                self.queue.add(Key("group", namespace, str(other["metadata"]["name"])))

    def _start_late(self, informer: Informer) -> None:
        """Run an informer made after start-up (a plugin kind's) until the operator stops."""
        self._late_tasks.append(asyncio.create_task(informer.run(), name=f"informer {informer.resource}"))

    def _group_keys(self, namespace: str, name: str) -> list[Key]:
        assert self.deps is not None
        pods = self.deps.caches.pods.by_index(BY_SET, f"{namespace}/{name}")
        return [
            Key("group", namespace, str(p["metadata"]["name"]))
            for p in pods
            if (p["metadata"].get("labels") or {}).get(c.WORKER_INDEX_LABEL) == "0"
        ]

    def _managed(self) -> bool:
        return self.management is None or self.management.managed.is_set()

    def resync(self) -> None:
        """Queue every known set, group and DisaggregatedSet (on gaining the Lease, on resuming, and
        periodically as a safety net); and look at the LeaderWorkerSetOperator again (the leader reports its
        status)."""
        assert self.deps is not None
        if self.management is not None:
            self.management.poke()
        for obj in self.deps.caches.sets.items():
            meta = obj["metadata"]
            self.queue.add(Key("set", meta["namespace"], meta["name"]))
            for key in self._group_keys(meta["namespace"], meta["name"]):
                self.queue.add(key)
        if self.deps.caches.disaggregated is not None:
            for obj in self.deps.caches.disaggregated.sets.items():
                meta = obj["metadata"]
                self.queue.add(Key("disaggregatedset", meta["namespace"], meta["name"]))

    # --- background tasks ----------------------------------------------------------------------------

    async def _lead(self) -> None:
        if self.elector is None:
            self._on_leadership(True)
            await asyncio.Event().wait()
            return
        self.elector.listeners.append(self._on_leadership)
        try:
            await self.elector.run()
        finally:
            self._on_leadership(False)

    def _on_leadership(self, leading: bool) -> None:
        """Called synchronously by the elector: on a loss, no reconcile runs past this call's return."""
        if leading:
            self.leading.set()
            asyncio.get_running_loop().create_task(self._resync_when_synced(), name="resync on leading")
            return
        self.leading.clear()
        if self._reconciles:
            log.warning("leadership lost: cancelling %d running reconcile(s)", len(self._reconciles))
        for task in list(self._reconciles):
            task.cancel()

    async def _resync_when_synced(self) -> None:
        await self._synced()  # the caches' initial lists queued everything they saw
        if self.leading.is_set():
            self.resync()

    async def _work(self, number: int) -> None:
        assert self.deps is not None
        deps = self.deps
        while True:
            await self._synced()
            # Nothing is built before the pod webhook is in place: a pod created before it bypasses
            # admission, and a leader pod without its group labels stays unusable.
            await self._webhooks_ready()
            await self.leading.wait()
            if self.management is not None:
                await self.management.managed.wait()  # managementState Unmanaged or Removed: paused
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                if not self.leading.is_set() or not self._managed():
                    self.queue.add(key)  # not ours to do now; the next leader, or this one on resuming, will
                    continue
                # Its own task, so that losing the Lease cancels it (see _on_leadership).
                reconcile = asyncio.create_task(self._process(deps, key), name=f"reconcile {key}")
                self._reconciles.add(reconcile)
                try:
                    await asyncio.wait([reconcile])
                finally:
                    self._reconciles.discard(reconcile)
                    if not reconcile.done():  # this worker is being cancelled (shutdown)
                        reconcile.cancel()
                        await asyncio.wait([reconcile])
                if reconcile.cancelled():
                    self.queue.add(key)  # cut short by the loss of the Lease: redo it when leading again
            finally:
                self.queue.done(key)

    async def _process(self, deps: Deps, key: Key) -> None:
        start = time.monotonic()
        attributes = {"k8s.namespace.name": key.namespace, "leaderworkerset.key": key.name}
        with reconciling(
            key, clock=deps.clock, telemetry=self.telemetry, logger=log, attributes=attributes
        ) as ctx:
            try:
                if key.kind == "set":
                    result = await reconcile_set(deps, ctx, key.namespace, key.name)
                elif key.kind == "disaggregatedset":
                    result = await reconcile_disaggregated_set(deps, ctx, key.namespace, key.name)
                else:
                    result = await reconcile_group(deps, ctx, key.namespace, key.name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = self.queue.add_rate_limited(key)
                # A DisaggregatedSet's refusals are its children's: each LeaderWorkerSet reports its own.
                refused = refusals.refusal(exc) if key.kind != "disaggregatedset" else None
                if refused is not None:
                    # The API server said no to what we asked: the set says why, no traceback (it is not
                    # our fault), and the key is retried with backoff in case the refusal goes away.
                    ctx.log.warning("refused (retrying in %.2fs): %s", delay, exc)
                    await self._refusals(deps).failed(key, refused)
                else:
                    level = logging.WARNING if self.queue.failures(key) < 5 else logging.ERROR
                    ctx.log.log(
                        level,
                        "reconcile failed (retrying in %.2fs): %s",
                        delay,
                        exc,
                        # An API error's message says what failed and why (verb, object, status); only an
                        # unexpected exception needs its traceback.
                        exc_info=level >= logging.ERROR and not isinstance(exc, ApiError),
                    )
                self.telemetry.reconcile_done(ctx.span, key, "error", time.monotonic() - start)
                return
        if key.kind != "disaggregatedset":
            await self._refusals(deps).passed(key)
        self.queue.forget(key)
        if result.requeue_after == 0:
            self.queue.add(key, spaced=False)  # it stopped to read again: go on at once
        elif result.requeue_after is not None:
            self.queue.add_after(key, result.requeue_after)
        self.telemetry.reconcile_done(
            ctx.span, key, "requeue" if result.requeue_after else "success", time.monotonic() - start
        )

    def _refusals(self, deps: Deps) -> refusals.Refusals:
        if self._refused is None:
            self._refused = refusals.Refusals(deps)
        return self._refused

    async def _synced(self) -> None:
        assert self.deps is not None
        for informer in self.deps.caches.informers:
            await informer.synced.wait()

    async def _resync(self) -> None:
        await self._synced()
        while True:
            await asyncio.sleep(self.settings.resync_period)
            if self.leading.is_set():
                self.resync()

    async def _register_webhooks(self) -> None:
        assert self.registrar is not None
        await self._webhooks_listening.wait()
        await self.registrar.run()

    async def _webhooks_ready(self) -> None:
        """Until this replica's webhooks are registered (or, when an install registers them, served)."""
        if self.registrar is not None:
            await self.registrar.registered.wait()
        elif self.settings.webhooks:
            await self._webhooks_listening.wait()

    async def _readiness(self) -> None:
        await self._synced()
        await self._webhooks_ready()
        self.ready.set()
        served = ", webhooks served" if self.settings.webhooks else ""
        if self.registrar is not None:
            served = ", webhooks registered"
        log.info("ready: caches synced%s", served)
        await asyncio.Event().wait()

    async def _serve_health(self) -> web.AppRunner | None:
        port = self.settings.health_port
        if port is None:
            return None

        async def healthz(_request: web.Request) -> web.Response:
            return web.Response(text="ok")

        async def readyz(_request: web.Request) -> web.Response:
            if self.ready.is_set():
                return web.Response(text="ok")
            return web.Response(status=503, text="caches not synced or webhooks not registered yet")

        app = web.Application()
        app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz)])
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        host = self.settings.health_host or self.default_bind_host
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise OperatorStartError(
                f"cannot serve the health probes on {host}:{port}: {exc.strerror or exc} (another lws run "
                "on this machine?); choose another --health-probe-bind-address, e.g. 127.0.0.1:0 for any "
                "free port, or 0 to turn the probes off"
            ) from None
        addresses = runner.addresses  # aiohttp's public record of what its sites listen on
        self.health_port = int(addresses[0][1]) if addresses else port
        self.health_host = host
        log.info("probes on http://%s:%s/healthz and /readyz", host, self.health_port)
        return runner


def _free_port(host: str) -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host if host not in ("", "0.0.0.0") else "127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
