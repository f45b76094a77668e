"""In-process caches and work queues for the built-in controllers (client-go's informer and workqueue).

An :class:`Informer` keeps every object of one resource type. It lists the API server's store and then
follows it through the store's synchronous listeners, the same feed the garbage collector uses: every
committed write reaches the cache before the writer's call returns, so a controller always sees its
own writes, and no event can be missed or arrive out of order. Cached objects are the stored ones,
shared and never mutated: controllers clone before they change anything. Handlers run synchronously
inside the write and must only enqueue work.

The controllers feed their work queues (:mod:`lws.sim.workqueue`) from the informers' handlers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

from lws.sim.apiserver import APIServer
from lws.sim.resources import GVR, GroupResource
from lws.sim.store import DELETED, StoredEvent

log = logging.getLogger(__name__)

ObjectKey = tuple[str, str]
Handler = Callable[[dict[str, Any] | None, dict[str, Any] | None], None]
"""Called with ``(old, new)``: ``old`` None for an addition, ``new`` None for a deletion."""
IndexFunc = Callable[[dict[str, Any]], Iterable[Hashable]]


def object_key(obj: Mapping[str, Any]) -> ObjectKey:
    """``(namespace, name)``; namespace ``""`` for cluster-scoped objects."""
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


def controller_uid(obj: Mapping[str, Any]) -> str | None:
    """The uid of the object's controller ownerReference, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


class Informer:
    """A cache of one resource type that follows the store; see the module docstring."""

    def __init__(self, api: APIServer, gvr: GVR) -> None:
        self.api = api
        self.gvr = gvr
        self.synced = asyncio.Event()
        self._objects: dict[ObjectKey, dict[str, Any]] = {}
        self._gr: GroupResource = ("", "")
        self._handlers: list[Handler] = []
        self._index_funcs: dict[str, IndexFunc] = {}
        self._indexes: dict[str, dict[Hashable, dict[ObjectKey, dict[str, Any]]]] = {}

    # -- reading ---------------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The cached object (do not mutate it)."""
        return self._objects.get((namespace, name))

    def items(self) -> list[dict[str, Any]]:
        """Every cached object."""
        return list(self._objects.values())

    def by_index(self, index: str, value: Hashable) -> list[dict[str, Any]]:
        """Cached objects whose index function yielded ``value``."""
        return list(self._indexes[index].get(value, {}).values())

    # -- configuring -----------------------------------------------------------------------------

    def add_handler(self, handler: Handler) -> None:
        """Call ``handler(old, new)`` on every change (synchronously: it should only enqueue work)."""
        self._handlers.append(handler)

    def add_index(self, name: str, func: IndexFunc) -> None:
        """Maintain a secondary index, e.g. pods by controller uid or by node name."""
        self._index_funcs[name] = func
        self._indexes[name] = {}
        for key, obj in self._objects.items():
            self._index(name, key, obj)

    # -- feeding ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """List, then follow the store until cancelled."""
        store = self.api.store
        self._gr = self.api.resource(self.gvr).storage
        # Listing and subscribing happen with no await in between: nothing is missed.
        for obj in store.items(self._gr):
            self._apply(obj)
        store.add_listener(self._on_stored)
        self.synced.set()
        try:
            await asyncio.Event().wait()
        finally:
            store.remove_listener(self._on_stored)

    def _on_stored(self, gr: GroupResource, event: StoredEvent) -> None:
        if gr != self._gr:
            return
        try:
            if event.type == DELETED:
                self._remove(object_key(event.obj))
            else:
                self._apply(event.obj)
        except Exception:  # a listener must never fail the write that called it
            log.exception("informer for %s: handling %s failed", self.gvr, event.type)

    def _apply(self, obj: dict[str, Any]) -> None:
        key = object_key(obj)
        old = self._objects.get(key)
        self._unindex(key, old)
        self._objects[key] = obj
        for name in self._index_funcs:
            self._index(name, key, obj)
        for handler in self._handlers:
            handler(old, obj)

    def _remove(self, key: ObjectKey) -> None:
        old = self._objects.pop(key, None)
        if old is None:
            return
        self._unindex(key, old)
        for handler in self._handlers:
            handler(old, None)

    def _index(self, name: str, key: ObjectKey, obj: dict[str, Any]) -> None:
        for value in self._index_funcs[name](obj):
            self._indexes[name].setdefault(value, {})[key] = obj

    def _unindex(self, key: ObjectKey, old: dict[str, Any] | None) -> None:
        if old is None:
            return
        for name, func in self._index_funcs.items():
            for value in func(old):
                bucket = self._indexes[name].get(value)
                if bucket is not None:
                    bucket.pop(key, None)
                    if not bucket:
                        del self._indexes[name][value]


class Informers:
    """One shared informer per resource type, so controllers watching pods share one cache and stream."""

    def __init__(self, api: APIServer) -> None:
        self.api = api
        self._informers: dict[GVR, Informer] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False

    def get(self, gvr: GVR) -> Informer:
        """The informer for ``gvr`` (created on first use; started by :meth:`start`)."""
        informer = self._informers.get(gvr)
        if informer is None:
            informer = self._informers[gvr] = Informer(self.api, gvr)
            if self._started:
                self._tasks.append(asyncio.get_running_loop().create_task(informer.run()))
        return informer

    def start(self) -> None:
        """Start watching every informer asked for so far (and any asked for later)."""
        loop = asyncio.get_running_loop()
        self._started = True
        self._tasks = [loop.create_task(informer.run()) for informer in self._informers.values()]

    async def wait_synced(self) -> None:
        """Wait until every informer has its initial listing."""
        await asyncio.gather(*(informer.synced.wait() for informer in self._informers.values()))

    async def stop(self) -> None:
        """Cancel the watches."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._started = False
