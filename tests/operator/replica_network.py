"""A faulty network between one operator replica and the API server.

The embedded cluster's fault rules apply to every client alike; a partition that cuts one replica off
from one endpoint while the other replica and every controller still get through is a fault of that
replica's network, so it is made here, between the replica and the cluster. :class:`ReplicaNetwork`
wraps a replica's transport: it records when each request was sent and answered, and while a blackhole is
set, the requests it matches get no answer at all (they hang until the caller gives up), as when packets
are dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lws.cluster.client import ApiObserver, Cluster, ConnectionDetails, Response, Transport
from lws.cluster.kube import connect as kube_connect
from lws.controller.operator import Connect

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Sent:
    """One request: when it was sent and answered (``time.monotonic``), and the answer's status."""

    method: str
    path: str
    started: float
    ended: float | None = None
    status: int | None = None

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS

    @property
    def succeeded(self) -> bool:
        return self.status is not None and self.status < 300


class ReplicaNetwork:
    """One replica's line to the API server; pass :meth:`connect` as the replica's ``connect``."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self._blackhole: Callable[[str, str, Any], bool] | None = None
        #: Requests swallowed so far.
        self.swallowed: list[Sent] = []

    def blackhole(self, matches: Callable[[str, str, Any], bool]) -> None:
        """From now on, requests for which ``matches(method, path, body)`` holds are never answered."""
        self._blackhole = matches

    def heal(self) -> None:
        self._blackhole = None

    def connect(self) -> Connect:
        async def connect(
            kubeconfig: str | None, context: str | None, observers: Sequence[ApiObserver]
        ) -> Cluster:
            cluster = await kube_connect(kubeconfig, context, observers)
            cluster.transport = _Tapped(cluster.transport, self)
            return cluster

        return connect

    def _swallows(self, method: str, path: str, body: Any) -> bool:
        hole = self._blackhole
        return hole is not None and hole(method, path, body)


class _Tapped:
    def __init__(self, inner: Transport, network: ReplicaNetwork) -> None:
        self.inner = inner
        self.network = network
        self.server = inner.server

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]],
        body: Any,
        content_type: str,
        stream_timeout: float | None = None,
    ) -> Response:
        record = Sent(method, path, time.monotonic())
        self.network.sent.append(record)
        if self.network._swallows(method, path, body):
            self.network.swallowed.append(record)
            await asyncio.Event().wait()  # no answer, ever: only the caller's timeout or cancellation ends it
        response = await self.inner.send(
            method, path, query=query, body=body, content_type=content_type, stream_timeout=stream_timeout
        )
        record.ended, record.status = time.monotonic(), response.status
        return response

    async def connection_details(self) -> ConnectionDetails:
        return await self.inner.connection_details()

    async def close(self) -> None:
        await self.inner.close()
