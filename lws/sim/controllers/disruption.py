"""The disruption controller: keep every PodDisruptionBudget's status, as kube-controller-manager's does.

For each budget, from the pods its selector picks in its namespace:

* ``expectedPods`` and ``desiredHealthy``: with an integer ``minAvailable``, the number of pods and that
  integer; with a percentage ``minAvailable`` or with ``maxUnavailable``, the summed scale of the pods'
  controllers (a Deployment through its ReplicaSet, a ReplicaSet, a StatefulSet, or anything with a ``scale``
  subresource), and the percentage of it rounded up. A pod without a controller is left out; one whose
  controller cannot be found fails the sync: ``disruptionsAllowed`` 0 and ``DisruptionAllowed=False``
  with reason ``SyncFailed``.
* ``currentHealthy``: Ready pods not being deleted and not recently evicted (``disruptedPods``, written by
  the eviction subresource, kept for two minutes or until the pod goes).
* ``disruptionsAllowed``: ``currentHealthy - desiredHealthy``, never below 0 (and 0 while no pod is
  expected); the ``DisruptionAllowed`` condition says ``SufficientPods`` or ``InsufficientPods``.
* ``observedGeneration``: the budget's generation; evictions wait (429) until it is current.

The status is written only when it changes. Events are not recorded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from lws.k8s.pods import pod_ready
from lws.sim.apiserver import APIServer
from lws.sim.controllers.informer import Informers, controller_uid
from lws.sim.eviction import disruption_condition
from lws.sim.objects import format_time, get_path, parse_time
from lws.sim.selectors import SelectorError, label_selector_from_dict
from lws.sim.workqueue import WorkQueue, run_workers

PDBS = ("policy", "v1", "poddisruptionbudgets")
PODS = ("", "v1", "pods")
REPLICASETS = ("apps", "v1", "replicasets")
DEPLOYMENTS = ("apps", "v1", "deployments")
STATEFULSETS = ("apps", "v1", "statefulsets")
DELETION_TIMEOUT = timedelta(minutes=2)
"""How long an evicted pod is not counted healthy while it is expected to go (``DeletionTimeout``)."""

Key = tuple[str, str]


class NoController(Exception):
    """A selected pod names a controller that cannot be found, so the expected scale is unknown."""


class DisruptionController:
    """Keeps PodDisruptionBudget status in line with the pods they select."""

    def __init__(self, api: APIServer, informers: Informers) -> None:
        self.api = api
        self.informers = informers
        self.queue: WorkQueue[Key] = WorkQueue()
        self.budgets = informers.get(PDBS)
        self.pods = informers.get(PODS)
        self.replicasets = informers.get(REPLICASETS)
        self.deployments = informers.get(DEPLOYMENTS)
        self.statefulsets = informers.get(STATEFULSETS)
        self.budgets.add_handler(self._on_budget)
        self.pods.add_handler(self._on_pod)
        for controllers in (self.replicasets, self.deployments, self.statefulsets):
            controllers.add_handler(self._on_controller)

    # -- events ----------------------------------------------------------------------------------

    def _on_budget(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        obj = new or old
        if obj is not None:
            self.queue.add(_key(obj))

    def _on_pod(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for pod in (old, new):
            if pod is not None:
                for budget in self._budgets_selecting(pod):
                    self.queue.add(_key(budget))

    def _on_controller(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        before = ((old or {}).get("spec") or {}).get("replicas")
        after = ((new or {}).get("spec") or {}).get("replicas")
        obj = new or old
        if obj is None or (old is not None and new is not None and before == after):
            return
        namespace = obj["metadata"].get("namespace") or ""
        for budget in self.budgets.items():
            if budget["metadata"].get("namespace") == namespace:
                self.queue.add(_key(budget))

    def _budgets_selecting(self, pod: Mapping[str, Any]) -> list[dict[str, Any]]:
        namespace = pod["metadata"].get("namespace") or ""
        labels = pod["metadata"].get("labels") or {}
        return [
            budget
            for budget in self.budgets.items()
            if budget["metadata"].get("namespace") == namespace and _selects(budget, labels)
        ]

    # -- syncing ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Process budgets until cancelled."""
        await self.informers.wait_synced()
        try:
            await run_workers("disruption", self.queue, self.sync)
        finally:
            self.queue.close()

    async def sync(self, key: Key) -> None:
        """Recompute one budget's status and write it if it changed."""
        budget = self.budgets.get(*key)
        if budget is None or budget["metadata"].get("deletionTimestamp"):
            return
        pods = [
            pod
            for pod in self.pods.items()
            if pod["metadata"].get("namespace") == key[0]
            and _selects(budget, pod["metadata"].get("labels") or {})
        ]
        status = dict(budget.get("status") or {})
        generation = int(budget["metadata"].get("generation") or 0)
        try:
            expected, desired = self._expected(budget, pods)
        except NoController as exc:
            failed = {
                **status,
                "disruptionsAllowed": 0,
                "conditions": _failed_condition(status, str(exc)),
            }
            await self._write(budget, failed)
            return
        now = datetime.now(UTC)
        disrupted, recheck = _disrupted(pods, status.get("disruptedPods") or {}, now)
        healthy = sum(
            1
            for pod in pods
            if not pod["metadata"].get("deletionTimestamp")
            and pod["metadata"]["name"] not in disrupted
            and pod_ready(pod)
        )
        allowed = healthy - desired if expected > 0 and healthy > desired else 0
        new_status: dict[str, Any] = {
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "expectedPods": expected,
            "disruptionsAllowed": allowed,
            "observedGeneration": generation,
        }
        if disrupted:
            new_status["disruptedPods"] = disrupted
        new_status["conditions"] = disruption_condition(
            list(status.get("conditions") or []), generation, allowed=allowed > 0
        )
        if new_status != status:
            await self._write(budget, new_status)
        if recheck is not None:
            self.queue.add_after(key, max(0.0, (recheck - now).total_seconds()) + 0.01)

    async def _write(self, budget: dict[str, Any], status: dict[str, Any]) -> None:
        meta = budget["metadata"]
        # Pinned to the version read: a conflict (an eviction spent the budget meanwhile) is retried afresh.
        await self.api.update(
            PDBS, meta.get("namespace"), meta["name"], {**budget, "status": status}, subresource="status"
        )

    def _expected(self, budget: Mapping[str, Any], pods: list[dict[str, Any]]) -> tuple[int, int]:
        """``(expectedPods, desiredHealthy)`` (``getExpectedPodCount``)."""
        spec = budget.get("spec") or {}
        max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
        if max_unavailable is not None:
            expected = self._expected_scale(pods)
            return expected, max(0, expected - _scaled(max_unavailable, expected))
        if isinstance(min_available, int):
            return len(pods), min_available
        if min_available is not None:
            expected = self._expected_scale(pods)
            return expected, _scaled(min_available, expected)
        return 0, 0

    def _expected_scale(self, pods: list[dict[str, Any]]) -> int:
        """The summed desired replicas of the pods' controllers (``getExpectedScale``)."""
        scales: dict[str, int] = {}
        for pod in pods:
            ref = _controller_ref(pod)
            if ref is None or ref.get("uid") in scales:
                continue  # an unmanaged pod, or a controller already counted
            found = self._scale_of(ref, pod["metadata"].get("namespace") or "")
            if found is None:
                raise NoController(f'found no controllers for pod "{pod["metadata"]["name"]}"')
            scales[found[0]] = found[1]
        return sum(scales.values())

    def _scale_of(self, ref: Mapping[str, Any], namespace: str) -> tuple[str, int] | None:
        """``(uid, desired replicas)`` of the controller ``ref`` names (a Deployment for its ReplicaSets)."""
        group = str(ref.get("apiVersion", "")).rpartition("/")[0]
        kind, name, uid = ref.get("kind"), ref.get("name", ""), ref.get("uid")
        if (group, kind) == ("apps", "ReplicaSet"):
            replicaset = self.replicasets.get(namespace, name)
            if replicaset is None or replicaset["metadata"].get("uid") != uid:
                return None
            owner_uid = controller_uid(replicaset)
            for deployment in self.deployments.items():
                meta = deployment["metadata"]
                if (
                    owner_uid is not None
                    and meta.get("uid") == owner_uid
                    and meta.get("namespace") == namespace
                ):
                    return owner_uid, _replicas(deployment)
            return str(uid), _replicas(replicaset)
        if (group, kind) == ("apps", "StatefulSet"):
            statefulset = self.statefulsets.get(namespace, name)
            if statefulset is None or statefulset["metadata"].get("uid") != uid:
                return None
            return str(uid), _replicas(statefulset)
        resource = self.api.registry.by_kind(group, str(kind))
        if resource is None or resource.scale is None:
            return None
        owner = self.api.store.get(resource.storage, namespace if resource.namespaced else "", name)
        if owner is None or owner["metadata"].get("uid") != uid:
            return None
        value = get_path(owner, resource.scale.spec_replicas_path)
        return str(uid), int(value) if isinstance(value, int) else 0


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


