"""Pods as the StatefulSet controller creates them from a template, for ``lws render``.

The operator never builds pods itself: the cluster's StatefulSet controller does. Render shows the pods
anyway so that users see names, hostnames, env and placement before applying. The one value that cannot
be known in advance is the ``controller-revision-hash`` label: Kubernetes hashes its own Go encoding of the
template. Render computes a stand-in with the same shape (``<sts>-<hash>``, at most 10 hash characters).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from lws.api import constants as c
from lws.core.meta import owner_reference
from lws.core.revision import canonical_json, safe_encode
from lws.k8s.patch import json_clone


def template_hash(statefulset: Mapping[str, Any]) -> str:
    """A stable stand-in for the StatefulSet controller's revision hash of the pod template: 32 bits,
    safe-encoded, as Kubernetes' (a CRC in C, not an FNV loop in Python: the operator computes it twice per
    group it builds)."""
    return safe_encode(str(zlib.crc32(canonical_json(statefulset["spec"]["template"]))))


def statefulset_pod(statefulset: Mapping[str, Any], ordinal: int) -> dict[str, Any]:
    """The pod ``<sts>-<ordinal>`` as created by the StatefulSet controller, before admission."""
    meta = statefulset["metadata"]
    spec = statefulset["spec"]
    template = json_clone(dict(spec["template"]))
    sts_name = str(meta["name"])
    pod_name = f"{sts_name}-{ordinal}"
    tmeta = template.get("metadata") or {}
    labels = dict(tmeta.get("labels") or {})
    labels[c.STS_REVISION_LABEL] = f"{sts_name}-{template_hash(statefulset)}"
    labels[c.STS_POD_NAME_LABEL] = pod_name
    labels[c.STS_POD_INDEX_LABEL] = str(ordinal)
    metadata: dict[str, Any] = {"name": pod_name, "namespace": meta.get("namespace"), "labels": labels}
    if tmeta.get("annotations"):
        metadata["annotations"] = dict(tmeta["annotations"])
    metadata["ownerReferences"] = [
        owner_reference("apps/v1", "StatefulSet", sts_name, (meta.get("uid") or None))
    ]
    pod_spec = dict(template.get("spec") or {})
    pod_spec["hostname"] = pod_name
    if spec.get("serviceName"):
        pod_spec["subdomain"] = spec["serviceName"]
    _attach_claims(pod_spec, spec.get("volumeClaimTemplates") or [], pod_name)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def _attach_claims(pod_spec: dict[str, Any], claims: list[Mapping[str, Any]], pod_name: str) -> None:
    """Each claim template becomes a volume ``<claim>`` backed by the PVC ``<claim>-<pod>``.

    As the StatefulSet controller does: claim volumes first, then the template's other volumes; a template
    volume with a claim's name is replaced.
    """
    if not claims:
        return
    names = [str((claim.get("metadata") or {}).get("name")) for claim in claims]
    volumes: list[Any] = [
        {"name": name, "persistentVolumeClaim": {"claimName": f"{name}-{pod_name}"}} for name in names
    ]
    volumes += [v for v in pod_spec.get("volumes") or [] if v.get("name") not in names]
    pod_spec["volumes"] = volumes


def deployment_pod(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """A leader pod of a ``groupIdentity: Hash`` set, as its Deployment's ReplicaSet creates it.

    The ReplicaSet is ``<deployment>-<pod-template-hash>`` (render uses :func:`template_hash` for the hash)
    and asks for a generated name, ``<replicaset>-``; pod admission names the pod (see
    :func:`lws.core.hash_identity.admit_leader`).
    """
    meta = deployment["metadata"]
    template = json_clone(dict(deployment["spec"]["template"]))
    pod_hash = template_hash(deployment)
    replica_set = f"{meta['name']}-{pod_hash}"
    tmeta = template.get("metadata") or {}
    labels = {**(tmeta.get("labels") or {}), "pod-template-hash": pod_hash}
    metadata: dict[str, Any] = {
        "generateName": f"{replica_set}-",
        "namespace": meta.get("namespace"),
        "labels": labels,
    }
    if tmeta.get("annotations"):
        metadata["annotations"] = dict(tmeta["annotations"])
    metadata["ownerReferences"] = [owner_reference("apps/v1", "ReplicaSet", replica_set, None)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": dict(template.get("spec") or {})}
