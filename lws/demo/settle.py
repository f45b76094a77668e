"""``lws simulate``'s mechanics: apply manifests to the stage, then wait until the cluster has settled.

Settled means all of:

* every LeaderWorkerSet applied has been reconciled (``status.observedGeneration`` = ``generation``) and
  has a leader pod for each of its ``replicas`` groups;
* every DisaggregatedSet applied has been reconciled, and its child LeaderWorkerSets (one per slice and
  role) are settled as the LeaderWorkerSets above;
* every pod of those sets is Running (or finished), or Pending with ``PodScheduled=False`` (the scheduler
  could not place it, or scheduling gates hold it), or Pending for a scheduler the cluster does not run
  (one not among the topology's ``schedulerNames``);
* no pod, StatefulSet, Service or LeaderWorkerSet has changed for the quiet window;
* the operator's caches have seen the cluster's latest resourceVersion and its work queue is idle.

Reads happen only once the cluster has been quiet for the window, so a large simulation is not slowed
down by the waiting.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.api.loading import Document
from lws.demo.feed import ChangeFeed
from lws.demo.stage import DISAGGREGATEDSETS, LEADERWORKERSETS, NAMESPACES, Stage
from lws.sim.apiserver import APIServer
from lws.sim.errors import APIError

PODS = ("", "v1", "pods")
NODES = ("", "v1", "nodes")
SERVICES = ("", "v1", "services")
STATEFULSETS = ("apps", "v1", "statefulsets")
WATCHED = (LEADERWORKERSETS, DISAGGREGATEDSETS, PODS, STATEFULSETS, SERVICES)
FIELD_MANAGER = "lws-simulate"
DEFAULT_SCHEDULER = "default-scheduler"
SERVED_BY_DEFAULT = (DEFAULT_SCHEDULER,)

Obj = Mapping[str, Any]


class ApplyError(Exception):
    """An object the cluster refused; the message is an ``error:`` line naming the file and the object."""


@dataclass
class Applied:
    """What :func:`apply` created: the LeaderWorkerSets and DisaggregatedSets (namespace, name) and any
    namespace it made."""

    sets: list[tuple[str, str]] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    disaggregated: list[tuple[str, str]] = field(default_factory=list)


async def _create(api: APIServer, body: Obj, namespace: str) -> tuple[str | None, str]:
    """Create one object on the cluster's loop; returns its (namespace, name)."""
    api_version, kind = str(body.get("apiVersion", "")), str(body.get("kind", ""))
    group, _, version = api_version.rpartition("/")
    resource = next((r for r in api.registry.in_group_version(group, version) if r.kind == kind), None)
    if resource is None:
        raise APIError(
            {
                "code": 404,
                "reason": "NotFound",
                "message": f"the embedded cluster does not serve kind {kind!r} in {api_version!r}: apply "
                "its CustomResourceDefinition first (in the same input)",
            }
        )
    where = str((body.get("metadata") or {}).get("namespace") or namespace) if resource.namespaced else None
    created = await api.create(resource.gvr, where, dict(body), field_manager=FIELD_MANAGER)
    return where, str(created["metadata"]["name"])


def apply(stage: Stage, documents: Sequence[Document], namespace: str) -> Applied:
    """Create every document (namespaces first, LeaderWorkerSets and DisaggregatedSets last, each through
    admission).

    Namespaces the objects name that do not exist yet are created first, as a ``kubectl create namespace``
    would. Raises :class:`ApplyError` on the first object refused.
    """
    cluster = stage.cluster
    applied = Applied()
    existing = {n["metadata"]["name"] for n in cluster.sync.list(NAMESPACES)["items"]}
    declared = {doc.name for doc in documents if doc.kind == "Namespace" and doc.api_version == "v1"}
    wanted = [doc.namespace or namespace for doc in documents if doc.kind != "Namespace"]
    for name in dict.fromkeys(wanted):
        if name not in existing and name not in declared:
            cluster.sync.create(NAMESPACES, None, {"metadata": {"name": name}}, field_manager=FIELD_MANAGER)
            applied.namespaces.append(name)
    last = (c.KIND, d.KIND)
    ordered = sorted(documents, key=lambda doc: (doc.kind != "Namespace", doc.kind in last))
    for doc in ordered:
        try:
            where, name = cluster.call(_create(cluster.api, doc.body, namespace))
        except APIError as exc:
            message = " ".join(str(exc.status.get("message") or exc).splitlines())
            raise ApplyError(f"{doc.source}: {doc.describe(namespace)}: {message}") from None
        if doc.kind == c.KIND and where is not None:
            applied.sets.append((where, name))
        elif doc.kind == d.KIND and doc.api_version == d.API_VERSION and where is not None:
            applied.disaggregated.append((where, name))
    return applied


# --- settling --------------------------------------------------------------------------------------------


def pod_settled(pod: Obj, schedulers: Collection[str] = SERVED_BY_DEFAULT) -> bool:
    """Whether a pod has gone as far as it will without something else changing (see the module doc).

    :param schedulers: the scheduler names the cluster serves; a pod naming another waits forever.
    """
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return False
    phase = status.get("phase") or "Pending"
    if phase != "Pending":
        return True
    if (spec.get("schedulerName") or DEFAULT_SCHEDULER) not in schedulers:
        return True
    return any(
        cd.get("type") == "PodScheduled" and cd.get("status") == "False"
        for cd in status.get("conditions") or []
    )


