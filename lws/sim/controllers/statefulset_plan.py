"""What the StatefulSet controller should do next, as pure functions over plain objects.

This follows kube-controller-manager's StatefulSet control loop (``stateful_set_control.go``, 1.35
with ``MaxUnavailableStatefulSet`` on):

* pods are ``<set>-<ordinal>`` for ordinals ``start .. start+replicas-1``; others are *condemned*;
* a missing pod is created at the current revision when its index is below the partition, else at
  the update revision; a Failed or Succeeded pod is deleted and recreated on a later sync;
* ``OrderedReady`` (monotonic) stops at the first pod that is not Running, Ready and available, and
  scales down one pod at a time, highest ordinal first; ``Parallel`` does everything at once;
* a rolling update deletes the highest-ordinal pods at an old revision, index >= partition, as long
  as no more than ``maxUnavailable`` pods in range are unavailable (missing, terminating, not Ready
  or not yet ``minReadySeconds`` old); ``OnDelete`` never deletes for an update;
* status counts replicas, ready, available, current and updated pods; once every pod is updated
  and ready, the current revision becomes the update revision.

:func:`plan` returns the actions; the async controller performs them and writes the status.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lws.k8s.pods import pod_running_and_ready, ready_condition
from lws.sim.objects import clone, parse_time

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
REVISION_HASH_LABEL = "controller.kubernetes.io/hash"

_ORDINAL = re.compile(r"^(.*)-(\d+)$")
# rand.SafeEncodeString's alphabet: no vowels, no confusable characters.
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


# ---------------------------------------------------------------------------------------------------
# Small readers


def ordinal_of(pod_name: str) -> tuple[str, int]:
    """``("web", 3)`` for ``web-3``; ``("", -1)`` when the name has no ordinal."""
    match = _ORDINAL.match(pod_name)
    if match is None:
        return "", -1
    return match.group(1), int(match.group(2))


def start_ordinal(sts: Mapping[str, Any]) -> int:
    """``spec.ordinals.start`` (0 by default)."""
    return int(((sts.get("spec") or {}).get("ordinals") or {}).get("start") or 0)


def replicas_of(sts: Mapping[str, Any]) -> int:
    """``spec.replicas`` (1 by default)."""
    value = (sts.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def pod_revision(pod: Mapping[str, Any]) -> str:
    """The ``controller-revision-hash`` label of a pod."""
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL, ""))


def is_terminating(pod: Mapping[str, Any]) -> bool:
    """The pod has a deletionTimestamp."""
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_created(pod: Mapping[str, Any]) -> bool:
    """Kubernetes' ``isCreated``: the API server has given the pod a phase."""
    return _phase(pod) != ""


def available_in(pod: Mapping[str, Any], min_ready_seconds: int, now: datetime) -> float | None:
    """Seconds until a Running+Ready pod becomes available (0 if it is); None if it is not Ready."""
    if not pod_running_and_ready(pod):
        return None
    stamp = (ready_condition(pod) or {}).get("lastTransitionTime")
    if min_ready_seconds <= 0 or not stamp:
        return 0.0
    remaining = (parse_time(stamp) + timedelta(seconds=min_ready_seconds) - now).total_seconds()
    return max(0.0, remaining)


def is_available(pod: Mapping[str, Any], min_ready_seconds: int, now: datetime) -> bool:
    """Running, Ready, and Ready for at least ``minReadySeconds``."""
    return available_in(pod, min_ready_seconds, now) == 0.0


def is_unavailable(pod: Mapping[str, Any] | None, min_ready_seconds: int, now: datetime) -> bool:
    """Missing, terminating, or not available (Kubernetes' ``isUnavailable``)."""
    return pod is None or is_terminating(pod) or not is_available(pod, min_ready_seconds, now)


def scaled_value(value: int | str | None, total: int, *, round_up: bool, default: int) -> int:
    """An int-or-percent (``2`` or ``"25%"``) against ``total``, as ``GetScaledValueFromIntOrPercent``."""
    if value is None:
        return default
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%"):
        percent = int(text[:-1])
        exact = percent * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(text)