def _selects(budget: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether the budget's selector matches ``labels`` (none selects nothing; ``{}`` everything)."""
    try:
        return label_selector_from_dict((budget.get("spec") or {}).get("selector")).matches(labels)
    except SelectorError:
        return False


def _controller_ref(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in pod["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def _replicas(obj: Mapping[str, Any]) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return int(value) if isinstance(value, int) else 1


def _scaled(value: Any, total: int) -> int:
    """An int-or-percent against ``total``, percentages rounded up (``GetScaledValueFromIntOrPercent``)."""
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%") and text[:-1].isdigit():
        return math.ceil(int(text[:-1]) * total / 100)
    return int(text) if text.isdigit() else 0


def _disrupted(
    pods: list[dict[str, Any]], recorded: Mapping[str, str], now: datetime
) -> tuple[dict[str, str], datetime | None]:
    """Evicted pods still expected to go (``buildDisruptedPodMap``), and when to look again."""
    kept: dict[str, str] = {}
    recheck: datetime | None = None
    for pod in pods:
        name = pod["metadata"]["name"]
        if pod["metadata"].get("deletionTimestamp") or name not in recorded:
            continue
        try:
            due = parse_time(recorded[name]) + DELETION_TIMEOUT
        except ValueError:
            continue
        if due < now:
            continue  # it was expected to go and did not: count it again
        kept[name] = recorded[name]
        recheck = due if recheck is None or due < recheck else recheck
    return kept, recheck


def _failed_condition(status: Mapping[str, Any], message: str) -> list[Any]:
    """``DisruptionAllowed=False`` with reason ``SyncFailed`` (``failSafe``)."""
    others = [c for c in status.get("conditions") or () if c.get("type") != "DisruptionAllowed"]
    previous: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or () if c.get("type") == "DisruptionAllowed"), {}
    )
    when = previous.get("lastTransitionTime") if previous.get("status") == "False" else None
    condition = {
        "type": "DisruptionAllowed",
        "status": "False",
        "reason": "SyncFailed",
        "message": message,
        "observedGeneration": int(status.get("observedGeneration") or 0),
        "lastTransitionTime": when or format_time(datetime.now(UTC)),
    }
    return [*others, condition]
