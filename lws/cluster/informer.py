"""Label-selected list+watch caches: the operator's view of the objects it owns.

An :class:`Informer` lists one resource with a server-side label selector
(``leaderworkerset.sigs.k8s.io/name`` for everything the operator creates, so unrelated pods never reach
it), then watches from the list's
resourceVersion: resumes after a dropped stream, relists on 410 Gone, backs off on errors, and keeps a
store that reconcilers read instead of calling the API. Handlers get ``(type, new, old)`` for every
change, including the differences a relist discovers.

The store drops ``managedFields`` (large, never read) and accepts write-through updates from the operator's
own writes, so a reconcile that runs before the watch event arrives does not act on a stale object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from lws.cluster.client import Cluster
from lws.cluster.errors import ApiError, Gone
from lws.cluster.resources import Resource

log = logging.getLogger(__name__)

Obj = dict[str, Any]
EventHandler = Callable[[str, Obj, Obj | None], None]
"""Called with ("ADDED"|"MODIFIED"|"DELETED", object, previous object or None)."""
Indexer = Callable[[Obj], Iterable[str]]


def strip_bookkeeping(obj: Obj) -> Obj:
    """Drop what no reconciler reads and what costs memory (``managedFields``)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        meta = dict(meta)
        del meta["managedFields"]
        obj = {**obj, "metadata": meta}
    return obj


def newer_or_equal(candidate: Obj, current: Obj | None) -> bool:
    """Whether ``candidate`` is at least as recent as ``current``.

    resourceVersions are opaque to clients, but every API server in practice issues increasing integers;
    when both parse as integers they are compared (as client-go's mutation cache does), otherwise the
    candidate wins.
    """
    if current is None:
        return True
    new_rv = str((candidate.get("metadata") or {}).get("resourceVersion") or "")
    old_rv = str((current.get("metadata") or {}).get("resourceVersion") or "")
    if new_rv.isdigit() and old_rv.isdigit():
        return int(new_rv) >= int(old_rv)
    return True


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class Store:
    """Objects by (namespace, name), with secondary indexes by computed string keys."""

    def __init__(self, indexers: Mapping[str, Indexer] | None = None) -> None:
        self._objects: dict[tuple[str, str], Obj] = {}
        self._indexers = dict(indexers or {})
        self._indexes: dict[str, dict[str, dict[tuple[str, str], Obj]]] = {n: {} for n in self._indexers}

    def get(self, namespace: str, name: str) -> Obj | None:
        return self._objects.get((namespace, name))

    def items(self) -> list[Obj]:
        return list(self._objects.values())

    def by_index(self, index: str, value: str) -> list[Obj]:
        return list(self._indexes[index].get(value, {}).values())

    def __len__(self) -> int:
        return len(self._objects)

    def put(self, obj: Obj) -> Obj | None:
        """Insert or replace; returns the previous object."""
        key = _key(obj)
        old = self._objects.get(key)
        if old is not None:
            self._unindex(key, old)
        self._objects[key] = obj
        for name, indexer in self._indexers.items():
            for value in indexer(obj):
                self._indexes[name].setdefault(value, {})[key] = obj
        return old

    def remove(self, namespace: str, name: str) -> Obj | None:
        key = (namespace, name)
        old = self._objects.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def names(self) -> set[tuple[str, str]]:
        return set(self._objects)

    def _unindex(self, key: tuple[str, str], obj: Obj) -> None:
        for name, indexer in self._indexers.items():
            for value in indexer(obj):
                bucket = self._indexes[name].get(value)
                if bucket is not None:
                    bucket.pop(key, None)
                    if not bucket:
                        del self._indexes[name][value]


