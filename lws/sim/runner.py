"""``EmbeddedCluster``: the API server, its HTTP front end and the built-in controllers, run in a thread of
their own with their own event loop.

A separate loop matters: when the operator under test serves admission webhooks on *its* loop, the API
server calls them from *this* loop, so neither waits on itself. Callers on other threads use the
thread-safe wrappers (:attr:`EmbeddedCluster.sync`, :attr:`EmbeddedCluster.aio`) or any Kubernetes client
pointed at :attr:`EmbeddedCluster.url` / the kubeconfig.

    with EmbeddedCluster() as cluster:
        cluster.write_kubeconfig("kubeconfig")
        cluster.sync.create(("", "v1", "configmaps"), "default", {"metadata": {"name": "x"}})
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from lws.sim.admission import WebhookAdmission
from lws.sim.apifaults import APIFaults
from lws.sim.apiserver import APIServer
from lws.sim.clusterfaults import ClusterFaults
from lws.sim.controllers import ControllersConfig, WorkloadControllers
from lws.sim.controllers.crds import run_crd_cleanup
from lws.sim.controllers.namespace_defaults import run_namespace_defaults
from lws.sim.controllers.namespaces import run_namespace_lifecycle
from lws.sim.faults import Faults
from lws.sim.gc import run_garbage_collector
from lws.sim.http import HTTPFrontend
from lws.sim.kubeconfig import write_kubeconfig
from lws.sim.openapi import OpenAPIDocuments
from lws.sim.store import Store
from lws.sim.topology import load_topology

T = TypeVar("T")

Controller = Callable[[APIServer], Coroutine[Any, Any, None]]
"""A built-in controller: a long-running coroutine on the cluster's loop, cancelled at stop."""

CORE_CONTROLLERS: tuple[Controller, ...] = (
    run_namespace_lifecycle,
    run_namespace_defaults,
    run_garbage_collector,
    run_crd_cleanup,
)


class ClusterError(RuntimeError):
    """The embedded cluster could not start, or was used in a way that would deadlock."""


