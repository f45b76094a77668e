"""List+watch caches: the operator's view of the cluster.

An :class:`Informer` lists one resource — with a server-side label selector
(``leaderworkerset.sigs.k8s.io/name`` for everything the operator creates, so unrelated pods never reach
it), or whole for the operator's own kind and for cluster facts such as Node labels — then watches from
the list's resourceVersion: resumes after a dropped stream, relists on 410 Gone, backs off on errors, and
keeps a store that reconcilers read instead of calling the API. Handlers get ``(type, new, old)`` for
every change, including the differences a relist discovers (objects deleted while the watch was down
among them).

The store drops ``managedFields`` (large, never read) and accepts write-through updates from the operator's
own writes, so a reconcile that runs before the watch event arrives does not act on a stale object; a
write reply that arrives after the object's deletion was seen does not bring it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict
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
Transform = Callable[[Obj], Obj]
"""What the store keeps of each object (e.g. only a Node's name and labels), as client-go's SetTransform."""
StoreObserver = Callable[[Obj | None, Obj | None], None]
"""Called with (previous, current) after every change of the store, write-through included (``None``:
absent); for bookkeeping that must agree with the cache at all times, as an indexer does."""
#: Deletions remembered, so that a write reply arriving after its object's deletion does not revive it.
TOMBSTONES_KEPT = 10_000


def strip_bookkeeping(obj: Obj) -> Obj:
    """Drop what no reconciler reads and what costs memory (``managedFields``)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        meta = dict(meta)
        del meta["managedFields"]
        obj = {**obj, "metadata": meta}
    return obj


def _version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


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

    def __init__(
        self, indexers: Mapping[str, Indexer] | None = None, observers: Sequence[StoreObserver] = ()
    ) -> None:
        self._objects: dict[tuple[str, str], Obj] = {}
        self._indexers = dict(indexers or {})
        self._observers = list(observers)
        self._indexes: dict[str, dict[str, dict[tuple[str, str], Obj]]] = {n: {} for n in self._indexers}

    def get(self, namespace: str, name: str) -> Obj | None:
        """The cached object, or ``None``."""
        return self._objects.get((namespace, name))

    def items(self) -> list[Obj]:
        """Every cached object."""
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
        for observer in self._observers:
            observer(old, obj)
        return old

    def remove(self, namespace: str, name: str) -> Obj | None:
        key = (namespace, name)
        old = self._objects.pop(key, None)
        if old is not None:
            self._unindex(key, old)
            for observer in self._observers:
                observer(old, None)
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
    :param label_selector: the objects to cache; required unless ``all_objects``: the operator never lists
        or watches a built-in kind it does not own unfiltered.
    :param all_objects: cache every object of the resource (the operator's own kind, or Nodes), with no
        selector; saying so is required, so an unfiltered watch is always a decision.
    :param field_selector: the objects to cache, by field (``metadata.name=cluster`` for a singleton, which
        RBAC can then grant by ``resourceNames``); instead of, or with, a label selector.
    :param indexers: secondary indexes, e.g. pods by (namespace, set, group index).
    :param handlers: called for every change after the store is updated.
    :param transform: what to keep of each object (applied before the store and the handlers see it).
    :param observers: told of every change of the store, the operator's own writes included (see
        :data:`StoreObserver`).
    """

    def __init__(
        self,
        cluster: Cluster,
        resource: Resource,
        *,
        label_selector: str | None = None,
        all_objects: bool = False,
        field_selector: str | None = None,
        namespaces: Sequence[str] | None = None,
        indexers: Mapping[str, Indexer] | None = None,
        handlers: Sequence[EventHandler] = (),
        transform: Transform | None = None,
        observers: Sequence[StoreObserver] = (),
        page_size: int = 500,
        watch_timeout: int = 300,
        max_backoff: float = 30.0,
    ) -> None:
        if bool(label_selector or field_selector) == all_objects:
            raise ValueError(
                f"informer for {resource}: pass either a label selector or all_objects=True (not both); "
                "a field selector counts as a selector"
            )
        self.cluster = cluster
        self.resource = resource
        self.label_selector = label_selector or None
        self.field_selector = field_selector or None
        self.namespaces = list(namespaces) if namespaces is not None else None
        self.store = Store(indexers, observers)
        self.handlers = list(handlers)
        self._transform = transform
        self._tombstones: OrderedDict[tuple[str, str], str] = OrderedDict()
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
        """The cached object, or ``None``."""
        return self.store.get(namespace, name)

    def items(self) -> list[Obj]:
        """Every cached object."""
        return self.store.items()

    def by_index(self, index: str, value: str) -> list[Obj]:
        """The cached objects an indexer filed under ``value``."""
        return self.store.by_index(index, value)

    # --- write-through -------------------------------------------------------------------------------

    def observe_write(self, obj: Obj, *, only_if_cached: bool = False) -> None:
        """Record an object the operator just wrote (the API's reply), unless the cache already has newer
        or has seen the object deleted since.

        :param only_if_cached: update only an object the cache holds (a status write never adds one).
        """
        obj = self._keep(obj)
        key = _key(obj)
        current = self.store.get(*key)
        if current is None and (only_if_cached or self._deleted_since(key, obj)):
            return
        if newer_or_equal(obj, current):
            self.store.put(obj)

    def observe_delete(self, namespace: str, name: str) -> None:
        """Forget an object the operator just deleted, or found gone (a 404); the watch's DELETED event will
        find it gone, and a relist brings it back if it exists after all."""
        self.store.remove(namespace, name)

    def _deleted_since(self, key: tuple[str, str], obj: Obj) -> bool:
        """Whether the cache saw ``key`` deleted at or after the version of ``obj`` (an older reply)."""
        deleted_at = self._tombstones.get(key)
        if deleted_at is None:
            return False
        deletion = {"metadata": {"resourceVersion": deleted_at}}
        return _version(obj) == deleted_at or not newer_or_equal(obj, deletion)

    def _bury(self, key: tuple[str, str], version: str) -> None:
        self._tombstones[key] = version
        self._tombstones.move_to_end(key)
        while len(self._tombstones) > TOMBSTONES_KEPT:
            self._tombstones.popitem(last=False)

    def _keep(self, obj: Obj) -> Obj:
        obj = strip_bookkeeping(obj)
        return self._transform(obj) if self._transform is not None else obj

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
                field_selector=self.field_selector,
                limit=self.page_size,
                continue_=continue_,
            )
            for item in page.get("items") or []:
                item.setdefault("apiVersion", self.resource.api_version)
                item.setdefault("kind", self.resource.kind)
                obj = self._keep(item)
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
                self._bury(key, version)
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
                field_selector=self.field_selector,
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
                    self._apply(str(kind), self._keep(obj))
                version = new_version
                self._saw(version)
        return version

    def _apply(self, kind: str, obj: Obj) -> None:
        ns, name = _key(obj)
        if kind == "DELETED":
            old = self.store.remove(ns, name)
            self._bury((ns, name), _version(obj))
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
        return (
            f"informer {self.resource} in {namespace or 'all namespaces'} "
            f"({self.label_selector or self.field_selector or 'all objects'})"
        )