def max_unavailable(sts: Mapping[str, Any]) -> int:
    """``rollingUpdate.maxUnavailable`` scaled to replicas (percent rounds up), at least 1."""
    rolling = ((sts.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
    value = scaled_value(rolling.get("maxUnavailable"), replicas_of(sts), round_up=True, default=1)
    return max(1, value)


def update_strategy(sts: Mapping[str, Any]) -> tuple[str, int | None]:
    """``(type, partition)``: partition 0 by default for RollingUpdate (as the API server defaults it),
    None for OnDelete."""
    strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
    kind = str(strategy.get("type") or "RollingUpdate")
    if kind != "RollingUpdate":
        return kind, None
    return kind, int((strategy.get("rollingUpdate") or {}).get("partition") or 0)


# ---------------------------------------------------------------------------------------------------
# Revisions


def revision_data(sts: Mapping[str, Any]) -> dict[str, Any]:
    """What a ControllerRevision stores: a patch replacing ``spec.template`` (as Kubernetes' getPatch)."""
    template = clone((sts.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def template_of(data: Mapping[str, Any]) -> dict[str, Any]:
    """The pod template a revision's data holds."""
    template: dict[str, Any] = clone(((data.get("spec") or {}).get("template")) or {})
    template.pop("$patch", None)
    return template


def revision_hash(data: Mapping[str, Any], collision_count: int) -> str:
    """A stable hash of revision data (FNV-1 32-bit, safe-encoded, at most 10 characters)."""
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode() + str(collision_count).encode()
    value = 0x811C9DC5
    for byte in raw:
        value = (value * 0x01000193) % 2**32
        value ^= byte
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in str(value))


def same_revision_data(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Two revisions hold the same template."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def sort_revisions(revisions: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """By ``revision`` number, then creation time, then name (``history.SortControllerRevisions``)."""
    return sorted(
        revisions,
        key=lambda r: (
            int(r.get("revision") or 0),
            (r.get("metadata") or {}).get("creationTimestamp") or "",
            (r.get("metadata") or {}).get("name") or "",
        ),
    )


def owner_reference(obj: Mapping[str, Any], *, controller: bool) -> dict[str, Any]:
    """An ownerReference to ``obj`` (a controller reference blocks owner deletion, as Kubernetes sets it)."""
    meta = obj["metadata"]
    ref: dict[str, Any] = {
        "apiVersion": obj.get("apiVersion", "apps/v1"),
        "kind": obj.get("kind", "StatefulSet"),
        "name": meta["name"],
        "uid": meta["uid"],
    }
    if controller:
        ref["controller"] = True
        ref["blockOwnerDeletion"] = True
    return ref


def new_revision(sts: Mapping[str, Any], number: int, collision_count: int) -> dict[str, Any]:
    """A ControllerRevision object for the set's current template."""
    data = revision_data(sts)
    hash_ = revision_hash(data, collision_count)
    meta = sts["metadata"]
    labels = dict(((sts.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {})
    labels[REVISION_HASH_LABEL] = hash_
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": f"{meta['name'][:223]}-{hash_}",
            "namespace": meta.get("namespace", "default"),
            "labels": labels,
            "annotations": dict(meta.get("annotations") or {}),
            "ownerReferences": [owner_reference(sts, controller=True)],
        },
        "data": data,
        "revision": number,
    }


@dataclass(frozen=True)
class RevisionChoice:
    """How to obtain the update revision: reuse the newest, renumber an older equal one, or create one."""

    action: str  # "reuse" | "renumber" | "create"
    revision: Mapping[str, Any]
    next_number: int


def choose_update_revision(
    sts: Mapping[str, Any], revisions: Sequence[Mapping[str, Any]], collision_count: int
) -> RevisionChoice:
    """Kubernetes' getStatefulSetRevisions: find the revision equal to the template, or make a new one."""
    ordered = sort_revisions(revisions)
    next_number = int(ordered[-1].get("revision") or 0) + 1 if ordered else 1
    candidate = new_revision(sts, next_number, collision_count)
    equal = [r for r in ordered if same_revision_data(r.get("data") or {}, candidate["data"])]
    if equal and equal[-1] is ordered[-1]:
        return RevisionChoice("reuse", ordered[-1], next_number)
    if equal:
        return RevisionChoice("renumber", equal[-1], next_number)
    return RevisionChoice("create", candidate, next_number)


def stale_revisions(
    sts: Mapping[str, Any],
    revisions: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    live: Sequence[str],
) -> list[str]:
    """Names of the oldest revisions to delete so at most ``revisionHistoryLimit`` unused ones remain."""
    limit = (sts.get("spec") or {}).get("revisionHistoryLimit")
    limit = 10 if limit is None else int(limit)
    in_use = set(live) | {pod_revision(p) for p in pods}
    history = [
        r["metadata"]["name"] for r in sort_revisions(revisions) if r["metadata"]["name"] not in in_use
    ]
    if limit < 0 or len(history) <= limit:
        return []
    return history[: len(history) - limit]


# ---------------------------------------------------------------------------------------------------
# Pods and claims


def claim_name(claim_template: Mapping[str, Any], sts_name: str, ordinal: int) -> str:
    """``<claim>-<set>-<ordinal>``."""
    return f"{claim_template['metadata']['name']}-{sts_name}-{ordinal}"


def retention_policy(sts: Mapping[str, Any]) -> tuple[str, str]:
    """``(whenDeleted, whenScaled)``, each Retain or Delete (Retain by default)."""
    policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
    return str(policy.get("whenDeleted") or "Retain"), str(policy.get("whenScaled") or "Retain")


def claim_owner_references(
    sts: Mapping[str, Any], pod: Mapping[str, Any] | None, claim: Mapping[str, Any], *, condemned: bool
) -> list[dict[str, Any]]:
    """The claim's ownerReferences under the retention policy (``updateClaimOwnerRefForSetAndPod``).

    whenDeleted=Delete makes the set an owner, so the claim goes with the set; whenScaled=Delete makes
    a scaled-down pod the owner, so the claim goes with that pod. References to other owners are kept.
    """
    when_deleted, when_scaled = retention_policy(sts)
    set_uid = sts["metadata"]["uid"]
    pod_uid = (pod or {}).get("metadata", {}).get("uid")
    refs = [
        dict(r)
        for r in (claim.get("metadata") or {}).get("ownerReferences") or []
        if r.get("uid") not in (set_uid, pod_uid)
    ]
    set_owns = when_deleted == "Delete" and not (when_scaled == "Delete" and condemned)
    pod_owns = when_scaled == "Delete" and condemned and pod_uid is not None
    if set_owns:
        refs.append(owner_reference(sts, controller=False))
    if pod_owns and pod is not None:
        refs.append({"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"], "uid": pod_uid})
    return refs


def new_claims(sts: Mapping[str, Any], ordinal: int, pod: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The PersistentVolumeClaims a pod of this ordinal needs (``getPersistentVolumeClaims``)."""
    spec = sts.get("spec") or {}
    meta = sts["metadata"]
    selector_labels = (spec.get("selector") or {}).get("matchLabels") or {}
    claims = []
    for template in spec.get("volumeClaimTemplates") or []:
        claim = clone(dict(template))
        claim.pop("status", None)
        claim_meta = claim.setdefault("metadata", {})
        claim_meta["name"] = claim_name(template, meta["name"], ordinal)
        claim_meta["namespace"] = meta.get("namespace", "default")
        claim_meta["labels"] = {**(claim_meta.get("labels") or {}), **selector_labels}
        for key in ("uid", "resourceVersion", "creationTimestamp"):
            claim_meta.pop(key, None)
        claim["apiVersion"] = "v1"
        claim["kind"] = "PersistentVolumeClaim"
        refs = claim_owner_references(sts, pod, claim, condemned=False)
        if refs:
            claim_meta["ownerReferences"] = refs
        claims.append(claim)
    return claims


def new_pod(
    sts: Mapping[str, Any], template: Mapping[str, Any], revision_name: str, ordinal: int
) -> dict[str, Any]:
    """The pod for ``ordinal`` at a revision: template, identity labels, hostname, subdomain, claims."""
    meta = sts["metadata"]
    spec = sts.get("spec") or {}
    name = f"{meta['name']}-{ordinal}"
    template_meta = template.get("metadata") or {}
    labels = dict(template_meta.get("labels") or {})
    labels[POD_NAME_LABEL] = name
    labels[POD_INDEX_LABEL] = str(ordinal)
    labels[REVISION_LABEL] = revision_name
    pod_meta: dict[str, Any] = {
        "name": name,
        "generateName": f"{meta['name']}-",
        "namespace": meta.get("namespace", "default"),
        "labels": labels,
        "ownerReferences": [owner_reference(sts, controller=True)],
    }
    if template_meta.get("annotations"):
        pod_meta["annotations"] = dict(template_meta["annotations"])
    if template_meta.get("finalizers"):
        pod_meta["finalizers"] = list(template_meta["finalizers"])
    pod_spec = clone(template.get("spec") or {})
    pod_spec["hostname"] = name
    if spec.get("serviceName"):
        pod_spec["subdomain"] = spec["serviceName"]
    claim_volumes = {
        t["metadata"]["name"]: {
            "name": t["metadata"]["name"],
            "persistentVolumeClaim": {"claimName": claim_name(t, meta["name"], ordinal)},
        }
        for t in spec.get("volumeClaimTemplates") or []
    }
    if claim_volumes:
        kept = [v for v in pod_spec.get("volumes") or [] if v.get("name") not in claim_volumes]
        pod_spec["volumes"] = list(claim_volumes.values()) + kept
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": pod_spec}


def identity_matches(sts: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """The pod carries its identity labels (``identityMatches``)."""
    name = pod["metadata"]["name"]
    _, ordinal = ordinal_of(name)
    labels = pod["metadata"].get("labels") or {}
    return labels.get(POD_NAME_LABEL) == name and labels.get(POD_INDEX_LABEL) == str(ordinal)


# ---------------------------------------------------------------------------------------------------
# The plan


@dataclass(frozen=True)
class CreatePod:
    """Create the pod (and its missing claims) for an ordinal at a revision."""

    ordinal: int
    revision: str  # "current" | "update"


@dataclass(frozen=True)
class DeletePod:
    """Delete a pod: failed, condemned by a scale-down, or at an old revision during a rolling update."""

    name: str
    why: str


@dataclass(frozen=True)
class FixPod:
    """Restore a pod's identity labels or its claims' owner references."""

    name: str
    condemned: bool


@dataclass
class Plan:
    """Actions in order, the status to write, and when to look again (for minReadySeconds)."""

    actions: list[CreatePod | DeletePod | FixPod] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    requeue_after: float | None = None


def count_status(
    pods: Sequence[Mapping[str, Any]],
    min_ready_seconds: int,
    current_revision: str,
    update_revision: str,
    now: datetime,
) -> dict[str, int]:
    """Replica counts the way ``computeReplicaStatus`` makes them."""
    counts = {
        "replicas": 0,
        "readyReplicas": 0,
        "availableReplicas": 0,
        "currentReplicas": 0,
        "updatedReplicas": 0,
    }
    for pod in pods:
        created = is_created(pod)
        if created:
            counts["replicas"] += 1
        if pod_running_and_ready(pod):
            counts["readyReplicas"] += 1
            if is_available(pod, min_ready_seconds, now):
                counts["availableReplicas"] += 1
        if created and not is_terminating(pod):
            revision = pod_revision(pod)
            if revision == current_revision:
                counts["currentReplicas"] += 1
            if revision == update_revision:
                counts["updatedReplicas"] += 1
    return counts


def plan(
    sts: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    current_revision: str,
    update_revision: str,
    collision_count: int,
    now: datetime,
    *,
    claims_ok: Mapping[str, bool] | None = None,
) -> Plan:
    """Decide the next actions for a StatefulSet given its pods (``updateStatefulSet``).

    ``claims_ok`` maps pod names to whether their claims' owner references already match the
    retention policy (missing names count as matching).
    """
    spec = sts.get("spec") or {}
    meta = sts["metadata"]
    name = meta["name"]
    start = start_ordinal(sts)
    count = replicas_of(sts)
    min_ready = int(spec.get("minReadySeconds") or 0)
    monotonic = (spec.get("podManagementPolicy") or "OrderedReady") != "Parallel"
    kind, partition = update_strategy(sts)
    claims_ok = claims_ok or {}
    result = Plan()

    replicas: list[Mapping[str, Any] | None] = [None] * count
    condemned: list[Mapping[str, Any]] = []
    for pod in pods:
        parent, ordinal = ordinal_of(pod["metadata"]["name"])
        if parent != name or ordinal < 0:
            continue
        if start <= ordinal < start + count:
            replicas[ordinal - start] = pod
        else:
            condemned.append(pod)
    condemned.sort(key=lambda p: ordinal_of(p["metadata"]["name"])[1], reverse=True)

    status: dict[str, Any] = {
        "observedGeneration": int(meta.get("generation") or 0),
        **count_status(pods, min_ready, current_revision, update_revision, now),
        "currentRevision": current_revision,
        "updateRevision": update_revision,
        "collisionCount": collision_count,
    }
    result.status = status

    waits = [available_in(p, min_ready, now) for p in pods if min_ready > 0]
    pending = [w for w in waits if w is not None and w > 0]
    if pending:
        result.requeue_after = min(pending)

    first_unavailable: Mapping[str, Any] | None = None
    for candidate in [*replicas, *reversed(condemned)]:
        if is_unavailable(candidate, min_ready, now):
            first_unavailable = candidate
            break

    if meta.get("deletionTimestamp"):
        return _complete(sts, result)

    # 1. Living replicas: recreate failed pods, create missing ones, and (monotonic) wait for health.
    for index, slot in enumerate(replicas):
        ordinal = start + index
        if slot is not None and _phase(slot) in ("Failed", "Succeeded"):
            if not is_terminating(slot):
                result.actions.append(DeletePod(slot["metadata"]["name"], "failed"))
            if monotonic:
                return _complete(sts, result)
            continue
        if slot is None:
            at_current = partition is not None and index < partition
            result.actions.append(CreatePod(ordinal, "current" if at_current else "update"))
            if monotonic:
                return _complete(sts, result)
            continue
        if monotonic and (is_terminating(slot) or not is_available(slot, min_ready, now)):
            return _complete(sts, result)
        if not identity_matches(sts, slot) or not claims_ok.get(slot["metadata"]["name"], True):
            result.actions.append(FixPod(slot["metadata"]["name"], condemned=False))

    # 2. Condemned pods: fix claim ownership for whenScaled=Delete, then delete, highest ordinal first.
    for pod in condemned:
        if not claims_ok.get(pod["metadata"]["name"], True):
            result.actions.append(FixPod(pod["metadata"]["name"], condemned=True))
    for pod in condemned:
        if is_terminating(pod):
            if monotonic:
                return _complete(sts, result)
            continue
        if monotonic and pod is not first_unavailable and not is_available(pod, min_ready, now):
            return _complete(sts, result)
        result.actions.append(DeletePod(pod["metadata"]["name"], "scale down"))
        if monotonic:
            return _complete(sts, result)

    # 3. Rolling update, highest ordinal first, within the maxUnavailable budget.
    if kind == "OnDelete":
        return _complete(sts, result)
    update_min = partition or 0
    budget = max_unavailable(sts)
    unavailable = sum(1 for slot in replicas if is_unavailable(slot, min_ready, now))
    if unavailable > budget:
        return _complete(sts, result)
    to_delete = budget - unavailable
    for index in range(count - 1, update_min - 1, -1):
        if to_delete <= 0:
            break
        target = replicas[index]
        if target is not None and pod_revision(target) != update_revision and not is_terminating(target):
            result.actions.append(DeletePod(target["metadata"]["name"], "rolling update"))
            status["currentReplicas"] -= 1
            to_delete -= 1
    return _complete(sts, result)


def _complete(sts: Mapping[str, Any], result: Plan) -> Plan:
    # completeRollingUpdate: once every pod is updated and ready, the update revision becomes current.
    status = result.status
    kind, _ = update_strategy(sts)
    if (
        kind == "RollingUpdate"
        and status["updatedReplicas"] == status["replicas"]
        and status["readyReplicas"] == status["replicas"]
    ):
        status["currentReplicas"] = status["updatedReplicas"]
        status["currentRevision"] = status["updateRevision"]
    return result


STATUS_FIELDS = (
    "observedGeneration",
    "replicas",
    "readyReplicas",
    "availableReplicas",
    "currentReplicas",
    "updatedReplicas",
    "currentRevision",
    "updateRevision",
    "collisionCount",
)


def status_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether writing ``new`` would change the stored status (unset counts as 0 / empty)."""
    old = old or {}
    for key in STATUS_FIELDS:
        default: Any = "" if key.endswith("Revision") else 0
        if (old.get(key) if old.get(key) is not None else default) != new.get(key, default):
            return True
    return False