def outstanding(
    sets: Iterable[Obj],
    pods: Iterable[Obj],
    schedulers: Collection[str] = SERVED_BY_DEFAULT,
    disaggregated: Iterable[Obj] = (),
) -> list[str]:
    """What keeps these sets from being settled, one phrase each (empty: nothing)."""
    problems: list[str] = []
    for ds in disaggregated:
        meta = ds["metadata"]
        if (ds.get("status") or {}).get("observedGeneration") != meta.get("generation"):
            where = f"{meta.get('namespace', '')}/{meta['name']}"
            problems.append(f"DisaggregatedSet {where} is not reconciled yet")
    leaders: dict[tuple[str, str], int] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        key = (str(meta.get("namespace", "")), str(labels.get(c.SET_NAME_LABEL, "")))
        if labels.get(c.WORKER_INDEX_LABEL) == "0" and not meta.get("deletionTimestamp"):
            leaders[key] = leaders.get(key, 0) + 1
        if not pod_settled(pod, schedulers):
            phase = (pod.get("status") or {}).get("phase") or "Pending"
            problems.append(f"pod {key[0]}/{meta.get('name')} is {phase}")
    for lws in sets:
        meta, spec, status = lws["metadata"], lws.get("spec") or {}, lws.get("status") or {}
        key = (str(meta.get("namespace", "")), str(meta["name"]))
        if status.get("observedGeneration") != meta.get("generation"):
            problems.append(f"LeaderWorkerSet {key[0]}/{key[1]} is not reconciled yet")
        replicas = int(spec.get("replicas", 1))
        if leaders.get(key, 0) != replicas:
            problems.append(
                f"LeaderWorkerSet {key[0]}/{key[1]} has {leaders.get(key, 0)} of {replicas} leader pods"
            )
    return problems


@dataclass(frozen=True)
class Settled:
    """The outcome of :func:`wait_settled`."""

    settled: bool
    seconds: float
    """From ``start`` to the last change the cluster made."""
    sets: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    outstanding: list[str]
    disaggregated: list[dict[str, Any]] = field(default_factory=list)


def read(
    stage: Stage, keys: Sequence[tuple[str, str]], disaggregated: Sequence[tuple[str, str]] = ()
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The applied sets (a DisaggregatedSet's child LeaderWorkerSets among them), every pod of a
    LeaderWorkerSet in their namespaces, and the applied DisaggregatedSets."""
    sync = stage.cluster.sync

    def get(resource: tuple[str, str, str], namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return sync.get(resource, namespace, name)
        except APIError as exc:
            if exc.code != 404:
                raise
            return None

    sets = [obj for namespace, name in keys if (obj := get(LEADERWORKERSETS, namespace, name)) is not None]
    parents = []
    for namespace, name in disaggregated:
        parent = get(DISAGGREGATEDSETS, namespace, name)
        if parent is None:
            continue
        parents.append(parent)
        selector = f"{d.SET_NAME_LABEL}={name}"
        sets += sync.list(LEADERWORKERSETS, namespace, label_selector=selector)["items"]
    pods = []
    for namespace in dict.fromkeys(ns for ns, _ in [*keys, *disaggregated]):
        pods += sync.list(PODS, namespace, label_selector=c.SET_NAME_LABEL)["items"]
    return sets, pods, parents


def wait_settled(
    stage: Stage,
    feed: ChangeFeed,
    keys: Sequence[tuple[str, str]],
    *,
    start: float,
    quiet: float,
    timeout: float,
    disaggregated: Sequence[tuple[str, str]] = (),
) -> Settled:
    """Wait until the sets ``keys`` and DisaggregatedSets ``disaggregated`` have settled (the module doc
    says what that means), or ``timeout``."""
    deadline = start + timeout
    problems = ["nothing was read yet"]
    sets: list[dict[str, Any]] = []
    pods: list[dict[str, Any]] = []
    parents: list[dict[str, Any]] = []
    while True:
        now = time.monotonic()
        left = deadline - now
        quiet_for = now - feed.last_change
        if left <= 0:
            return Settled(
                False, feed.last_change - start, sets, pods, problems or ["changes kept coming"], parents
            )
        if quiet_for < quiet:
            problems = []
            feed.arm()
            feed.wait(min(quiet - quiet_for, left))
            continue
        feed.arm()
        checked = feed.last_change
        version = stage.cluster.sync.list(PODS, None, limit=1)["metadata"]["resourceVersion"]
        sets, pods, parents = read(stage, keys, disaggregated)
        problems = outstanding(sets, pods, stage.topology.scheduler_names, parents)
        if not problems:
            try:
                stage.operator.settle(str(version), timeout=max(0.1, min(left, 30.0)))
            except TimeoutError:
                problems = ["the operator is still busy"]
                continue
            if feed.last_change == checked:
                return Settled(True, feed.last_change - start, sets, pods, [], parents)
            continue
        # Quiet, but not settled: something must still happen (a reconcile, a requeue): wait for it.
        feed.wait(left)
