"""Reading the cluster's objects the way upstream's controllers read them: pure functions over dicts.

Labels, revision keys, ownership, deletion and StatefulSet readiness. Pod readiness is Kubernetes' own
(:mod:`lws.k8s.pods`); how a whole group is seen by the rollout and status passes is :mod:`lws.core.groups`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.api import constants as c

Obj = Mapping[str, Any]


def labels(obj: Obj | None) -> Mapping[str, str]:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def revision_of(obj: Obj | None) -> str:
    """The ``template-revision-hash`` label ("" when absent)."""
    return str(labels(obj).get(c.REVISION_KEY, ""))


def deleting(obj: Obj | None) -> bool:
    return bool(((obj or {}).get("metadata") or {}).get("deletionTimestamp"))


def uid_of(obj: Obj | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("uid") or "")


def controller_of(obj: Obj | None) -> Obj | None:
    """The owner reference with ``controller: true``."""
    for ref in ((obj or {}).get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def controlled_by(obj: Obj | None, uid: str) -> bool:
    owner = controller_of(obj)
    return owner is not None and str(owner.get("uid")) == uid


def statefulset_ready(sts: Obj | None) -> bool:
    """Upstream's ``StatefulsetReady``: all replicas available and no rollout in progress."""
    if sts is None:
        return False
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    replicas = spec.get("replicas")
    replicas = 1 if replicas is None else int(replicas)
    return replicas == int(status.get("availableReplicas") or 0) and status.get(
        "currentRevision"
    ) == status.get("updateRevision")


def is_leader_pod(pod: Obj | None) -> bool:
    """A group's leader pod: worker index 0."""
    return labels(pod).get(c.WORKER_INDEX_LABEL) == "0"


def group_index_of(pod: Obj) -> int | None:
    value = labels(pod).get(c.GROUP_INDEX_LABEL)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
