"""An in-process operator runner: the whole operator on a thread of its own, inside the caller's process.

``lws demo`` and ``lws simulate`` run the operator this way next to the embedded cluster, and so do the
end-to-end tests. The embedded cluster runs on its own thread and loop; so does the operator here, so the
API server can call the operator's webhooks while the operator waits on the API server, and the caller (a
demo, a test) stays free to block::

    from lws.cluster.kube import connect
    settings = OperatorSettings(kubeconfig=path, identity="demo", health_host="127.0.0.1", health_port=0)
    with InProcessOperator(settings, make_hooks(), connect=connect) as running:
        ...                                   # the operator is ready: caches synced, webhooks registered
        running.request_log.writes(since=mark)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from lws.cluster.client import RequestLog
from lws.controller.context import Telemetry
from lws.controller.metrics_endpoint import MetricsEndpoint
from lws.controller.operator import Connect, Operator
from lws.controller.settings import OperatorSettings
from lws.hooks.manager import Hooks

T = TypeVar("T")


class OperatorError(RuntimeError):
    """The in-process operator did not start, or did not stop, in time; the message says which."""


class InProcessOperator:
    """An :class:`Operator` running on a thread of its own, with its own event loop.

    :param wait_ready: make :meth:`start` return only once the operator is ready (a standby replica is
        ready too: readiness does not need the Lease).
    :param metrics: serve ``/metrics`` next to the operator, as ``lws run`` does.
    """

    def __init__(
        self,
        settings: OperatorSettings,
        hooks: Hooks,
        *,
        connect: Connect,
        telemetry: Telemetry | None = None,
        wait_ready: bool = True,
        metrics: MetricsEndpoint | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.hooks = hooks
        self._connect = connect
        self._telemetry = telemetry
        self._wait_ready = wait_ready
        self.operator: Operator | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._ready = threading.Event()
        self._done = threading.Event()
        self._progress = threading.Event()  # ready (or started), or stopped: what start() waits for
        self.error: BaseException | None = None

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> InProcessOperator:
        """Start the operator; return once it is ready (or running, with ``wait_ready=False``)."""
        self._thread = threading.Thread(
            target=self._main, name=f"lws-operator:{self.settings.identity}", daemon=True
        )
        self._thread.start()
        if not self._progress.wait(timeout):
            raise OperatorError(f"the operator was not ready within {timeout}s")
        if self._done.is_set():
            raise OperatorError(f"the operator stopped while starting: {self.error or self._failure()}")
        return self

    def stop(self, *, clean: bool = True, timeout: float = 30.0) -> None:
        """Stop it: cleanly (Lease released, webhook registration removed), or as a crash would."""
        loop, operator = self._loop, self.operator
        if self._thread is None:
            return
        if loop is not None and operator is not None and not loop.is_closed():
            loop.call_soon_threadsafe(operator.stop if clean else operator.crash)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise OperatorError(f"the operator did not stop within {timeout}s")
        self._thread = None

    def __enter__(self) -> InProcessOperator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- access --------------------------------------------------------------------------------------

    @property
    def running_operator(self) -> Operator:
        if self.operator is None:
            raise OperatorError("the operator is not running: call start() first")
        return self.operator

    @property
    def request_log(self) -> RequestLog:
        """Every API request the operator made (see :class:`lws.cluster.client.RequestLog`)."""
        cluster = self.running_operator.cluster
        if cluster is None:
            raise OperatorError("the operator has not connected yet")
        return cluster.log

    @property
    def leading(self) -> bool:
        """Whether this replica holds the Lease (and so reconciles)."""
        return self.running_operator.leading.is_set()

    def settle(self, version: str, *, timeout: float = 15.0) -> None:
        """Wait until every cache has seen ``version`` (a resourceVersion the caller wrote or read) and
        nothing is queued or running: the operator has acted on everything up to then (timed requeues may
        still be pending). Quiet watches advance through bookmarks, so run the cluster with frequent ones."""
        self.call(self._settled(version, timeout), timeout=timeout + 1)

    async def _settled(self, version: str, timeout: float) -> None:
        operator = self.running_operator
        assert operator.deps is not None
        informers = operator.deps.caches.informers
        async with asyncio.timeout(timeout):
            while not all(i.has_seen(version) for i in informers) or operator.queue.busy():
                await asyncio.sleep(0.01)  # a condition poll: the caches and the queue have no change signal

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coroutine`` on the operator's loop and return its result."""
        if self._loop is None:
            coroutine.close()
            raise OperatorError("the operator is not running")
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    # --- the thread ----------------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:
            self.error = exc
        finally:
            self._done.set()
            self._progress.set()

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.operator = Operator(self.settings, self.hooks, connect=self._connect, telemetry=self._telemetry)
        self._started.set()
        if not self._wait_ready:
            self._progress.set()
        ready = asyncio.create_task(self._signal_ready(self.operator))
        try:
            await (self.metrics.run(self.operator) if self.metrics is not None else self.operator.run())
        finally:
            ready.cancel()

    async def _signal_ready(self, operator: Operator) -> None:
        await operator.ready.wait()
        self._ready.set()
        self._progress.set()

    def _failure(self) -> str:
        return (self.operator.failure if self.operator else None) or "no error reported"
