"""Work queues for the built-in controllers (client-go's workqueue): a key waiting to be processed is queued
once however many events mention it meanwhile, one worker handles a key at a time, and a key whose sync
failed comes back after a growing delay (client-go's per-item exponential back-off), so a controller never
gives up on an object because one write failed (a webhook down, a conflict) and never spins on it either.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from lws.sim.errors import APIError

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

RETRY_BASE_SECONDS = 0.01
"""The first retry delay after a failure; it doubles with each further failure of the same key."""
RETRY_MAX_SECONDS = 5.0
"""The longest retry delay (kube-controller-manager's is 1000 s; the embedded cluster retries sooner)."""


class WorkQueue(Generic[K]):
    """Keys to process: deduplicated, one worker per key at a time, with delayed adds."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._active: set[K] = set()
        self._again: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}

    def add(self, key: K) -> None:
        """Process ``key`` soon (once, however often it is added before a worker takes it)."""
        if key in self._active:
            self._again.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        """Process ``key`` after ``delay`` seconds (an earlier pending timer for it wins)."""
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        timer = self._timers.get(key)
        if timer is not None and not timer.cancelled() and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> K:
        """The next key; the caller must call :meth:`done` with it."""
        key = await self._queue.get()
        self._queued.discard(key)
        self._active.add(key)
        return key

    def done(self, key: K) -> None:
        """Finish a key; if it was added meanwhile it goes back in the queue."""
        self._active.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.add(key)

    def pending(self) -> int:
        """Keys waiting or being processed (timers not included)."""
        return len(self._queued) + len(self._active)

    def close(self) -> None:
        """Cancel delayed adds."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()


async def run_workers(
    name: str, queue: WorkQueue[K], sync: Callable[[K], Awaitable[None]], *, workers: int = 1
) -> None:
    """Run ``workers`` loops taking keys from ``queue``; a failed key is retried with back-off."""
    failures: dict[K, int] = {}

    async def worker() -> None:
        while True:
            key = await queue.get()
            try:
                await sync(key)
                failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except APIError as exc:
                attempts = failures[key] = failures.get(key, 0) + 1
                delay = 0.0 if exc.code == 409 and attempts < 5 else retry_delay(attempts)
                log.debug("%s: %s failed (%s); retry in %.2fs", name, key, exc, delay)
                queue.add_after(key, delay) if delay else queue.add(key)
            except Exception:
                attempts = failures[key] = failures.get(key, 0) + 1
                log.exception("%s: syncing %s failed", name, key)
                queue.add_after(key, retry_delay(attempts + 2))
            finally:
                queue.done(key)

    await asyncio.gather(*(worker() for _ in range(workers)))


def retry_delay(failures: int) -> float:
    """Seconds to wait before retrying a key that failed ``failures`` times in a row."""
    return float(min(RETRY_BASE_SECONDS * 2**failures, RETRY_MAX_SECONDS))
