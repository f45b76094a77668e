"""What reconcilers need, injected: the cluster client, the caches, the plugins, the recorder, the clock.

Built once by :mod:`lws.controller.operator` and passed explicitly; tests build their own with fakes.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.api.model import LeaderWorkerSet
from lws.cluster.client import Cluster
from lws.cluster.errors import ApiError
from lws.cluster.events import EventRecorder
from lws.cluster.informer import Informer
from lws.cluster.resources import Resource
from lws.controller.context import Clock, Telemetry
from lws.core import desired
from lws.core.desired import SetRevision
from lws.core.disaggregated.revision import compute_revision
from lws.core.group_tally import GroupTally, leader_half, workers_half
from lws.core.observe import controller_of, group_index_of, is_leader_pod
from lws.hooks.manager import Hooks

Obj = dict[str, Any]
BY_SET = "set"
BY_GROUP = "group"
BY_NODE = "node"
BY_DS = "disaggregatedset"
BY_REVISION = "revision"
#: Revisions :class:`RevisionMemo` remembers (upstream keeps an LRU of 10,000 comparisons).
REVISIONS_KEPT = 10_000
#: Leaders remembered as built for (:class:`BuiltLeaders`): a uid each, a few MB at most.
LEADERS_KEPT = 100_000


def set_index(obj: Mapping[str, Any]) -> Iterable[str]:
    """``<namespace>/<set>`` for objects labelled with a LeaderWorkerSet name."""
    meta = obj.get("metadata") or {}
    name = (meta.get("labels") or {}).get(c.SET_NAME_LABEL)
    return [f"{meta.get('namespace', '')}/{name}"] if name else []


def ds_index(obj: Mapping[str, Any]) -> Iterable[str]:
    """``<namespace>/<DisaggregatedSet>`` for objects labelled with a DisaggregatedSet name (its child
    LeaderWorkerSets, ``-prv`` Services and RoleScalers; whether it controls them is checked by uid)."""
    meta = obj.get("metadata") or {}
    name = (meta.get("labels") or {}).get(d.SET_NAME_LABEL)
    return [f"{meta.get('namespace', '')}/{name}"] if name else []


def revision_index(obj: Mapping[str, Any]) -> Iterable[str]:
    """``<namespace>/<set>/<revision key>`` for a set's ControllerRevisions: those controlled by a
    LeaderWorkerSet or by nothing (upstream's rule keeps the latter too), never another controller's."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    name, key = labels.get(c.SET_NAME_LABEL), labels.get(c.REVISION_KEY)
    owner = controller_of(obj)
    if not name or not key or (owner is not None and owner.get("kind") != c.KIND):
        return []
    return [f"{meta.get('namespace', '')}/{name}/{key}"]


def group_index(obj: Mapping[str, Any]) -> Iterable[str]:
    """``<namespace>/<set>/<group index>`` for group pods."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    name, index = labels.get(c.SET_NAME_LABEL), labels.get(c.GROUP_INDEX_LABEL)
    return [f"{meta.get('namespace', '')}/{name}/{index}"] if name and index is not None else []


def node_index(obj: Mapping[str, Any]) -> Iterable[str]:
    """The node a leader pod is bound to: a change of that node's labels concerns its group."""
    node = (obj.get("spec") or {}).get("nodeName")
    return [str(node)] if node and is_leader_pod(obj) else []


def node_labels_only(node: Obj) -> Obj:
    """What the Node cache keeps: name, version and labels (a Node's status is large and changes often)."""
    meta = node.get("metadata") or {}
    return {
        "apiVersion": node.get("apiVersion", "v1"),
        "kind": node.get("kind", "Node"),
        "metadata": {
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "labels": dict(meta.get("labels") or {}),
        },
    }


class GroupBook:
    """Every set's :class:`~lws.core.group_tally.GroupTally`, told each change of the pod and StatefulSet
    caches (as store observers: watch events and the operator's own writes alike), so that a set's status
    is counted without reading each of its groups."""

    def __init__(self) -> None:
        self._sets: dict[tuple[str, str], GroupTally] = {}

    def tally(self, namespace: str, name: str) -> GroupTally:
        """The groups of set ``namespace/name`` (empty when none was seen)."""
        return self._sets.get((namespace, name)) or GroupTally()

    def pod_changed(self, old: Obj | None, new: Obj | None) -> None:
        """A store observer of the pod cache: leader pods are the groups' first halves."""
        before, after = _leader_of(old), _leader_of(new)
        if before is not None and (after is None or after[0] != before[0]):
            self._change(before[0], lambda t: t.set_leader(before[1], None, None))
        if after is not None and new is not None:
            half = leader_half(new)
            self._change(after[0], lambda t: t.set_leader(after[1], group_index_of(new), half))

    def statefulset_changed(self, old: Obj | None, new: Obj | None) -> None:
        """A store observer of the StatefulSet cache: worker StatefulSets are the groups' second halves."""
        before, after = _workers_of(old), _workers_of(new)
        if before is not None and (after is None or after[0] != before[0]):
            self._change(before[0], lambda t: t.set_workers(before[1], None))
        if after is not None and new is not None:
            half = workers_half(new)
            self._change(after[0], lambda t: t.set_workers(after[1], half))

    def _change(self, key: tuple[str, str], change: Callable[[GroupTally], None]) -> None:
        tally = self._sets.get(key)
        if tally is None:
            tally = self._sets[key] = GroupTally()
        change(tally)
        if not len(tally):
            del self._sets[key]


def _leader_of(pod: Obj | None) -> tuple[tuple[str, str], str] | None:
    """((namespace, set), pod name) of a leader pod; ``None`` for anything else."""
    meta = (pod or {}).get("metadata") or {}
    labels = meta.get("labels") or {}
    set_name = labels.get(c.SET_NAME_LABEL)
    if not set_name or not is_leader_pod(pod):
        return None
    return (str(meta.get("namespace") or ""), str(set_name)), str(meta.get("name"))


def _workers_of(sts: Obj | None) -> tuple[tuple[str, str], str] | None:
    """((namespace, set), leader pod name) of a worker StatefulSet (named after its leader pod; the set's
    own leader StatefulSet is named after the set); ``None`` for anything else."""
    meta = (sts or {}).get("metadata") or {}
    set_name = (meta.get("labels") or {}).get(c.SET_NAME_LABEL)
    name = meta.get("name")
    if not set_name or not name or name == set_name:
        return None
    return (str(meta.get("namespace") or ""), str(set_name)), str(name)


class KindCaches:
    """Label-selected informers for the kinds plugins create (PodGroups...), one per kind.

    The kinds are known only from the plugins' answers, so each informer starts the first time an object of
    its kind is wanted, and that reconcile waits until it has listed: what the operator creates is then
    checked against a watched cache every time (an object deleted out of band is noticed and recreated),
    never remembered as "created once".

    :param make: builds the informer of a resource (label selector, handlers).
    :param start: runs an informer for the rest of the operator's life.
    """

    def __init__(
        self,
        make: Callable[[Resource], Informer],
        start: Callable[[Informer], None],
        *,
        sync_timeout: float = 10.0,
    ) -> None:
        self._make = make
        self._start = start
        self.sync_timeout = sync_timeout
        self.informers: dict[Resource, Informer] = {}

    async def synced(self, resource: Resource) -> Informer:
        """The informer of ``resource``, started if needed, once it has listed."""
        informer = self.informers.get(resource)
        if informer is None:
            informer = self.informers[resource] = self._make(resource)
            self._start(informer)
        try:
            await asyncio.wait_for(asyncio.shield(informer.synced.wait()), self.sync_timeout)
        except TimeoutError:
            raise ApiError(
                f"the cache of {resource.plural} ({resource.api_version}) has not listed within "
                f"{self.sync_timeout:g}s: check that the operator may list and watch {resource.plural} "
                "(its RBAC) and that the API server answers; retrying"
            ) from None
        return informer


@dataclass
class DisaggregatedCaches:
    """What the DisaggregatedSet controller reads besides the LeaderWorkerSets (its children are among them,
    indexed :data:`BY_DS`): every DisaggregatedSet, and the RoleScalers and ``-prv`` Services labelled with a
    set's name, each indexed :data:`BY_DS`."""

    sets: Informer
    scalers: Informer
    services: Informer

    @property
    def informers(self) -> tuple[Informer, ...]:
        return (self.sets, self.scalers, self.services)


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
    #: Every Node, labels only (placement plugins read the labels of a leader's node).
    nodes: Informer
    #: The kinds plugins create, cached once first wanted.
    kinds: KindCaches
    #: DisaggregatedSets and their scalers and Services; ``None`` when the cluster serves no DisaggregatedSet.
    disaggregated: DisaggregatedCaches | None = None
    #: Each set's groups, counted from the pod and StatefulSet caches (its observers must feed it).
    groups: GroupBook = field(default_factory=GroupBook)

    @property
    def informers(self) -> tuple[Informer, ...]:
        """Every cache a reconciler reads (the plugin kinds' ones once started)."""
        fixed = (self.sets, self.pods, self.statefulsets, self.services, self.revisions, self.nodes)
        ds = self.disaggregated.informers if self.disaggregated is not None else ()
        return (*fixed, *ds, *self.kinds.informers.values())

    def node_labels(self, name: str) -> dict[str, str] | None:
        """The labels of a Node, from the watched cache; ``None`` if there is no such node."""
        node = self.nodes.get("", name)
        return dict((node.get("metadata") or {}).get("labels") or {}) if node is not None else None

    async def of(self, resource: Resource) -> Informer:
        """The synced cache of ``resource``: one of ours, or a plugin kind's (started when first wanted)."""
        for informer in (self.pods, self.statefulsets, self.services, self.revisions):
            if informer.resource == resource:
                return informer
        return await self.kinds.synced(resource)

    def synced(self) -> bool:
        return all(informer.synced.is_set() for informer in self.informers)

    def leader_pods(self, namespace: str, name: str) -> list[Obj]:
        """The leader pods of set ``namespace/name`` in the pod cache (those being deleted included)."""
        return [p for p in self.pods.by_index(BY_SET, f"{namespace}/{name}") if is_leader_pod(p)]

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


class DisaggregatedRevisions:
    """A DisaggregatedSet's revision, computed once per spec (``uid``, ``metadata.generation``).

    Upstream's hash is Go's JSON encoding of every role's template (:mod:`lws.core.disaggregated.revision`),
    the costliest step of a reconcile; the set is reconciled on every change of its children, its revision
    changes only with its spec. The most recent :data:`REVISIONS_KEPT` entries are kept.
    """

    def __init__(self, *, keep: int = REVISIONS_KEPT) -> None:
        self.keep = keep
        self.computed = 0
        self._seen: OrderedDict[tuple[str, int], str] = OrderedDict()

    def current(self, ds: Mapping[str, Any]) -> str:
        meta = ds.get("metadata") or {}
        key = (str(meta.get("uid") or ""), int(meta.get("generation") or 0))
        found = self._seen.get(key)
        if found is not None and key[0]:
            self._seen.move_to_end(key)
            return found
        found = compute_revision((ds.get("spec") or {}).get("roles") or [])
        self.computed += 1
        if key[0]:
            self._seen[key] = found
            while len(self._seen) > self.keep:
                self._seen.popitem(last=False)
        return found


class GroupViewMemo:
    """The set as of a group's revision, made once per version of the set and of the revision.

    Every reconcile of a group looks at its set as of the group's revision (template, size, network
    settings); the groups of a set mostly share one revision, and the set changes far less often than its
    groups, so the view is kept for the (set version, revision version) it was made from.
    """

    def __init__(self, *, keep: int = 256) -> None:
        self.keep = keep
        self.made = 0
        self._seen: OrderedDict[tuple[str, ...], LeaderWorkerSet] = OrderedDict()

    def view(self, lws: LeaderWorkerSet, revision: Mapping[str, Any]) -> LeaderWorkerSet:
        meta = revision.get("metadata") or {}
        key = (
            lws.uid,
            str(lws.metadata.get("resourceVersion") or ""),
            str(meta.get("uid") or meta.get("name") or ""),
            str(meta.get("resourceVersion") or ""),
        )
        found = self._seen.get(key)
        if found is not None and all(key):
            self._seen.move_to_end(key)
            return found
        found = desired.group_revision_view(lws, revision.get("data") or {})
        self.made += 1
        if all(key):  # objects without versions (tests' fakes) are not kept
            self._seen[key] = found
            while len(self._seen) > self.keep:
                self._seen.popitem(last=False)
        return found


class BuiltLeaders:
    """Leaders (by uid) this operator has already begun to build a group for.

    Before the first object that depends on a leader is created, the leader may need reading from the API
    server: a leader deleted in the foreground loses its dependents first, and a dependent's cache can show
    them gone before the pod cache shows the leader going. That is only so once something was built for
    the leader: a first build needs no read (if the leader is being deleted unseen, the garbage collector
    removes what was made, and the next build, no longer a first, reads). The most recent
    :data:`LEADERS_KEPT` are kept; a leader forgotten is read again, never built on unread twice.
    """

    def __init__(self, *, keep: int = LEADERS_KEPT) -> None:
        self.keep = keep
        self._built: OrderedDict[str, None] = OrderedDict()

    def first(self, uid: str) -> bool:
        """Whether this is the first build for the leader ``uid`` (it is noted: the next is not)."""
        if uid in self._built:
            self._built.move_to_end(uid)
            return False
        self._built[uid] = None
        while len(self._built) > self.keep:
            self._built.popitem(last=False)
        return True


@dataclass
class RestartWrites:
    """The ``status.groupRestarts`` changes of one set that wait for a write, and the lock that lets one
    reconcile at a time write them.

    Groups that restart together would each patch the same status with the version they read, and all but
    one would conflict, read the set again and retry: a recreation's teardown waited on those round trips.
    Instead, each change waits here; whoever holds the lock writes every change waiting, and the others
    find theirs written when their turn comes.
    """

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: ``(change, done)``: the change to the entries, and the set as written once it is (or the error).
    waiting: list[tuple[Callable[[list[Mapping[str, Any]]], list[dict[str, Any]]], asyncio.Future[Any]]] = (
        field(default_factory=list)
    )


@dataclass
class Deps:
    cluster: Cluster
    caches: Caches
    hooks: Hooks
    recorder: EventRecorder
    telemetry: Telemetry = field(default_factory=Telemetry)
    clock: Clock = field(default_factory=Clock)
    field_manager: str = c.FIELD_MANAGER
    #: Revisions already computed (see :class:`RevisionMemo`); made from ``hooks`` when not given.
    revisions: RevisionMemo | None = None
    #: DisaggregatedSet revisions already computed (see :class:`DisaggregatedRevisions`).
    ds_revisions: DisaggregatedRevisions = field(default_factory=DisaggregatedRevisions)
    #: Sets as of their groups' revisions (see :class:`GroupViewMemo`).
    group_views: GroupViewMemo = field(default_factory=GroupViewMemo)
    #: The least seconds between two status writes of a set that change only its counts (0: none).
    status_interval: float = 0.0
    #: When each set's status was last written (monotonic), for :attr:`status_interval`.
    status_written: dict[tuple[str, str], float] = field(default_factory=dict)
    #: Each set's ``status.groupRestarts`` changes waiting to be written, in one write (see
    #: :class:`RestartWrites`).
    restart_writes: dict[tuple[str, str], RestartWrites] = field(default_factory=dict)
    #: Leaders already built for: only a later build reads the leader first (see :class:`BuiltLeaders`).
    built_leaders: BuiltLeaders = field(default_factory=BuiltLeaders)

    def __post_init__(self) -> None:
        if self.revisions is None:
            self.revisions = RevisionMemo(self.hooks)

    def revision_of(self, lws: LeaderWorkerSet) -> SetRevision:
        """The set's current revision (memoised: see :class:`RevisionMemo`)."""
        assert self.revisions is not None
        return self.revisions.current(lws)
