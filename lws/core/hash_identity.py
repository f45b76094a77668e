"""``groupIdentity: Hash`` (upstream #987, KEP-898) and ``groupReplacementPolicy`` (upstream #1050).

A Hash set's leaders are the pods of a Deployment named after the set, so a ReplicaSet, not an ordinal,
decides which groups go on a scale-down: unscheduled, then unready groups first. Every leader pod gets at
admission:

* a random group key, ``sha1(<namespace>/<16 random characters>)``, in both the ``group-index`` and the
  ``group-key`` labels (the worker StatefulSet and the per-group Service select on it);
* the host name ``<lws>-<first 8 characters of the key>`` and the set's Service as subdomain (its own
  Service of that name with ``UniquePerReplica``), the address workers reach it at; the pod is named after
  its host name too (a ReplicaSet asks for a generated name, which admission may set), so every name of
  the group derives from its key as an ordinal group's derive from ``<lws>-<i>``;
* the readiness gate ``group-ready``, True once its worker StatefulSet is ready, so the Deployment's
  rollout and scale-down count whole groups, not bare leaders;
* the scheduling gate ``group-replacement``, lifted by the operator: at once with ``Immediate``; with
  ``PostTermination``, the oldest ``G - T`` of the ``G`` gated leaders go, ``T`` being the groups still
  being torn down, so a replacement competes only for capacity a deleted group has released.

The worker StatefulSet is named after its leader pod and carries the leader's address in the annotation
``leader-address`` on its template, which pod admission turns into ``LWS_LEADER_ADDRESS``.

Pure functions; the operator and ``lws render`` call them.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet
from lws.core.keys import group_key
from lws.core.meta import owner_reference
from lws.core.observe import deleting, labels
from lws.core.statefulsets import (
    group_worker_statefulset,
    leader_metadata,
    leader_pod_template,
    leader_selector,
    leader_template_annotations,
)

Obj = Mapping[str, Any]

_KEY_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
#: Length of the random part a group key hashes (upstream: 16 characters).
RANDOM_PART_LENGTH = 16
#: Reasons of the ``group-ready`` condition (upstream's).
REASON_WORKERS_READY = "WorkerStatefulSetReady"
REASON_WORKERS_NOT_READY = "WorkerStatefulSetNotReady"


def new_group_key(namespace: str, random_part: str | None = None) -> str:
    """A group key, as upstream's webhook draws it: the ``group-key`` hash (SHA-1 of ``<namespace>/<x>``,
    40 hex characters) with a random 16-character string as ``x`` where an ordinal leader has its name."""
    return group_key(namespace, random_part if random_part is not None else _random_part())


def _random_part() -> str:
    # Kubernetes' rand.String: 16 characters of its vowel-free alphabet.
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(RANDOM_PART_LENGTH))


def host_name(set_name: str, key: str) -> str:
    """The leader's host name: ``<lws>-<first 8 characters of its group key>``."""
    return f"{set_name}-{key[: c.HASH_HOST_KEY_LENGTH]}"


