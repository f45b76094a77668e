"""Small, shared pieces of object metadata: owner references and the metadata we propagate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet

# Client-side bookkeeping that must not be copied onto derived objects (it can be hundreds of KiB and
# describes the LeaderWorkerSet, not the StatefulSet).
_NOT_PROPAGATED = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})


def owner_reference(api_version: str, kind: str, name: str, uid: str | None) -> dict[str, Any]:
    """A controller owner reference. ``uid`` is left out when unknown (``lws render``, before creation)."""
    ref: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "name": name}
    if uid:
        ref["uid"] = uid
    ref["controller"] = True
    ref["blockOwnerDeletion"] = True
    return ref


def lws_owner(lws: LeaderWorkerSet) -> dict[str, Any]:
    return owner_reference(c.API_VERSION, c.KIND, lws.name, lws.uid)


def pod_owner(pod: Mapping[str, Any]) -> dict[str, Any]:
    meta = pod.get("metadata") or {}
    return owner_reference("v1", "Pod", str(meta.get("name", "")), meta.get("uid"))


def propagated(values: Mapping[str, str], ours: Mapping[str, str]) -> dict[str, str]:
    """The LWS's labels or annotations for a child's own metadata; our keys win on conflicts (as upstream)."""
    merged = {k: v for k, v in values.items() if k not in _NOT_PROPAGATED}
    merged.update(ours)
    return merged