class Informer:
    """A cache of one resource in some namespaces (or all), restricted by a label selector.

    :param namespaces: namespaces to watch, one list+watch each; ``None`` watches all namespaces at once.
    :param label_selector: required: the operator never lists or watches a built-in kind unfiltered.
    :param indexers: secondary indexes, e.g. pods by (namespace, set, group index).
    :param handlers: called for every change after the store is updated.
    """

    def __init__(
        self,
        cluster: Cluster,
        resource: Resource,
        *,
        label_selector: str,
        namespaces: Sequence[str] | None = None,
        indexers: Mapping[str, Indexer] | None = None,
        handlers: Sequence[EventHandler] = (),
        page_size: int = 500,
        watch_timeout: int = 300,
        max_backoff: float = 30.0,
    ) -> None:
        if not label_selector:
            raise ValueError(f"informer for {resource}: a label selector is required")
        self.cluster = cluster
        self.resource = resource
        self.label_selector = label_selector
        self.namespaces = list(namespaces) if namespaces is not None else None
        self.store = Store(indexers)
        self.handlers = list(handlers)
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.max_backoff = max_backoff
        self.synced = asyncio.Event()
        self._synced_scopes: set[str | None] = set()
        #: The newest resourceVersion this informer has seen (list, event or bookmark), "" before any.
        self.version = ""
        #: How many changes reached the handlers (tests check that unrelated objects never do).
        self.delivered = 0

    # --- reading -------------------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.store.get(namespace, name)

    def by_index(self, index: str, value: str) -> list[Obj]:
        return self.store.by_index(index, value)

    # --- write-through -------------------------------------------------------------------------------

    def observe_write(self, obj: Obj) -> None:
        """Record an object the operator just wrote (the API's reply), unless the cache already has newer."""
        obj = strip_bookkeeping(obj)
        ns, name = _key(obj)
        current = self.store.get(ns, name)
        if newer_or_equal(obj, current):
            self.store.put(obj)

    def observe_delete(self, namespace: str, name: str) -> None:
        """Forget an object the operator just deleted; the watch's DELETED event will find it gone."""
        self.store.remove(namespace, name)

    # --- running -------------------------------------------------------------------------------------

    async def run(self) -> None:
        """List and watch until cancelled."""
        scopes: list[str | None] = [None] if self.namespaces is None else list(self.namespaces)
        async with asyncio.TaskGroup() as group:
            for scope in scopes:
                group.create_task(self._run_scope(scope))

    async def _run_scope(self, namespace: str | None) -> None:
        backoff = 0.2
        version: str | None = None
        while True:
            try:
                if version is None:
                    version = await self._relist(namespace)
                    self._mark_synced(namespace)
                version = await self._watch(namespace, version)
                backoff = 0.2
            except Gone:
                log.info("%s: resourceVersion %s expired; listing again", self._where(namespace), version)
                version = None
            except ApiError as exc:
                log.warning("%s: %s; retrying in %.1fs", self._where(namespace), exc, backoff)
                await asyncio.sleep(backoff * (1 + random.random() / 2))
                backoff = min(backoff * 2, self.max_backoff)

    async def _relist(self, namespace: str | None) -> str:
        """List every page, replace this scope's part of the store, and report the differences."""
        seen: dict[tuple[str, str], Obj] = {}
        continue_: str | None = None
        version = ""
        while True:
            page = await self.cluster.list_page(
                self.resource,
                namespace,
                label_selector=self.label_selector,
                limit=self.page_size,
                continue_=continue_,
            )
            for item in page.get("items") or []:
                item.setdefault("apiVersion", self.resource.api_version)
                item.setdefault("kind", self.resource.kind)
                obj = strip_bookkeeping(item)
                seen[_key(obj)] = obj
            meta = page.get("metadata") or {}
            version = str(meta.get("resourceVersion") or version)
            continue_ = meta.get("continue") or None
            if not continue_:
                break
        self._saw(version)
        in_scope = {k for k in self.store.names() if namespace is None or k[0] == namespace}
        for key in in_scope - set(seen):
            old = self.store.remove(*key)
            if old is not None:
                self._emit("DELETED", old, old)
        for obj in seen.values():
            old = self.store.put(obj)
            if old is None:
                self._emit("ADDED", obj, None)
            elif old.get("metadata", {}).get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._emit("MODIFIED", obj, old)
        return version

    async def _watch(self, namespace: str | None, version: str) -> str:
        """One watch request; returns the version to resume from when the server ends the stream."""
        async with contextlib.aclosing(
            self.cluster.watch(
                self.resource,
                namespace,
                label_selector=self.label_selector,
                resource_version=version,
                timeout_seconds=self.watch_timeout,
            )
        ) as events:
            async for event in events:
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    code = int(obj.get("code") or 0)
                    if code == 410:
                        raise Gone(f"watch {self.resource}: {obj.get('message', 'too old')}", status=410)
                    raise ApiError(f"watch {self.resource}: {obj.get('message', obj)}", status=code)
                new_version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind != "BOOKMARK":
                    self._apply(str(kind), strip_bookkeeping(obj))
                version = new_version
                self._saw(version)
        return version

    def _apply(self, kind: str, obj: Obj) -> None:
        ns, name = _key(obj)
        if kind == "DELETED":
            old = self.store.remove(ns, name)
            self._emit("DELETED", obj, old)
            return
        current = self.store.get(ns, name)
        if current is not None and not newer_or_equal(obj, current):
            return  # our own write-through already has a newer state
        old = self.store.put(obj)
        self._emit("ADDED" if old is None else "MODIFIED", obj, old)

    def _saw(self, version: str) -> None:
        if newer_or_equal(
            {"metadata": {"resourceVersion": version}}, {"metadata": {"resourceVersion": self.version}}
        ):
            self.version = version

    def has_seen(self, version: str) -> bool:
        """Whether the cache reflects the cluster at least as of ``version`` (integer versions only)."""
        return bool(self.version) and newer_or_equal(
            {"metadata": {"resourceVersion": self.version}}, {"metadata": {"resourceVersion": version}}
        )

    def _emit(self, kind: str, obj: Obj, old: Obj | None) -> None:
        self.delivered += 1
        for handler in self.handlers:
            try:
                handler(kind, obj, old)
            except Exception:
                log.exception("%s: event handler failed on %s %s", self.resource, kind, _key(obj))

    def _mark_synced(self, namespace: str | None) -> None:
        self._synced_scopes.add(namespace)
        expected = 1 if self.namespaces is None else len(self.namespaces)
        if len(self._synced_scopes) >= expected:
            self.synced.set()

    def _where(self, namespace: str | None) -> str:
        return f"informer {self.resource} in {namespace or 'all namespaces'} ({self.label_selector})"