def is_hash_pod(pod: Obj) -> bool:
    """A pod of a Hash set (its template carries the ``group-identity`` annotation)."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return annotations.get(c.GROUP_IDENTITY_ANNOTATION) == c.GROUP_IDENTITY_HASH


# --- desired objects ---------------------------------------------------------------------------------------


def leader_deployment(
    lws: LeaderWorkerSet, *, revision: str, pod_annotations: Mapping[str, str]
) -> dict[str, Any]:
    """The leader Deployment ``<lws>``: one leader pod per group; the rolling update is the Deployment's,
    with the set's ``maxSurge`` and ``maxUnavailable``.

    The role label and the replicas annotation go on the Deployment's own metadata, never on its template
    (a template change would roll every group: upstream #1016).
    """
    annotations = leader_template_annotations(lws, pod_annotations)
    annotations[c.GROUP_IDENTITY_ANNOTATION] = c.GROUP_IDENTITY_HASH
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": leader_metadata(lws, revision),
        "spec": {
            "replicas": lws.replicas,
            "selector": leader_selector(lws),
            "strategy": {
                "type": c.ROLLING_UPDATE,
                "rollingUpdate": {"maxSurge": lws.max_surge, "maxUnavailable": lws.max_unavailable},
            },
            "template": leader_pod_template(lws, revision, annotations),
        },
    }


def hash_worker_statefulset(
    lws: LeaderWorkerSet,
    leader: Obj,
    *,
    revision: str,
    pod_annotations: Mapping[str, str],
    live_metadata: LeaderWorkerSet | None = None,
) -> dict[str, Any]:
    """The worker StatefulSet of a Hash group: named after its leader pod, selecting the group key.

    :param lws: the LeaderWorkerSet as of the group's revision.
    :param leader: the admitted leader pod (its name, uid, group key, host name and subdomain).
    """
    meta = leader.get("metadata") or {}
    spec = leader.get("spec") or {}
    leader_name = str(meta.get("name") or "")
    key = labels(leader).get(c.GROUP_INDEX_LABEL, "")
    subdomain = str(spec.get("subdomain") or lws.name)
    host = str(spec.get("hostname") or host_name(lws.name, key))
    return group_worker_statefulset(
        lws,
        leader_name=leader_name,
        group_label=key,
        group_key=key,
        service_name=subdomain,
        revision=revision,
        leader_uid=meta.get("uid"),
        pod_annotations=pod_annotations,
        extra_annotations={
            c.GROUP_IDENTITY_ANNOTATION: c.GROUP_IDENTITY_HASH,
            c.LEADER_ADDRESS_ANNOTATION: f"{host}.{subdomain}.{lws.namespace}",
        },
        live_metadata=live_metadata,
    )


def hash_group_service(lws: LeaderWorkerSet, leader: Obj) -> dict[str, Any]:
    """``UniquePerReplica``: the group's headless Service, named after the leader's host name (its
    subdomain), selecting the group key, owned by the leader pod."""
    meta = leader.get("metadata") or {}
    key = labels(leader).get(c.GROUP_INDEX_LABEL, "")
    name = str((leader.get("spec") or {}).get("subdomain") or host_name(lws.name, key))
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": lws.namespace,
            "labels": {c.SET_NAME_LABEL: lws.name},
            "ownerReferences": [owner_reference("v1", "Pod", str(meta.get("name") or ""), meta.get("uid"))],
        },
        "spec": {
            "clusterIP": "None",
            "selector": {c.SET_NAME_LABEL: lws.name, c.GROUP_INDEX_LABEL: key},
            "publishNotReadyAddresses": True,
        },
    }


# --- pod admission -----------------------------------------------------------------------------------------


def admit_leader(pod: dict[str, Any], namespace: str, *, random_part: str | None = None) -> str:
    """Stamp a Hash leader pod at admission; returns its group key.

    A key already on the pod is kept (a pod admitted twice keeps its identity). The gates are added once.
    """
    meta = pod.setdefault("metadata", {})
    pod_labels: dict[str, str] = meta.setdefault("labels", {})
    annotations: dict[str, str] = meta.get("annotations") or {}
    spec: dict[str, Any] = pod.setdefault("spec", {})
    set_name = pod_labels[c.SET_NAME_LABEL]
    key = pod_labels.get(c.GROUP_INDEX_LABEL) or new_group_key(namespace, random_part)
    pod_labels[c.GROUP_INDEX_LABEL] = key
    pod_labels[c.GROUP_UNIQUE_HASH_LABEL] = key
    if not meta.get("name"):
        # The ReplicaSet asks for a generated name, drawn only after admission: so the pod's name is known
        # here (its worker StatefulSet and worker pods are named after it, and the TPU environment lists
        # them at admission), it gets its host name. No pod name is derived from the group ordinal, which
        # Hash groups lack.
        meta["name"] = host_name(set_name, key)
    # The host name cannot change after creation: admission is the only chance to set it (kept if the
    # template set one, as upstream).
    host = spec.get("hostname") or host_name(set_name, key)
    spec["hostname"] = host
    unique = annotations.get(c.SUBDOMAIN_POLICY_ANNOTATION) == c.SUBDOMAIN_UNIQUE_PER_REPLICA
    spec["subdomain"] = host if unique else set_name
    gates = spec.setdefault("readinessGates", [])
    if not any(g.get("conditionType") == c.GROUP_READY_CONDITION for g in gates):
        gates.append({"conditionType": c.GROUP_READY_CONDITION})
    scheduling = spec.setdefault("schedulingGates", [])
    if not any(g.get("name") == c.GROUP_REPLACEMENT_GATE for g in scheduling):
        scheduling.append({"name": c.GROUP_REPLACEMENT_GATE})
    return key


# --- the replacement gate ----------------------------------------------------------------------------------


def gated(pod: Obj) -> bool:
    """The leader still carries the ``group-replacement`` scheduling gate."""
    gates = (pod.get("spec") or {}).get("schedulingGates") or []
    return any(g.get("name") == c.GROUP_REPLACEMENT_GATE for g in gates)


def _is_leader(pod: Obj) -> bool:
    return labels(pod).get(c.WORKER_INDEX_LABEL) == "0"


def tearing_down_groups(pods: Iterable[Obj]) -> int:
    """Groups whose leader is being deleted or gone while a pod of theirs still exists (upstream's rule:
    pods are grouped by their ``group-index`` label)."""
    alive: dict[str, bool] = {}
    for pod in pods:
        key = labels(pod).get(c.GROUP_INDEX_LABEL) or str((pod.get("metadata") or {}).get("name"))
        alive.setdefault(key, False)
        if _is_leader(pod) and not deleting(pod):
            alive[key] = True
    return sum(1 for up in alive.values() if not up)


@dataclass(frozen=True)
class GateDecision:
    """Whether a gated leader may start scheduling, and why (for the log and the event)."""

    admit: bool
    reason: str
    tearing_down: int = 0
    waiting: int = 0


def replacement_gate(leader: Obj, set_pods: Sequence[Obj], policy: str) -> GateDecision:
    """Whether ``leader`` (gated) may have its gate lifted now.

    ``Immediate``: yes. ``PostTermination``: each of the ``T`` groups being torn down holds back one gated
    leader, the newest ones, so the oldest ``G - T`` of the ``G`` gated leaders go (ties by name).
    """
    if policy == c.GROUP_REPLACEMENT_IMMEDIATE:
        return GateDecision(True, "groupReplacementPolicy Immediate")
    blocking = tearing_down_groups(set_pods)
    if blocking == 0:
        return GateDecision(True, "no group is being torn down")
    waiting = sorted(
        (p for p in set_pods if _is_leader(p) and not deleting(p) and gated(p)),
        key=lambda p: (str((p.get("metadata") or {}).get("creationTimestamp") or ""), _name(p)),
    )
    names = [_name(p) for p in waiting]
    name = _name(leader)
    rank = names.index(name) if name in names else len(names)
    if rank < len(names) - blocking:
        return GateDecision(True, "among the oldest gated leaders", blocking, len(names))
    return GateDecision(
        False, f"waits for {blocking} terminating group(s) to be removed", blocking, len(names)
    )


def without_gate(pod: Obj) -> list[dict[str, Any]]:
    """The pod's scheduling gates without ``group-replacement`` (the value to write)."""
    gates = (pod.get("spec") or {}).get("schedulingGates") or []
    return [dict(g) for g in gates if g.get("name") != c.GROUP_REPLACEMENT_GATE]


# --- the readiness gate ------------------------------------------------------------------------------------


def group_ready_condition(pod: Obj, ready: bool, now: str) -> dict[str, Any] | None:
    """The ``group-ready`` condition to write on the leader, or ``None`` when it already says so."""
    status = "True" if ready else "False"
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == c.GROUP_READY_CONDITION and condition.get("status") == status:
            return None
    return {
        "type": c.GROUP_READY_CONDITION,
        "status": status,
        "reason": REASON_WORKERS_READY if ready else REASON_WORKERS_NOT_READY,
        "lastTransitionTime": now,
    }


def _name(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("name") or "")
