"""Wake a thread outside the embedded cluster whenever the objects it watches change.

The cluster's store calls its listeners on the cluster's loop after every committed write; a
:class:`ChangeFeed` turns the writes to a few resources into a flag another thread can wait on, so the
demo's narrator and ``lws simulate``'s settling re-read the cluster only when something happened, and
never on a timer::

    with ChangeFeed(cluster, {PODS, LEADERWORKERSETS}) as feed:
        view = wait_for(feed, read, lambda v: v.available, timeout=30, what="Available")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from types import TracebackType
from typing import Any, TypeVar

from lws.sim.runner import ClusterError, EmbeddedCluster
from lws.sim.store import StoredEvent

T = TypeVar("T")

GroupResource = tuple[str, str]
GVR = tuple[str, str, str]


class NotConverged(Exception):
    """A wait ran out of time; ``last`` is what was read last, so the caller can show it."""

    def __init__(self, what: str, timeout: float, last: Any) -> None:
        super().__init__(f"timed out after {timeout:g}s waiting for {what}")
        self.what = what
        self.timeout = timeout
        self.last = last


class ChangeFeed:
    """Counts the writes to ``resources`` (``(group, version, plural)``) and wakes waiters on each."""

    def __init__(self, cluster: EmbeddedCluster, resources: Collection[GVR]) -> None:
        self._cluster = cluster
        self._watched: frozenset[GroupResource] = frozenset((g, plural) for g, _v, plural in resources)
        self._changed = threading.Event()
        self.last_change = time.monotonic()
        """When the last watched write was committed (``time.monotonic()``)."""
        self.changes = 0
        """How many watched writes were committed since the feed opened."""

    def _listener(self, gr: GroupResource, event: StoredEvent) -> None:
        # On the cluster's loop: keep it to a few assignments.
        if gr in self._watched:
            self.changes += 1
            self.last_change = time.monotonic()
            self._changed.set()

    def open(self) -> ChangeFeed:
        """Start listening (on the cluster's loop, where the store lives)."""
        self._on_loop(lambda: self._cluster.api.store.add_listener(self._listener))
        return self

    def close(self) -> None:
        """Stop listening; harmless if the cluster has stopped already."""
        try:
            stopped = self._cluster.loop.is_closed()
        except ClusterError:
            stopped = True
        if stopped:
            return
        self._on_loop(lambda: self._cluster.api.store.remove_listener(self._listener))

    def _on_loop(self, action: Callable[[], None]) -> None:
        async def run() -> None:
            action()

        self._cluster.call(run())

    def arm(self) -> None:
        """Forget earlier changes: the next :meth:`wait` returns on a change committed after this call."""
        self._changed.clear()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a change since :meth:`arm`; whether one came."""
        return self._changed.wait(max(0.0, timeout))

    def __enter__(self) -> ChangeFeed:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def wait_for(
    feed: ChangeFeed,
    read: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    what: str,
    on_read: Callable[[T], None] | None = None,
    tick: float = 1.0,
) -> T:
    """Read, check, and wait for the next change, until ``done(read())`` or ``timeout`` seconds pass.

    ``on_read`` sees every value read (the narrator shows it); it is also called every ``tick`` seconds
    without a change, so a live display's clock keeps moving. Raises :class:`NotConverged` with the last
    value read.
    """
    deadline = time.monotonic() + timeout
    while True:
        feed.arm()  # before reading, so a change that lands while we read wakes the next wait
        value = read()
        if on_read is not None:
            on_read(value)
        if done(value):
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            raise NotConverged(what, timeout, value)
        feed.wait(min(left, tick))
