"""A work queue with controller-runtime's semantics.

* a key waiting in the queue is there once, however often it is added;
* a key is processed by one worker at a time; added while processing, it runs again afterwards;
* failures retry with per-key exponential backoff (5 ms doubling up to 60 s), reset by :meth:`forget`;
* :meth:`add_after` queues a key later (``requeue_after``), keeping the earliest of several requests;
* optionally, a key is started at most once per ``spacing(key)`` seconds: added sooner, it waits for the end
  of that interval, and every change meanwhile is handled by that one run. The operator spaces set keys,
  whose reconcile looks at every group: without it, a set of many groups changing at once is reconciled
  (and its status written) once per change of each group.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """The queue was shut down; workers stop."""


class WorkQueue(Generic[K]):
    """
    :param spacing: the least time between two starts of a key (0: none), by key.
    """

    def __init__(
        self,
        *,
        base_delay: float = 0.005,
        max_delay: float = 60.0,
        spacing: Callable[[K], float] | None = None,
    ) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._spacing = spacing
        #: When each spaced key last started, and the keys waiting for their interval to end.
        self._started: dict[K, float] = {}
        self._spaced: dict[K, asyncio.TimerHandle] = {}
        #: Keys to run again as soon as they are free, their spacing notwithstanding.
        self._urgent: set[K] = set()
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._failures: dict[K, int] = {}
        self._timers: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self._ready = asyncio.Event()
        self._shut_down = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def processing(self) -> int:
        return len(self._processing)

    def idle(self) -> bool:
        """Nothing queued, nothing running, nothing scheduled."""
        return not self._queue and not self._processing and not self._timers and not self._spaced

    def busy(self) -> bool:
        """Something is queued or running now, or waits for its spacing to end (later retries and
        requeues do not count)."""
        return bool(self._queue or self._processing or self._spaced)

    def add(self, key: K, *, spaced: bool = True) -> None:
        """Queue ``key`` now (once), or at the end of its spacing interval.

        :param spaced: ``False`` for a reconcile that must go on at once (it stopped on a conflict, to
            read what it conflicted with): the key runs as soon as it is free, its spacing notwithstanding.
        """
        if self._shut_down:
            return
        if not spaced:
            self._urgent.add(key)
            handle = self._spaced.pop(key, None)
            if handle is not None:  # waiting for its interval: release it now
                handle.cancel()
                self._queue.append(key)
                self._ready.set()
                return
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._enqueue(key)

    def _enqueue(self, key: K) -> None:
        """Put a dirty key that is not running in line: now, or when its interval ends."""
        wait = 0.0 if key in self._urgent else self._wait(key)
        if wait > 0:
            if key not in self._spaced:
                self._spaced[key] = asyncio.get_running_loop().call_later(wait, self._release, key)
            return
        self._queue.append(key)
        self._ready.set()

    def _wait(self, key: K) -> float:
        started = self._started.get(key)
        if started is None or self._spacing is None:
            return 0.0
        wait = started + self._spacing(key) - asyncio.get_running_loop().time()
        if wait <= 0:
            del self._started[key]
        return wait

    def _release(self, key: K) -> None:
        self._spaced.pop(key, None)
        if key in self._dirty and key not in self._processing:
            self._queue.append(key)
            self._ready.set()

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds; an earlier pending request for it wins."""
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        existing = self._timers.get(key)
        if existing is not None:
            if existing[0] <= due:
                return
            existing[1].cancel()
        self._timers[key] = (due, loop.call_at(due, self._fire, key))

    def add_rate_limited(self, key: K) -> float:
        """Queue ``key`` after its backoff (which then doubles); returns the delay used."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(self.base_delay * 2.0**failures, self.max_delay)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff after a success."""
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> K:
        """The next key to process; mark it :meth:`done` afterwards."""
        while not self._queue:
            if self._shut_down:
                raise ShutDown
            self._ready.clear()
            await self._ready.wait()
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._urgent.discard(key)
        self._processing.add(key)
        if self._spacing is not None and self._spacing(key) > 0:
            now = asyncio.get_running_loop().time()
            if len(self._started) > 4096:  # keys of sets long gone: forget their intervals
                self._started = {k: t for k, t in self._started.items() if now - t < self._spacing(k)}
            self._started[key] = now
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._enqueue(key)

    def shut_down(self) -> None:
        """Stop handing out keys; pending timers are dropped."""
        self._shut_down = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for handle in self._spaced.values():
            handle.cancel()
        self._spaced.clear()
        self._ready.set()

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)
