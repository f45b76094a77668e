"""Revisions: what part of a LeaderWorkerSet defines its groups, and the key that names it.

A revision captures everything that shapes a group's pods: ``spec.leaderWorkerTemplate``,
``spec.networkConfig`` (a missing one counts as ``{subdomainPolicy: Shared}``) and the LWS annotations that
plugins propagate to the pod templates. Changing any of them rolls the groups; ``replicas``,
``rolloutStrategy`` and ``startupPolicy`` do not.

The stored payload (ControllerRevision ``data``) has upstream's shape, so either controller can read the
other's revisions: ``{"spec": {"leaderWorkerTemplate": {..., "$patch": "replace"}, "networkConfig": {...,
"$patch": "replace"}}}``, plus our ``podTemplateAnnotations`` key when plugins propagate annotations.

The key (label ``template-revision-hash``) is the FNV-1 32-bit hash of the payload's canonical JSON (keys
sorted, no whitespace, nulls dropped), encoded with Kubernetes' SafeEncodeString alphabet, as upstream does.
It depends only on the spec: the same spec gives the same key in every version of this program.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from lws.api import constants as c
from lws.api.defaulting import default_template
from lws.k8s.patch import json_clone

_PATCH = "$patch"
_ANNOTATIONS_KEY = "podTemplateAnnotations"
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619


def payload(lws: Mapping[str, Any], pod_annotations: Mapping[str, str]) -> dict[str, Any]:
    """The revision payload of a (defaulted) LeaderWorkerSet."""
    spec = lws.get("spec") or {}
    template = copy.deepcopy(dict(spec.get("leaderWorkerTemplate") or {}))
    network = copy.deepcopy(dict(spec.get("networkConfig") or {"subdomainPolicy": c.SUBDOMAIN_SHARED}))
    template[_PATCH] = "replace"
    network[_PATCH] = "replace"
    data: dict[str, Any] = {"spec": {"leaderWorkerTemplate": template, "networkConfig": network}}
    if pod_annotations:
        data[_ANNOTATIONS_KEY] = dict(sorted(pod_annotations.items()))
    return data


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, compact separators, nulls dropped: stable bytes for equal content."""
    return json.dumps(_drop_nulls(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def revision_key(data: Mapping[str, Any]) -> str:
    """The ``template-revision-hash`` of a payload."""
    return safe_encode(str(fnv1_32(canonical_json(data))))


def fnv1_32(data: bytes) -> int:
    """FNV-1 (not FNV-1a), 32 bits, as Go's ``hash/fnv.New32``."""
    h = _FNV_OFFSET
    for byte in data:
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
        h ^= byte
    return h


def safe_encode(text: str) -> str:
    """Kubernetes' ``rand.SafeEncodeString``: map each character into a vowel-free alphabet."""
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in text)


def apply_revision(lws: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The LeaderWorkerSet as of a stored revision: live metadata and other spec, revision's templates.

    A payload without ``podTemplateAnnotations`` (an upstream-created revision, or one with none) leaves
    the live annotations as they are.
    """
    result: dict[str, Any] = json_clone(dict(lws))
    spec = result.setdefault("spec", {})
    stored = data.get("spec") or {}
    for field in ("leaderWorkerTemplate", "networkConfig"):
        if field in stored:
            value = json_clone(dict(stored[field]))
            value.pop(_PATCH, None)
            spec[field] = value
    if _ANNOTATIONS_KEY in data:
        metadata = result.setdefault("metadata", {})
        annotations = dict(metadata.get("annotations") or {})
        annotations.update(data[_ANNOTATIONS_KEY])
        metadata["annotations"] = annotations
    return result


def stored_pod_annotations(data: Mapping[str, Any]) -> dict[str, str] | None:
    """The propagated annotations a revision recorded, or ``None`` if it recorded none (e.g. upstream's)."""
    value = data.get(_ANNOTATIONS_KEY)
    return None if value is None else dict(value)


def same_revision(current: Mapping[str, Any], stored: Mapping[str, Any]) -> bool:
    """Whether a stored payload describes the same groups as the current one.

    Compares canonical bytes, so a revision written by another controller (or an older version of this one)
    with different key order, explicit nulls or CRD defaults left out still matches. A stored payload without
    ``podTemplateAnnotations`` is compared on the spec alone.
    """
    if _ANNOTATIONS_KEY not in stored:
        current = {k: v for k, v in current.items() if k != _ANNOTATIONS_KEY}
    return canonical_json(_normalised(current)) == canonical_json(_normalised(stored))


def _normalised(payload: Mapping[str, Any]) -> Any:
    """The payload without ``$patch`` markers and with the CRD's template defaults filled in.

    A revision written before the CRD declared a default (the pod schema's ``protocol: TCP`` on a port,
    say) describes the same groups as the template the API server now returns with that default in it:
    without this, upgrading the CRD would roll every group."""
    stripped = _strip_patch(payload)
    spec = stripped.get("spec") if isinstance(stripped, Mapping) else None
    if isinstance(spec, Mapping) and isinstance(spec.get("leaderWorkerTemplate"), Mapping):
        template = default_template(spec["leaderWorkerTemplate"])
        return {**stripped, "spec": {**spec, "leaderWorkerTemplate": template}}
    return stripped


def _strip_patch(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _strip_patch(v) for k, v in obj.items() if k != _PATCH}
    if isinstance(obj, list):
        return [_strip_patch(v) for v in obj]
    return obj


def _drop_nulls(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _drop_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_nulls(v) for v in obj]
    return obj
