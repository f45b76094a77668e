"""What reconcilers need, injected: the cluster client, the caches, the plugins, the recorder, the clock.

Built once by :mod:`lws.controller.operator` and passed explicitly; tests build their own with fakes.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet
from lws.cluster.client import CallContext, Cluster
from lws.cluster.errors import ApiError
from lws.cluster.events import EventRecorder
from lws.cluster.informer import Informer
from lws.cluster.resources import NODES
from lws.controller.context import Clock, Telemetry
from lws.core import desired
from lws.core.desired import SetRevision
from lws.hooks.manager import Hooks

BY_SET = "set"
BY_GROUP = "group"
#: Revisions :class:`RevisionMemo` remembers (upstream keeps an LRU of 10,000 comparisons).
REVISIONS_KEPT = 10_000


def set_index(obj: Mapping[str, Any]) -> Iterable[str]:
    """``<namespace>/<set>`` for objects labelled with a LeaderWorkerSet name."""
    meta = obj.get("metadata") or {}
    name = (meta.get("labels") or {}).get(c.SET_NAME_LABEL)
    return [f"{meta.get('namespace', '')}/{name}"] if name else []


def group_index(obj: Mapping[str, Any]) -> Iterable[str]:
    """``<namespace>/<set>/<group index>`` for group pods."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    name, index = labels.get(c.SET_NAME_LABEL), labels.get(c.GROUP_INDEX_LABEL)
    return [f"{meta.get('namespace', '')}/{name}/{index}"] if name and index is not None else []


class NodeCache:
    """Node labels by node name, fetched on first use and kept for ``ttl`` seconds (exclusive placement)."""

    def __init__(self, cluster: Cluster, *, ttl: float = 300.0) -> None:
        self.cluster = cluster
        self.ttl = ttl
        self._labels: dict[str, tuple[float, dict[str, str]]] = {}

    async def labels(self, node: str, *, ctx: CallContext | None = None) -> dict[str, str] | None:
        """The node's labels; ``None`` if the node does not exist."""
        cached = self._labels.get(node)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        try:
            obj = await self.cluster.get(NODES, None, node, ctx=ctx)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        found = dict((obj.get("metadata") or {}).get("labels") or {})
        self._labels[node] = (time.monotonic(), found)
        return found


@dataclass
class Caches:
    """The operator's view of the cluster: every LeaderWorkerSet, and what it owns, label-selected.

    Reconcilers read only these; workers start once every one of them has listed (:attr:`informers`).
    """

    sets: Informer
    pods: Informer
    statefulsets: Informer
    services: Informer
    revisions: Informer
    nodes: NodeCache

    @property
    def informers(self) -> tuple[Informer, ...]:
        """Every cache a reconciler reads."""
        return (self.sets, self.pods, self.statefulsets, self.services, self.revisions)

    def synced(self) -> bool:
        return all(informer.synced.is_set() for informer in self.informers)

    def observe_set_write(self, obj: Mapping[str, Any]) -> None:
        """Keep the set cache current after our own write to a LeaderWorkerSet (the watch event follows);
        a set the cache no longer holds (deleted meanwhile) is not brought back."""
        self.sets.observe_write(dict(obj), only_if_cached=True)

    def forget_set(self, namespace: str, name: str) -> None:
        """The API answered 404 for this set: it is gone, whatever the watch has said so far."""
        self.sets.observe_delete(namespace, name)


class RevisionMemo:
    """A set's current revision, computed once per spec and propagated annotations, not every reconcile.

    A set is reconciled on every change of its leader pods; its revision changes only with its spec
    (``metadata.generation``) or the annotations plugins propagate, which together are the key. The most
    recent :data:`REVISIONS_KEPT` entries are kept.
    """

    def __init__(self, hooks: Hooks, *, keep: int = REVISIONS_KEPT) -> None:
        self.hooks = hooks
        self.keep = keep
        self.computed = 0
        self._seen: OrderedDict[tuple[Any, ...], SetRevision] = OrderedDict()

    def current(self, lws: LeaderWorkerSet) -> SetRevision:
        annotations = self.hooks.pod_annotations(lws)
        key = (lws.uid, lws.generation, tuple(sorted(annotations.items())))
        found = self._seen.get(key)
        if found is not None:
            self._seen.move_to_end(key)
            return found
        found = self._seen[key] = desired.revision_with(lws, annotations)
        self.computed += 1
        while len(self._seen) > self.keep:
            self._seen.popitem(last=False)
        return found


@dataclass
class Deps:
    cluster: Cluster
    caches: Caches
    hooks: Hooks
    recorder: EventRecorder
    telemetry: Telemetry = field(default_factory=Telemetry)
    clock: Clock = field(default_factory=Clock)
    field_manager: str = c.FIELD_MANAGER
    #: Plugin objects known to exist (kind, namespace, name, owner uid): created once, never re-checked.
    known_objects: set[tuple[str, str, str, str]] = field(default_factory=set)
    #: Revisions already computed (see :class:`RevisionMemo`); made from ``hooks`` when not given.
    revisions: RevisionMemo | None = None

    def __post_init__(self) -> None:
        if self.revisions is None:
            self.revisions = RevisionMemo(self.hooks)

    def revision_of(self, lws: LeaderWorkerSet) -> SetRevision:
        """The set's current revision (memoised: see :class:`RevisionMemo`)."""
        assert self.revisions is not None
        return self.revisions.current(lws)
