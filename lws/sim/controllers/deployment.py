"""The Deployment controller, as kube-controller-manager's: a ReplicaSet per pod template, rolled by strategy.

* The *new* ReplicaSet is the one whose template (less the ``pod-template-hash`` label) is the Deployment's;
  it is created as ``<deployment>-<hash>`` with that label added to its selector, template and labels, the
  ``deployment.kubernetes.io/revision`` one higher than any other (the Deployment carries it too), and
  ``desired-replicas``/``max-replicas`` annotations. The others are *old*.
* ``RollingUpdate``: the new set grows while all sets together stay within ``replicas + maxSurge``; old sets
  shrink (their unavailable pods first) while available pods stay at least ``replicas - maxUnavailable``
  (percentages: surge rounded up, unavailability down; both 0 means 1 unavailable). ``Recreate``: old sets go
  to 0, and once their pods are gone the new set goes to ``replicas``.
* A change of ``replicas`` alone resizes the only active set (during a rollout the rolling rules converge,
  rather than Kubernetes' proportional scaling). ``paused`` stops rollouts (the status is still kept).
* Once a rollout is complete, old sets scaled to 0 beyond ``revisionHistoryLimit`` are deleted.
* ``status``: ``replicas``, ``updatedReplicas``, ``readyReplicas``, ``availableReplicas``,
  ``unavailableReplicas``, ``terminatingReplicas``, ``observedGeneration``, and the ``Available``
  (``MinimumReplicasAvailable``) and ``Progressing`` (``NewReplicaSetCreated``, ``ReplicaSetUpdated``,
  ``NewReplicaSetAvailable``) conditions with Kubernetes' messages, which ``kubectl rollout status`` reads.
  The progress deadline is not enforced.

The template hash is this module's own (a digest of the template), not the one Kubernetes computes: names
differ from a real cluster's, their shape does not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from lws.sim.apiserver import APIServer
from lws.sim.controllers.informer import Informers, controller_uid
from lws.sim.controllers.statefulset_plan import scaled_value
from lws.sim.errors import ignoring_not_found
from lws.sim.objects import clone, now
from lws.sim.workqueue import WorkQueue, run_workers

DEPLOYMENTS = ("apps", "v1", "deployments")
REPLICASETS = ("apps", "v1", "replicasets")
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

Key = tuple[str, str]


class DeploymentController:
    """Keeps every Deployment's ReplicaSets and status in line with its spec."""

    def __init__(self, api: APIServer, informers: Informers, *, workers: int = 2) -> None:
        self.api = api
        self.informers = informers
        self.workers = workers
        self.queue: WorkQueue[Key] = WorkQueue()
        self.deployments = informers.get(DEPLOYMENTS)
        self.sets = informers.get(REPLICASETS)
        self.sets.add_index("controller", _controller_index)
        self.deployments.add_handler(self._on_deployment)
        self.sets.add_handler(self._on_set)

    def _on_deployment(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        obj = new or old
        if obj is not None:
            self.queue.add(_key(obj))

    def _on_set(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for rs in (old, new):
            if rs is None:
                continue
            for ref in rs["metadata"].get("ownerReferences") or ():
                if ref.get("controller") and ref.get("kind") == "Deployment":
                    self.queue.add((rs["metadata"].get("namespace") or "", ref.get("name", "")))

    async def run(self) -> None:
        """Process Deployments until cancelled."""
        await self.informers.wait_synced()
        try:
            await run_workers("deployment", self.queue, self.sync, workers=self.workers)
        finally:
            self.queue.close()

    # -- one sync --------------------------------------------------------------------------------

    async def sync(self, key: Key) -> None:
        """Roll one Deployment a step and report its status."""
        deployment = self.deployments.get(*key)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            return
        sets = self._sets_of(deployment)
        new, old = _split(deployment, sets)
        spec = deployment.get("spec") or {}
        replicas = _replicas(deployment)
        created = False
        if not spec.get("paused"):
            recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
            if new is None and not (recreate and any(_replicas(rs) or _actual(rs) for rs in old)):
                new = await self._create_new(deployment, old)
                created = True
            elif new is not None:
                await self._ensure_revision(deployment, new, old)
            if recreate:
                await self._recreate(deployment, new, old)
            elif new is not None and not created:
                await self._roll(deployment, new, old)
            if new is not None and _complete(deployment, new, old):
                await self._clean_up(deployment, old)
        elif (
            new is not None and len([rs for rs in sets if _replicas(rs)]) <= 1 and _replicas(new) != replicas
        ):
            await self._scale(new, replicas, deployment)  # paused: scaling still applies
        await self._report(deployment, new, self._sets_of(deployment), created=created)

    def _sets_of(self, deployment: Mapping[str, Any]) -> list[dict[str, Any]]:
        meta = deployment["metadata"]
        return [
            rs
            for rs in self.sets.by_index("controller", meta["uid"])
            if rs["metadata"].get("namespace") == meta.get("namespace")
        ]

    async def _create_new(self, deployment: dict[str, Any], old: list[dict[str, Any]]) -> dict[str, Any]:
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        collisions = int((deployment.get("status") or {}).get("collisionCount") or 0)
        template: dict[str, Any] = clone(spec.get("template") or {})
        pod_hash = template_hash(template, collisions)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector: dict[str, Any] = clone(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        replicas = _replicas(deployment)
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        start = replicas if recreate or not old else _new_replicas(deployment, None, old)
        revision = str(max([_revision(rs) for rs in old], default=0) + 1)
        body = {
            "metadata": {
                "name": f"{meta['name']}-{pod_hash}",
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {
                    **_copied_annotations(deployment),
                    REVISION: revision,
                    DESIRED_REPLICAS: str(replicas),
                    MAX_REPLICAS: str(replicas + _max_surge(deployment)),
                },
                "ownerReferences": [_owner_reference(deployment)],
            },
            "spec": {
                "replicas": start,
                "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                "selector": selector,
                "template": template,
            },
        }
        created = await self.api.create(REPLICASETS, meta.get("namespace"), body)
        await self._set_revision(deployment, revision)
        return created

    async def _ensure_revision(
        self, deployment: dict[str, Any], new: dict[str, Any], old: list[dict[str, Any]]
    ) -> None:
        """A template rolled back to gets the newest revision again, and the Deployment names it."""
        newest = max([_revision(rs) for rs in old], default=0)
        revision = _revision(new)
        if revision <= newest:
            revision = newest + 1
            await self._annotate(new, {REVISION: str(revision)})
        await self._set_revision(deployment, str(revision))

    async def _set_revision(self, deployment: Mapping[str, Any], revision: str) -> None:
        if (deployment["metadata"].get("annotations") or {}).get(REVISION) != revision:
            await self._annotate(deployment, {REVISION: revision}, gvr=DEPLOYMENTS)

    async def _annotate(
        self, obj: Mapping[str, Any], annotations: Mapping[str, str], gvr: tuple[str, str, str] = REPLICASETS
    ) -> None:
        meta = obj["metadata"]
        patch = {"metadata": {"annotations": dict(annotations)}}
        with ignoring_not_found():
            await self.api.patch(
                gvr, meta.get("namespace"), meta["name"], patch, "application/merge-patch+json"
            )

    async def _scale(self, rs: Mapping[str, Any], replicas: int, deployment: Mapping[str, Any]) -> None:
        meta = rs["metadata"]
        wanted = _replicas(deployment)
        patch = {
            "metadata": {
                "annotations": {
                    DESIRED_REPLICAS: str(wanted),
                    MAX_REPLICAS: str(wanted + _max_surge(deployment)),
                }
            },
            "spec": {"replicas": replicas},
        }
        with ignoring_not_found():
            await self.api.patch(
                REPLICASETS, meta.get("namespace"), meta["name"], patch, "application/merge-patch+json"
            )

    async def _recreate(
        self, deployment: dict[str, Any], new: dict[str, Any] | None, old: list[dict[str, Any]]
    ) -> None:
        for rs in old:
            if _replicas(rs):
                await self._scale(rs, 0, deployment)
        if any(_actual(rs) for rs in old) or new is None:
            return  # old pods still running: the new ones wait
        if _replicas(new) != _replicas(deployment):
            await self._scale(new, _replicas(deployment), deployment)

    async def _roll(self, deployment: dict[str, Any], new: dict[str, Any], old: list[dict[str, Any]]) -> None:
        """One step of a rolling update: grow the new set, else shrink old ones (``rolloutRolling``)."""
        wanted = _new_replicas(deployment, new, old)
        if wanted != _replicas(new):
            await self._scale(new, wanted, deployment)
            if wanted > _replicas(new):
                return  # scaled up: the next sync shrinks old sets as pods become available
        await self._shrink_old(deployment, new, old)

    async def _shrink_old(
        self, deployment: dict[str, Any], new: dict[str, Any], old: list[dict[str, Any]]
    ) -> None:
        """``reconcileOldReplicaSets``: unavailable old pods first, then down to the availability floor."""
        if not any(_replicas(rs) for rs in old):
            return
        everything = [new, *old]
        replicas = _replicas(deployment)
        min_available = replicas - _max_unavailable(deployment)
        new_unavailable = _replicas(new) - _available(new)
        budget = sum(_replicas(rs) for rs in everything) - min_available - new_unavailable
        if budget <= 0:
            return
        shrunk: dict[str, int] = {}
        for rs in sorted(old, key=_created):
            unavailable = _replicas(rs) - _available(rs)
            if budget <= 0 or unavailable <= 0:
                continue
            cut = min(budget, unavailable)
            shrunk[rs["metadata"]["name"]] = _replicas(rs) - cut
            budget -= cut
        available = sum(_available(rs) for rs in everything)
        removable = available - min_available
        for rs in sorted(old, key=_created):
            current = shrunk.get(rs["metadata"]["name"], _replicas(rs))
            if removable <= 0 or current <= 0:
                continue
            cut = min(removable, current)
            shrunk[rs["metadata"]["name"]] = current - cut
            removable -= cut
        for rs in old:
            target = shrunk.get(rs["metadata"]["name"])
            if target is not None and target != _replicas(rs):
                await self._scale(rs, target, deployment)

    async def _clean_up(self, deployment: Mapping[str, Any], old: list[dict[str, Any]]) -> None:
        """Delete old sets scaled to nothing beyond ``revisionHistoryLimit``, oldest first."""
        limit = (deployment.get("spec") or {}).get("revisionHistoryLimit")
        if not isinstance(limit, int):
            return
        idle = sorted(
            (
                rs
                for rs in old
                if not _replicas(rs) and not _actual(rs) and not rs["metadata"].get("deletionTimestamp")
            ),
            key=_revision,
        )
        for rs in idle[: max(0, len(idle) - limit)]:
            meta = rs["metadata"]
            with ignoring_not_found():
                await self.api.delete(REPLICASETS, meta.get("namespace"), meta["name"])

    # -- status ----------------------------------------------------------------------------------

    async def _report(
        self,
        deployment: dict[str, Any],
        new: dict[str, Any] | None,
        sets: list[dict[str, Any]],
        *,
        created: bool,
    ) -> None:
        old_status = dict(deployment.get("status") or {})
        replicas = _replicas(deployment)
        available = sum(_available(rs) for rs in sets)
        total = sum(_replicas(rs) for rs in sets)
        status: dict[str, Any] = {
            "observedGeneration": int(deployment["metadata"].get("generation") or 0),
            "replicas": sum(_actual(rs) for rs in sets),
            "updatedReplicas": _actual(new) if new is not None else 0,
            "readyReplicas": sum(int((rs.get("status") or {}).get("readyReplicas") or 0) for rs in sets),
            "availableReplicas": available,
            "unavailableReplicas": max(0, total - available),
            "terminatingReplicas": sum(
                int((rs.get("status") or {}).get("terminatingReplicas") or 0) for rs in sets
            ),
        }
        if old_status.get("collisionCount") is not None:
            status["collisionCount"] = old_status["collisionCount"]
        conditions = list(old_status.get("conditions") or [])
        if available >= replicas - _max_unavailable(deployment):
            conditions = _set_condition(
                conditions,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        else:
            conditions = _set_condition(
                conditions,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        conditions = self._progressing(deployment, new, status, conditions, created=created)
        status["conditions"] = conditions
        if status != old_status:
            meta = deployment["metadata"]
            with ignoring_not_found():
                await self.api.update(
                    DEPLOYMENTS,
                    meta.get("namespace"),
                    meta["name"],
                    {**deployment, "status": status},
                    subresource="status",
                )

    @staticmethod
    def _progressing(
        deployment: Mapping[str, Any],
        new: Mapping[str, Any] | None,
        status: Mapping[str, Any],
        conditions: list[dict[str, Any]],
        *,
        created: bool,
    ) -> list[dict[str, Any]]:
        """The ``Progressing`` condition as ``syncRolloutStatus`` keeps it (without the deadline)."""
        name = deployment["metadata"]["name"]
        subject = f'ReplicaSet "{new["metadata"]["name"]}"' if new is not None else f'Deployment "{name}"'
        if (deployment.get("spec") or {}).get("paused"):
            return _set_condition(
                conditions, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused"
            )
        if created and new is not None:
            return _set_condition(
                conditions,
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                f'Created new replica set "{new["metadata"]["name"]}"',
            )
        current = next((c for c in conditions if c.get("type") == "Progressing"), None)
        replicas = _replicas(deployment)
        complete = (
            status["updatedReplicas"] == replicas
            and status["replicas"] == replicas
            and status["availableReplicas"] == replicas
            and status["observedGeneration"] >= int(deployment["metadata"].get("generation") or 0)
        )
        if complete:
            if current is not None and current.get("reason") == "NewReplicaSetAvailable":
                return conditions
            return _set_condition(
                conditions,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f"{subject} has successfully progressed.",
            )
        before = deployment.get("status") or {}
        moved = (
            status["updatedReplicas"] > int(before.get("updatedReplicas") or 0)
            or status["replicas"] - status["updatedReplicas"]
            < int(before.get("replicas") or 0) - int(before.get("updatedReplicas") or 0)
            or status["readyReplicas"] > int(before.get("readyReplicas") or 0)
            or status["availableReplicas"] > int(before.get("availableReplicas") or 0)
        )
        if moved or current is None:
            stamp = now()
            kept = (
                current.get("lastTransitionTime")
                if current is not None and current.get("status") == "True"
                else stamp
            )
            others = [c for c in conditions if c.get("type") != "Progressing"]
            return [
                *others,
                {
                    "type": "Progressing",
                    "status": "True",
                    "lastUpdateTime": stamp,
                    "lastTransitionTime": kept,
                    "reason": "ReplicaSetUpdated",
                    "message": f"{subject} is progressing.",
                },
            ]
        return conditions


def template_hash(template: Mapping[str, Any], collisions: int = 0) -> str:
    """A short, stable name suffix for a pod template (Kubernetes' shape, not its exact value)."""
    digest = hashlib.sha256(
        json.dumps([template, collisions], sort_keys=True, separators=(",", ":")).encode()
    )
    number = str(int.from_bytes(digest.digest()[:4], "big"))
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in number)


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


def _controller_index(obj: dict[str, Any]) -> list[str]:
    uid = controller_uid(obj)
    return [uid] if uid else []


def _replicas(obj: Mapping[str, Any]) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return int(value) if isinstance(value, int) else 1


def _actual(rs: Mapping[str, Any]) -> int:
    return int((rs.get("status") or {}).get("replicas") or 0)


def _available(rs: Mapping[str, Any]) -> int:
    return int((rs.get("status") or {}).get("availableReplicas") or 0)


def _revision(rs: Mapping[str, Any]) -> int:
    text = (rs["metadata"].get("annotations") or {}).get(REVISION, "0")
    return int(text) if str(text).isdigit() else 0


def _created(rs: Mapping[str, Any]) -> tuple[str, str]:
    meta = rs["metadata"]
    return (meta.get("creationTimestamp") or "", meta["name"])


def _without_hash(template: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = clone(dict(template))
    labels = (copied.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return copied


def _split(
    deployment: Mapping[str, Any], sets: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The new set (the oldest with the Deployment's template, as ``FindNewReplicaSet``) and the others."""
    wanted = _without_hash((deployment.get("spec") or {}).get("template") or {})
    matching = sorted(
        (rs for rs in sets if _without_hash((rs.get("spec") or {}).get("template") or {}) == wanted),
        key=_created,
    )
    new = matching[0] if matching else None
    return new, [rs for rs in sets if rs is not new]


def _max_surge(deployment: Mapping[str, Any]) -> int:
    return _limits(deployment)[0]


def _max_unavailable(deployment: Mapping[str, Any]) -> int:
    return _limits(deployment)[1]


def _limits(deployment: Mapping[str, Any]) -> tuple[int, int]:
    """``(maxSurge, maxUnavailable)`` (``ResolveFenceposts``); Recreate allows everything down, nothing up."""
    spec = deployment.get("spec") or {}
    strategy = spec.get("strategy") or {}
    replicas = _replicas(deployment)
    if strategy.get("type") == "Recreate":
        return 0, replicas
    rolling = strategy.get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge"), replicas, round_up=True, default=0)
    unavailable = scaled_value(rolling.get("maxUnavailable"), replicas, round_up=False, default=0)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def _new_replicas(
    deployment: Mapping[str, Any], new: Mapping[str, Any] | None, old: list[dict[str, Any]]
) -> int:
    """How big the new set may be now (``NewRSNewReplicas``): towards ``replicas`` within the surge."""
    replicas = _replicas(deployment)
    current_new = _replicas(new) if new is not None else 0
    if current_new >= replicas:
        return replicas
    total = current_new + sum(_replicas(rs) for rs in old)
    room = replicas + _max_surge(deployment) - total
    if room <= 0:
        return current_new
    return current_new + min(room, replicas - current_new)


def _complete(deployment: Mapping[str, Any], new: Mapping[str, Any], old: list[dict[str, Any]]) -> bool:
    replicas = _replicas(deployment)
    return (
        _replicas(new) == replicas
        and _available(new) == replicas
        and not any(_replicas(rs) or _actual(rs) for rs in old)
    )


def _owner_reference(deployment: Mapping[str, Any]) -> dict[str, Any]:
    meta = deployment["metadata"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _copied_annotations(deployment: Mapping[str, Any]) -> dict[str, str]:
    """The Deployment's annotations a ReplicaSet inherits (not kubectl's or the controller's own)."""
    skipped = ("kubectl.kubernetes.io/last-applied-configuration", REVISION, DESIRED_REPLICAS, MAX_REPLICAS)
    annotations = deployment["metadata"].get("annotations") or {}
    return {
        key: value
        for key, value in annotations.items()
        if key not in skipped and key != "deployment.kubernetes.io/revision-history"
    }


def _set_condition(
    conditions: list[dict[str, Any]], kind: str, status: str, reason: str, message: str
) -> list[dict[str, Any]]:
    """``SetDeploymentCondition``: unchanged if status and reason are; transition kept while status is."""
    current = next((c for c in conditions if c.get("type") == kind), None)
    if current is not None and current.get("status") == status and current.get("reason") == reason:
        return conditions
    stamp = now()
    transition = (
        current.get("lastTransitionTime")
        if current is not None and current.get("status") == status
        else stamp
    )
    others = [c for c in conditions if c.get("type") != kind]
    return [
        *others,
        {
            "type": kind,
            "status": status,
            "lastUpdateTime": stamp,
            "lastTransitionTime": transition or stamp,
            "reason": reason,
            "message": message,
        },
    ]
