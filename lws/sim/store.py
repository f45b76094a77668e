"""Versioned in-memory object storage with a per-resource event history, like etcd plus the watch cache.

* One global ``resourceVersion`` counter: every write gets the next integer (sent as a string).
* Objects are stored per group-resource and keyed by ``(namespace, name)`` (``""`` for cluster scope).
  Stored objects are never mutated in place: every write stores a new dict. That lets history, lists and
  watchers share them without copying.
* Each group-resource keeps a window of its last ``history_size`` events, like the API server's watch cache.
  Watchers read it at their own pace through a cursor, so a slow watcher never blocks a writer; one that
  falls out of the window (or asks for a version older than it) gets ``410 Expired`` and must relist, as
  with Kubernetes. Whatever the window held before the newest ``history_size`` events is gone even while
  its memory is reclaimed lazily (in chunks, so appends stay cheap).
* The ring also lets a list be served *as of* a recent resourceVersion (pagination snapshots, ``Exact``).
* Synchronous listeners see every committed event; in-process controllers (GC, namespaces) use them.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lws.sim.resources import GroupResource

ObjectKey = tuple[str, str]
"""``(namespace, name)``; namespace is ``""`` for cluster-scoped objects."""

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One committed change. ``obj`` is the object after the change (the last state for DELETED)."""

    rv: int
    type: str
    obj: dict[str, Any]
    prev: dict[str, Any] | None