class EmbeddedCluster:
    """A Kubernetes-compatible API server on ``http://127.0.0.1:<port>`` plus built-in controllers.

    :param port: TCP port (0 picks a free one; see :attr:`port` after :meth:`start`).
    :param topology: a topology file or built-in name (``lws.sim.topology``) whose Nodes are created at start.
    :param history_size: watch events kept per resource; resuming from older versions answers 410.
    :param bookmark_interval: seconds between watch BOOKMARK events.
    :param controllers: the built-in controllers to run (default: namespaces and their defaults, GC, CRD
        cleanup, plus the workload controllers of ``lws.sim.controllers``, reachable as :attr:`workloads`).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        topology: str | Path | None = None,
        history_size: int = 10_000,
        bookmark_interval: float = 60.0,
        controllers: Iterable[Controller] | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.port = port
        self.topology = topology
        self.api = APIServer(store=Store(history_size=history_size), bookmark_interval=bookmark_interval)
        self.api_faults = APIFaults(self.api)
        self.frontend = HTTPFrontend(self.api, faults=self.api_faults)
        # Every write, the built-in controllers' included, goes through the cluster's admission webhooks.
        self.admission = WebhookAdmission(self.api)
        self.api.admission = self.admission
        self.frontend.set_openapi(OpenAPIDocuments(self.api.registry).respond)
        self.workloads: WorkloadControllers | None = None
        if controllers is None:
            self.workloads = WorkloadControllers(
                ControllersConfig.from_topology(load_topology(topology) if topology is not None else None)
            )
            controllers = (*CORE_CONTROLLERS, self.workloads)
        self.controllers: tuple[Controller, ...] = tuple(controllers)
        # Pod and node faults act through the running kubelets (POST /sim/v1/faults/pods|nodes/...).
        self.pod_faults = Faults(lambda: self.workloads.running if self.workloads is not None else None)
        for (method, path), handler in self.pod_faults.control_routes().items():
            self.frontend.add_control_route(method, path, handler)
        self.faults = ClusterFaults(self.call, self.api_faults, self.pod_faults)
        """Every fault (API, pods, nodes), callable from other threads."""
        self.sync = SyncAPI(self)
        self.aio = AsyncAPI(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._startup_error: BaseException | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The cluster's event loop (only valid while running)."""
        if self._loop is None:
            raise ClusterError("the embedded cluster is not running: call start() first")
        return self._loop

    def start(self, timeout: float = 30.0) -> EmbeddedCluster:
        """Start serving; returns once ``/readyz`` answers over HTTP."""
        if self._thread is not None:
            raise ClusterError("the embedded cluster is already running")
        self._forget_last_start()
        self._thread = threading.Thread(
            target=self._thread_main, name=f"lws-sim:{self._requested_port}", daemon=True
        )
        self._thread.start()
        if not self._started.wait(timeout):
            raise ClusterError(f"the embedded cluster did not start within {timeout}s")
        if self._startup_error is not None:
            self._thread.join(timeout)
            self._thread = None
            raise ClusterError(
                f"the embedded cluster failed to start: {self._startup_error}"
            ) from self._startup_error
        _wait_until_answering(f"{self.url}/readyz", timeout)
        return self

    def _forget_last_start(self) -> None:
        self._started.clear()
        self._startup_error = None

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the controllers and the server, end open watches, and join the thread (idempotent)."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise ClusterError(f"the embedded cluster did not stop within {timeout}s")
        self._thread = None

    def __enter__(self) -> EmbeddedCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def write_kubeconfig(self, path: str | Path) -> Path:
        """Write a kubeconfig whose current context points at this cluster; returns its absolute path."""
        return write_kubeconfig(path, self.url)

    # -- running code on the cluster's loop ------------------------------------------------------

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        """Run ``coroutine`` on the cluster's loop and wait for its result (from any other thread)."""
        future = self._submit(coroutine)
        return future.result(timeout)

    async def acall(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await ``coroutine`` run on the cluster's loop, from a coroutine on another loop."""
        return await asyncio.wrap_future(self._submit(coroutine))

    def _submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        loop = self.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coroutine.close()
            raise ClusterError(
                "called a thread-safe wrapper from the cluster's own loop, which would deadlock: "
                "await cluster.api methods directly there"
            )
        return asyncio.run_coroutine_threadsafe(coroutine, loop)

    # -- the thread ------------------------------------------------------------------------------

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            if not self._started.is_set():
                self._startup_error = exc
                self._started.set()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        self.api.bootstrap()
        runner = web.AppRunner(
            self.frontend.application(), handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._requested_port)
            await site.start()
            self.port = _bound_port(runner)
            self.frontend.server_address = f"{self.host}:{self.port}"
            await self._create_nodes()
            self._tasks = [asyncio.create_task(controller(self.api)) for controller in self.controllers]
            if self.workloads is not None:
                # Callers may count on the controllers' caches being filled once start() returns.
                await asyncio.wait_for(self.workloads.ready.wait(), timeout=30)
            self._started.set()
            await self._stopping.wait()
        finally:
            self.api.drop_watches()
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await runner.cleanup()
            await self.admission.close()

    async def _create_nodes(self) -> None:
        if self.topology is None:
            return
        for node in load_topology(self.topology).nodes():
            await self.api.create(("", "v1", "nodes"), None, node)


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise ClusterError("the HTTP server did not report the port it bound")


def _wait_until_answering(url: str, timeout: float) -> None:
    """Poll ``url`` until it answers 200; the server thread is up, this only waits for the socket."""
    deadline = threading.Event()
    timer = threading.Timer(timeout, deadline.set)
    timer.start()
    try:
        while not deadline.is_set():
            try:
                with urllib.request.urlopen(url, timeout=1.0) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                deadline.wait(0.02)
        raise ClusterError(f"the embedded cluster's HTTP server did not answer at {url} within {timeout}s")
    finally:
        timer.cancel()


class SyncAPI:
    """Blocking, thread-safe wrappers of the :class:`APIServer` methods, for callers on other threads."""

    def __init__(self, cluster: EmbeddedCluster) -> None:
        self._cluster = cluster

    def create(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """:meth:`APIServer.create`."""
        return self._cluster.call(self._cluster.api.create(*args, **kwargs))

    def get(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """:meth:`APIServer.get`."""
        return self._cluster.call(self._cluster.api.get(*args, **kwargs))

    def list(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """:meth:`APIServer.list`."""
        return self._cluster.call(self._cluster.api.list(*args, **kwargs))

    def update(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """:meth:`APIServer.update`."""
        return self._cluster.call(self._cluster.api.update(*args, **kwargs))

    def patch(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """:meth:`APIServer.patch`."""
        return self._cluster.call(self._cluster.api.patch(*args, **kwargs))

    def delete(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """:meth:`APIServer.delete`."""
        return self._cluster.call(self._cluster.api.delete(*args, **kwargs))


class AsyncAPI:
    """Awaitable wrappers of the :class:`APIServer` methods, for coroutines on another event loop."""

    def __init__(self, cluster: EmbeddedCluster) -> None:
        self._cluster = cluster

    async def create(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """:meth:`APIServer.create`."""
        return await self._cluster.acall(self._cluster.api.create(*args, **kwargs))

    async def get(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """:meth:`APIServer.get`."""
        return await self._cluster.acall(self._cluster.api.get(*args, **kwargs))

    async def list(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """:meth:`APIServer.list`."""
        return await self._cluster.acall(self._cluster.api.list(*args, **kwargs))

    async def update(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """:meth:`APIServer.update`."""
        return await self._cluster.acall(self._cluster.api.update(*args, **kwargs))

    async def patch(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """:meth:`APIServer.patch`."""
        return await self._cluster.acall(self._cluster.api.patch(*args, **kwargs))

    async def delete(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """:meth:`APIServer.delete`."""
        return await self._cluster.acall(self._cluster.api.delete(*args, **kwargs))

    async def watch(self, *args: Any, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        """:meth:`APIServer.watch`, its events handed over to the caller's loop."""
        caller = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | BaseException | None] = asyncio.Queue()

        def hand_over(item: dict[str, Any] | BaseException | None) -> None:
            with contextlib.suppress(RuntimeError):  # the caller's loop is gone: nobody is listening
                caller.call_soon_threadsafe(queue.put_nowait, item)

        async def pump() -> None:
            try:
                async for event in self._cluster.api.watch(*args, **kwargs):
                    hand_over(event)
            except Exception as exc:
                hand_over(exc)
            finally:
                hand_over(None)

        future = self._cluster._submit(pump())
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            future.cancel()
