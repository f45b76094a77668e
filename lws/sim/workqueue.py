"""A de-duplicating work queue for the built-in controllers: a key waiting to be processed is queued once,
however many events mention it meanwhile (the same idea as client-go's workqueue)."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """FIFO of distinct keys. ``add`` is synchronous, so store listeners can call it."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._pending: set[K] = set()

    def add(self, key: K) -> None:
        """Queue ``key`` unless it is already waiting."""
        if key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait(key)

    async def get(self) -> K:
        """The next key; from now on it can be queued again."""
        key = await self._queue.get()
        self._pending.discard(key)
        return key

    def __len__(self) -> int:
        return len(self._pending)