class TooOld(Exception):
    """The requested resourceVersion is older than the retained history."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


def key_of(obj: dict[str, Any]) -> ObjectKey:
    """``(namespace, name)`` of a stored object."""
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


@dataclass
class _Bucket:
    """Objects and recent history of one group-resource."""

    objects: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)
    events: list[StoredEvent] = field(default_factory=list)
    # Absolute index (since the bucket was made) of events[0]; cursors are absolute indexes.
    first_index: int = 0
    # Resuming from any rv >= compacted_rv is possible: no event after it has been dropped. (Like the watch
    # cache's "oldest - 1": one less than the oldest event kept once any was dropped.)
    compacted_rv: int = 0
    # The rv of the newest event in this bucket (state at any rv >= it equals the current state).
    latest_rv: int = 0
    waiter: asyncio.Future[None] | None = None

    @property
    def end_index(self) -> int:
        return self.first_index + len(self.events)


class Store:
    """All objects of the embedded cluster. Use it from the cluster's event loop only."""

    def __init__(self, *, history_size: int = 10_000) -> None:
        if history_size < 1:
            raise ValueError(f"history_size must be at least 1, got {history_size}")
        self.history_size = history_size
        self._rv = 0
        self._buckets: dict[GroupResource, _Bucket] = {}
        self._uids: dict[str, tuple[GroupResource, ObjectKey]] = {}
        self._listeners: list[Callable[[GroupResource, StoredEvent], None]] = []

    # -- reading ---------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The newest resourceVersion handed out (0 when nothing was ever written)."""
        return self._rv

    def get(self, gr: GroupResource, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object, or ``None``. Do not mutate it."""
        bucket = self._buckets.get(gr)
        return None if bucket is None else bucket.objects.get((namespace, name))

    def by_uid(self, uid: str) -> tuple[GroupResource, dict[str, Any]] | None:
        """The live object with ``metadata.uid == uid`` and its group-resource, or ``None``."""
        where = self._uids.get(uid)
        if where is None:
            return None
        obj = self._bucket(where[0]).objects.get(where[1])
        return None if obj is None else (where[0], obj)

    def items(self, gr: GroupResource, namespace: str | None = None) -> list[dict[str, Any]]:
        """Current objects (all namespaces when ``namespace`` is None), sorted by namespace then name."""
        bucket = self._buckets.get(gr)
        if bucket is None:
            return []
        return _sorted_items(bucket.objects, namespace)

    def items_at(self, gr: GroupResource, namespace: str | None, rv: int) -> list[dict[str, Any]]:
        """Objects as they were at ``rv``, rebuilt by undoing newer events; raises :class:`TooOld`."""
        bucket = self._bucket(gr)
        if rv >= bucket.latest_rv:
            return _sorted_items(bucket.objects, namespace)
        floor = self._floor(bucket)
        if rv < floor:
            raise TooOld(rv, floor)
        objects = dict(bucket.objects)
        for event in reversed(bucket.events):
            if event.rv <= rv:
                break
            key = key_of(event.obj)
            if event.prev is None:
                objects.pop(key, None)
            else:
                objects[key] = event.prev
        return _sorted_items(objects, namespace)

    def count(self, gr: GroupResource) -> int:
        """How many objects of ``gr`` are stored."""
        bucket = self._buckets.get(gr)
        return 0 if bucket is None else len(bucket.objects)

    def group_resources(self) -> list[GroupResource]:
        """Every group-resource that has ever stored something."""
        return list(self._buckets)

    # -- writing ---------------------------------------------------------------------------------

    def put(self, gr: GroupResource, obj: dict[str, Any]) -> StoredEvent:
        """Store ``obj`` (taking ownership of it), stamping the next resourceVersion."""
        bucket = self._bucket(gr)
        key = key_of(obj)
        prev = bucket.objects.get(key)
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        bucket.objects[key] = obj
        uid = obj["metadata"].get("uid")
        if uid:
            self._uids[uid] = (gr, key)
        return self._commit(gr, bucket, StoredEvent(self._rv, ADDED if prev is None else MODIFIED, obj, prev))

    def remove(self, gr: GroupResource, namespace: str, name: str) -> StoredEvent | None:
        """Delete an object for good; the DELETED event carries it with a fresh resourceVersion."""
        bucket = self._bucket(gr)
        prev = bucket.objects.pop((namespace, name), None)
        if prev is None:
            return None
        self._rv += 1
        final = {**prev, "metadata": {**prev["metadata"], "resourceVersion": str(self._rv)}}
        uid = prev["metadata"].get("uid")
        if uid and self._uids.get(uid) == (gr, (namespace, name)):
            del self._uids[uid]
        return self._commit(gr, bucket, StoredEvent(self._rv, DELETED, final, prev))

    def drop_resource(self, gr: GroupResource) -> None:
        """Forget a group-resource entirely (its CRD is gone); watchers see their streams end."""
        bucket = self._buckets.pop(gr, None)
        if bucket is None:
            return
        for obj in bucket.objects.values():
            self._uids.pop(obj["metadata"].get("uid", ""), None)
        bucket.compacted_rv = self._rv + 1
        _wake(bucket)

    def compact(self, gr: GroupResource | None = None) -> None:
        """Forget all history (of one group-resource or all), so resuming from an older rv gets 410."""
        for key, bucket in self._buckets.items():
            if gr is None or key == gr:
                bucket.first_index += len(bucket.events)
                bucket.events.clear()
                bucket.compacted_rv = self._rv
                _wake(bucket)

    def add_listener(self, listener: Callable[[GroupResource, StoredEvent], None]) -> None:
        """Call ``listener`` synchronously after every committed event (keep it quick, never raise)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[GroupResource, StoredEvent], None]) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    # -- watching --------------------------------------------------------------------------------

    def cursor_after(self, gr: GroupResource, rv: int) -> int:
        """A cursor positioned at the first event newer than ``rv``; raises :class:`TooOld`."""
        bucket = self._bucket(gr)
        floor = self._floor(bucket)
        if rv < floor:
            raise TooOld(rv, floor)
        position = bisect.bisect_right(bucket.events, rv, key=lambda event: event.rv)
        return bucket.first_index + position

    def cursor_now(self, gr: GroupResource) -> int:
        """A cursor positioned after every event so far."""
        return self._bucket(gr).end_index

    def read(self, gr: GroupResource, cursor: int) -> tuple[list[StoredEvent], int]:
        """Events from ``cursor`` on and the advanced cursor; raises :class:`TooOld` if they were dropped."""
        bucket = self._buckets.get(gr)
        if bucket is None:
            raise TooOld(cursor, self._rv)
        if cursor < max(bucket.first_index, bucket.end_index - self.history_size):
            # The next event this reader needs has left the window.
            raise TooOld(self._rv_before(bucket, cursor), self._floor(bucket))
        start = cursor - bucket.first_index
        return bucket.events[start:], bucket.end_index

    def changed(self, gr: GroupResource) -> asyncio.Future[None]:
        """A future resolved at the next event (or compaction) of ``gr``; shared by all waiters."""
        bucket = self._bucket(gr)
        if bucket.waiter is None or bucket.waiter.done():
            bucket.waiter = asyncio.get_running_loop().create_future()
        return bucket.waiter

    # -- internals -------------------------------------------------------------------------------

    def _floor(self, bucket: _Bucket) -> int:
        """The oldest resourceVersion a watch of this bucket can resume from (older ones answer 410)."""
        if len(bucket.events) > self.history_size:
            return max(bucket.compacted_rv, bucket.events[-self.history_size].rv - 1)
        return bucket.compacted_rv

    @staticmethod
    def _rv_before(bucket: _Bucket, cursor: int) -> int:
        """The resourceVersion a reader at ``cursor`` has seen up to (for the 410 message)."""
        position = cursor - bucket.first_index - 1
        return bucket.events[position].rv if 0 <= position < len(bucket.events) else bucket.compacted_rv

    def _bucket(self, gr: GroupResource) -> _Bucket:
        bucket = self._buckets.get(gr)
        if bucket is None:
            # A new resource has no history: any rv up to now is as good as "now" for it.
            bucket = self._buckets[gr] = _Bucket(compacted_rv=0, latest_rv=self._rv)
        return bucket

    def _commit(self, gr: GroupResource, bucket: _Bucket, event: StoredEvent) -> StoredEvent:
        bucket.events.append(event)
        bucket.latest_rv = event.rv
        if len(bucket.events) >= 2 * self.history_size:
            # Trim in chunks so appends stay O(1) amortised.
            drop = len(bucket.events) - self.history_size
            bucket.compacted_rv = max(bucket.compacted_rv, bucket.events[drop].rv - 1)
            del bucket.events[:drop]
            bucket.first_index += drop
        _wake(bucket)
        for listener in tuple(self._listeners):
            listener(gr, event)
        return event


def _wake(bucket: _Bucket) -> None:
    if bucket.waiter is not None and not bucket.waiter.done():
        bucket.waiter.set_result(None)
    bucket.waiter = None


def _sorted_items(objects: dict[ObjectKey, dict[str, Any]], namespace: str | None) -> list[dict[str, Any]]:
    keys: Iterator[ObjectKey] = iter(objects)
    if namespace is not None:
        keys = (key for key in keys if key[0] == namespace)
    return [objects[key] for key in sorted(keys)]
