"""``/metrics`` next to the operator, served as upstream's controller serves it.

Secure by default (``--metrics-secure``, controller-runtime's ``SecureServing`` with
``filters.WithAuthenticationAndAuthorization``): HTTPS, and each scrape carries a bearer token that the API
server authenticates (TokenReview) and authorizes for ``get`` on ``/metrics`` (SubjectAccessReview), see
:mod:`lws.cluster.access`. The certificate comes from ``<cert dir>/tls.crt`` and ``tls.key`` when that
directory holds them (cert-manager's ``lws-metrics-server-cert`` Secret is mounted there), reloaded when
they rotate; otherwise the operator makes a self-signed one in memory, as controller-runtime does.

``--no-metrics-secure`` serves plain HTTP to anyone who can connect: for development against a cluster
that answers no TokenReviews (``lws cluster up``).

The endpoint starts once the operator is ready (connected, caches synced: when its Service would send
Prometheus to it) and stops with it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry

from lws.cluster.access import AccessReviewer
from lws.cluster.certs import make_serving_certificate
from lws.cluster.client import Cluster
from lws.cluster.tls import METRICS_CERT_DIR, ServingTLS, has_pair
from lws.controller.operator import Operator
from lws.observability.metrics import Guard, MetricsServer

log = logging.getLogger("lws.metrics")


class MetricsStartError(RuntimeError):
    """``/metrics`` cannot be served; the message says what to change."""


@dataclass(frozen=True)
class MetricsOptions:
    """How ``/metrics`` is served.

    :ivar host: ``None``: every interface in a pod, loopback outside one (:attr:`Operator.default_bind_host`).
    :ivar port: 0 picks a free one.
    :ivar secure: HTTPS with authentication and authorization; ``False``: plain HTTP, open.
    :ivar cert_dir: where a mounted certificate is looked for (``tls.crt``, ``tls.key``).
    :ivar cert_check_interval: seconds between checks of the mounted files for a rotation.
    """

    host: str | None = None
    port: int = 8443
    secure: bool = True
    cert_dir: str = METRICS_CERT_DIR
    cert_check_interval: float = 10.0


def metrics_tls(options: MetricsOptions) -> ServingTLS:
    """The mounted certificate when there is one, else a self-signed one made now."""
    if has_pair(options.cert_dir):
        return ServingTLS.from_directory(options.cert_dir)
    host = socket.gethostname() or "localhost"
    made = make_serving_certificate(
        identity=f"metrics/{host}/{os.getpid()}",
        dns_names=sorted({host, "localhost"}),
        ip_addresses=["127.0.0.1"],
    )
    return ServingTLS.from_certificate(made)


def access_guard(reviewer: AccessReviewer) -> Guard:
    """A :data:`Guard` that lets through what the API server authorizes (see :mod:`lws.cluster.access`)."""

    async def guard(request: web.Request) -> web.StreamResponse | None:
        decision = await reviewer.check(
            request.headers.get("Authorization"), verb=request.method.lower(), path=request.path
        )
        if decision.allowed:
            return None
        if decision.status != 401:
            log.info("refused a metrics request (%s): %s", decision.status, decision.reason)
        return web.Response(status=decision.status, text=decision.reason + "\n")

    return guard


class MetricsEndpoint:
    """``/metrics`` for one operator replica; :meth:`run` serves it alongside :meth:`Operator.run`."""

    def __init__(self, registry: CollectorRegistry, options: MetricsOptions) -> None:
        self.registry = registry
        self.options = options
        self.server: MetricsServer | None = None
        self.tls: ServingTLS | None = None

    def build(self, cluster: Cluster, *, default_host: str = "127.0.0.1") -> MetricsServer:
        """The server, with TLS and the access guard when secure."""
        options = self.options
        host = options.host or default_host
        if not options.secure:
            self.server = MetricsServer(self.registry, host=host, port=options.port)
            return self.server
        self.tls = metrics_tls(options)
        self.server = MetricsServer(
            self.registry,
            host=host,
            port=options.port,
            ssl_context=self.tls.context,
            guard=access_guard(AccessReviewer(cluster)),
        )
        return self.server

    async def run(self, operator: Operator) -> None:
        """Run ``operator``, serving ``/metrics`` from when it is ready until it stops.

        :raises MetricsStartError: when the port cannot be listened on (after stopping the operator).
        """
        running = asyncio.create_task(operator.run(), name="operator")
        ready = asyncio.create_task(operator.ready.wait(), name="operator ready")
        watching: asyncio.Task[None] | None = None
        try:
            await asyncio.wait({running, ready}, return_when=asyncio.FIRST_COMPLETED)
            if ready.done() and not running.done():
                assert operator.cluster is not None
                server = self.build(operator.cluster, default_host=operator.default_bind_host)
                try:
                    await server.start()
                except OSError as exc:
                    operator.stop()
                    await running
                    raise MetricsStartError(
                        f"cannot serve metrics on {server.host}:{server.port}: {exc.strerror or exc}; "
                        "choose another --metrics-bind-address, or 0 to turn metrics off"
                    ) from None
                if self.tls is not None and self.tls.directory is not None:
                    watching = asyncio.create_task(
                        self.tls.watch(self.options.cert_check_interval), name="metrics certificate"
                    )
            await running
        finally:
            ready.cancel()
            if watching is not None:
                watching.cancel()
            if self.server is not None:
                await self.server.stop()
