"""The ReplicaSet controller, as kube-controller-manager's: keep ``spec.replicas`` active pods, report them.

* Active pods are those the set controls (controller ownerReference) that are neither finished nor being
  deleted. Missing ones are created from the template (``generateName: <set>-``, the set as controlling
  owner, through the API server so admission webhooks see them) in slow-start batches of 1, 2, 4...;
  surplus ones are deleted, the least useful first: unscheduled before scheduled, Pending before Running,
  unready before ready, lower ``controller.kubernetes.io/pod-deletion-cost`` first, more restarts first,
  newer before older.
* ``status``: ``replicas`` (active pods), ``fullyLabeledReplicas``, ``readyReplicas``, ``availableReplicas``
  (ready for ``minReadySeconds``), ``terminatingReplicas``, ``observedGeneration``; written when it changes.
  A failed create or delete is reported as the ``ReplicaFailure`` condition and retried with back-off.

Pods are found by their controller ownerReference; orphans matching the selector are not adopted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lws.k8s.pods import pod_ready
from lws.sim.apiserver import APIServer
from lws.sim.controllers.informer import Informers, controller_uid
from lws.sim.controllers.statefulset_plan import available_in, is_available
from lws.sim.errors import APIError, ignoring_not_found
from lws.sim.objects import clone, now
from lws.sim.workqueue import WorkQueue, run_workers

REPLICASETS = ("apps", "v1", "replicasets")
PODS = ("", "v1", "pods")
MAX_BATCH = 500
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}

Key = tuple[str, str]


class ReplicaSetController:
    """Keeps every ReplicaSet's pods and status in line with its spec."""

    def __init__(self, api: APIServer, informers: Informers, *, workers: int = 2) -> None:
        self.api = api
        self.informers = informers
        self.workers = workers
        self.queue: WorkQueue[Key] = WorkQueue()
        self.sets = informers.get(REPLICASETS)
        self.pods = informers.get(PODS)
        self.pods.add_index("controller", _controller_index)
        self.sets.add_handler(self._on_set)
        self.pods.add_handler(self._on_pod)

    def _on_set(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        obj = new or old
        if obj is not None:
            self.queue.add(_key(obj))

    def _on_pod(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for pod in (old, new):
            if pod is None:
                continue
            for ref in pod["metadata"].get("ownerReferences") or ():
                if ref.get("controller") and ref.get("kind") == "ReplicaSet":
                    self.queue.add((pod["metadata"].get("namespace") or "", ref.get("name", "")))

    async def run(self) -> None:
        """Process ReplicaSets until cancelled."""
        await self.informers.wait_synced()
        try:
            await run_workers("replicaset", self.queue, self.sync, workers=self.workers)
        finally:
            self.queue.close()

    async def sync(self, key: Key) -> None:
        """Create or delete pods towards ``spec.replicas``, then report the status."""
        rs = self.sets.get(*key)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        uid = rs["metadata"]["uid"]
        owned = [p for p in self.pods.by_index("controller", uid) if p["metadata"].get("namespace") == key[0]]
        active = [p for p in owned if _active(p)]
        terminating = [p for p in owned if p["metadata"].get("deletionTimestamp") and not _finished(p)]
        spec = rs.get("spec") or {}
        replicas = spec.get("replicas")
        wanted = int(replicas) if isinstance(replicas, int) else 1
        failed: APIError | None = None
        try:
            if len(active) < wanted:
                await self._create(rs, wanted - len(active))
            elif len(active) > wanted:
                await self._delete(sorted(active, key=_deletion_rank)[: len(active) - wanted])
        except APIError as exc:
            failed = exc
        await self._report(rs, active, terminating, wanted, None if failed is None else str(failed))
        if failed is not None:
            raise failed  # the work queue backs off and tries again

    async def _create(self, rs: Mapping[str, Any], count: int) -> None:
        meta = rs["metadata"]
        template = (rs.get("spec") or {}).get("template") or {}
        batch = 1
        remaining = min(count, MAX_BATCH)
        while remaining > 0:
            size = min(batch, remaining)
            results = await asyncio.gather(
                *(self.api.create(PODS, meta.get("namespace"), _pod_from(rs, template)) for _ in range(size)),
                return_exceptions=True,
            )
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                raise failed[0]
            remaining -= size
            batch *= 2

    async def _delete(self, pods: list[dict[str, Any]]) -> None:
        for pod in pods:
            meta = pod["metadata"]
            with ignoring_not_found():
                await self.api.delete(PODS, meta.get("namespace"), meta["name"])

    async def _report(
        self,
        rs: Mapping[str, Any],
        active: list[dict[str, Any]],
        terminating: list[dict[str, Any]],
        wanted: int,
        failure: str | None,
    ) -> None:
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        moment = datetime.now(UTC)
        old = dict(rs.get("status") or {})
        status: dict[str, Any] = {
            "replicas": len(active),
            "fullyLabeledReplicas": sum(1 for p in active if _has_labels(p, labels)),
            "readyReplicas": sum(1 for p in active if pod_ready(p)),
            "availableReplicas": sum(1 for p in active if is_available(p, min_ready, moment)),
            "terminatingReplicas": len(terminating),
            "observedGeneration": int(rs["metadata"].get("generation") or 0),
        }
        conditions = [c for c in old.get("conditions") or () if c.get("type") != "ReplicaFailure"]
        if failure is not None:
            previous = next(
                (c for c in old.get("conditions") or () if c.get("type") == "ReplicaFailure"), None
            )
            reason = "FailedCreate" if len(active) < wanted else "FailedDelete"
            conditions.append(
                previous
                or {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "reason": reason,
                    "message": failure,
                    "lastTransitionTime": now(),
                }
            )
        if conditions:
            status["conditions"] = conditions
        if status != old:
            meta = rs["metadata"]
            with ignoring_not_found():
                await self.api.update(
                    REPLICASETS,
                    meta.get("namespace"),
                    meta["name"],
                    {**rs, "status": status},
                    subresource="status",
                )
        # A pod becoming available after minReadySeconds changes nothing the informers see: look again then.
        waits = [available_in(p, min_ready, moment) for p in active]
        pending = [w for w in waits if w]
        if pending:
            self.queue.add_after(_key(rs), min(pending) + 0.01)


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


def _controller_index(obj: dict[str, Any]) -> list[str]:
    uid = controller_uid(obj)
    return [uid] if uid else []


def _finished(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _active(pod: Mapping[str, Any]) -> bool:
    return not _finished(pod) and not pod["metadata"].get("deletionTimestamp")


def _has_labels(pod: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    have = pod["metadata"].get("labels") or {}
    return all(have.get(key) == value for key, value in labels.items())


def _pod_from(rs: Mapping[str, Any], template: Mapping[str, Any]) -> dict[str, Any]:
    """A new pod of ``rs`` (``GetPodFromTemplate``): the template's metadata and spec, owned by the set."""
    meta = rs["metadata"]
    template_meta = template.get("metadata") or {}
    pod_meta: dict[str, Any] = {
        "generateName": f"{meta['name']}-",
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": meta["name"],
                "uid": meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    for field in ("labels", "annotations", "finalizers"):
        if template_meta.get(field):
            pod_meta[field] = clone(template_meta[field])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_meta,
        "spec": clone(template.get("spec") or {}),
    }


def _deletion_rank(pod: Mapping[str, Any]) -> tuple[Any, ...]:
    """Sort key putting the pods to delete first (``controller.ActivePods`` ordering)."""
    meta = pod["metadata"]
    status = pod.get("status") or {}
    try:
        cost = int((meta.get("annotations") or {}).get(DELETION_COST, "0"))
    except ValueError:
        cost = 0
    restarts = sum(int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or ())
    return (
        bool((pod.get("spec") or {}).get("nodeName")),
        _PHASE_RANK.get(status.get("phase") or "", 0),
        pod_ready(pod),
        cost,
        -restarts,
        _negated_time(meta.get("creationTimestamp") or ""),
    )


def _negated_time(stamp: str) -> tuple[int, ...]:
    """Newer first: the timestamp's characters negated, so a plain ascending sort puts later times first."""
    return tuple(-ord(ch) for ch in stamp)
