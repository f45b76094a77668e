"""What the pod admission webhook does to a group pod, as upstream's does it, plus the plugins' share.

Order (as upstream): group labels and subdomain; subgroup labels; plugin mutations (placement, gang
scheduling, accelerators, inference wiring); finally the three ``LWS_*`` variables, inserted first in every
container and init container so that user env can refer to them with ``$(LWS_LEADER_ADDRESS)``.

Everything comes from the pod itself (labels and annotations the operator stamped on the templates), so
the webhook needs no lookups and ``lws render`` runs the same code on the pods it prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.api import constants as c
from lws.core import hash_identity
from lws.core.keys import (
    group_key,
    leader_subgroup_index,
    split_ordinal,
    subgroup_key,
    worker_subgroup_index,
)
from lws.hooks.manager import Hooks
from lws.hooks.types import PodContext
from lws.k8s.patch import json_clone


class PodAdmissionError(ValueError):
    """The pod cannot be admitted as a group pod; the message says why."""


def is_group_pod(pod: Mapping[str, Any]) -> bool:
    return c.SET_NAME_LABEL in ((pod.get("metadata") or {}).get("labels") or {})


def mutate_pod(pod: Mapping[str, Any], *, namespace: str, hooks: Hooks) -> dict[str, Any]:
    """Return the admitted form of a group pod (a new object; the input is not changed).

    :param namespace: the namespace of the admission request (the pod may not carry one yet).
    :raises PodAdmissionError: when the pod lacks what every group pod has (size annotation, ordinal).
    """
    out: dict[str, Any] = json_clone(dict(pod))
    if not is_group_pod(out):
        return out
    annotations = (out.get("metadata") or {}).get("annotations") or {}
    if annotations.get(c.GROUP_IDENTITY_ANNOTATION) == c.GROUP_IDENTITY_HASH:
        ctx = _stamp_hash_identity(out, namespace)
    else:
        ctx = _stamp_identity(out, namespace)
    hooks.mutate_pod(out, ctx)
    _insert_lws_env(out, ctx)
    return out


def _stamp_identity(pod: dict[str, Any], namespace: str) -> PodContext:
    meta = pod.setdefault("metadata", {})
    labels: dict[str, str] = meta.setdefault("labels", {})
    annotations: dict[str, str] = meta.get("annotations") or {}
    spec: dict[str, Any] = pod.setdefault("spec", {})
    name = str(meta.get("name") or "")
    set_name = labels[c.SET_NAME_LABEL]
    size_text = annotations.get(c.SIZE_ANNOTATION)
    if size_text is None:
        raise PodAdmissionError(f"size annotation is unexpectedly missing for pod {name}")
    size = _int(size_text, f"annotation {c.SIZE_ANNOTATION} of pod {name}")
    ordinal = split_ordinal(name)
    if ordinal is None:
        raise PodAdmissionError(
            f"pod name {name!r} has no ordinal suffix: group pods are named <lws>-<i>[-<j>]"
        )
    sg_size_text = annotations.get(c.SUBGROUP_SIZE_ANNOTATION)
    sg_size = _int(sg_size_text, f"annotation {c.SUBGROUP_SIZE_ANNOTATION}") if sg_size_text else None
    sg_type = annotations.get(c.SUBGROUP_POLICY_TYPE_ANNOTATION)

    is_leader = labels.get(c.WORKER_INDEX_LABEL) == "0"
    if is_leader:
        leader_name, worker_index = name, 0
        labels.setdefault(c.GROUP_INDEX_LABEL, str(ordinal[1]))
        if annotations.get(c.SUBDOMAIN_POLICY_ANNOTATION) == c.SUBDOMAIN_UNIQUE_PER_REPLICA:
            spec["subdomain"] = name
        labels.setdefault(c.GROUP_UNIQUE_HASH_LABEL, group_key(namespace, name))
        sg_index = leader_subgroup_index(sg_type) if sg_size else None
    else:
        leader_name, worker_index = ordinal
        labels[c.WORKER_INDEX_LABEL] = str(worker_index)
        sg_index = worker_subgroup_index(size, sg_size, worker_index) if sg_size else None
    sg_key: str | None = None
    if sg_index is not None:
        labels.setdefault(c.SUBGROUP_INDEX_LABEL, str(sg_index))
        sg_index = _int(labels[c.SUBGROUP_INDEX_LABEL], f"label {c.SUBGROUP_INDEX_LABEL}")
        sg_key = labels.setdefault(c.SUBGROUP_UNIQUE_HASH_LABEL, subgroup_key(leader_name, sg_index))

    group_index = _int(labels.get(c.GROUP_INDEX_LABEL, ""), f"label {c.GROUP_INDEX_LABEL} of pod {name}")
    subdomain = str(spec.get("subdomain") or "")
    return PodContext(
        namespace=namespace,
        pod_name=name,
        set_name=set_name,
        role="leader" if is_leader else "worker",
        group_index=group_index,
        worker_index=worker_index,
        group_size=size,
        leader_name=leader_name,
        subdomain=subdomain,
        leader_address=f"{set_name}-{group_index}.{subdomain}.{namespace}",
        group_key=labels.get(c.GROUP_UNIQUE_HASH_LABEL, ""),
        annotations=dict(annotations),
        labels=dict(labels),
        subgroup_size=sg_size,
        subgroup_type=sg_type,
        subgroup_index=sg_index,
        subgroup_key=sg_key,
    )


def _stamp_hash_identity(pod: dict[str, Any], namespace: str) -> PodContext:
    """``groupIdentity: Hash``: a leader (a Deployment's pod, not named yet) gets a new group key, its host
    name (also its pod name), subdomain and gates; a worker ``<leader pod>-<j>`` reads its group from its
    template."""
    meta = pod.setdefault("metadata", {})
    labels: dict[str, str] = meta.setdefault("labels", {})
    annotations: dict[str, str] = meta.get("annotations") or {}
    spec: dict[str, Any] = pod.setdefault("spec", {})
    name = str(meta.get("name") or meta.get("generateName") or "")
    set_name = labels[c.SET_NAME_LABEL]
    size_text = annotations.get(c.SIZE_ANNOTATION)
    if size_text is None:
        raise PodAdmissionError(f"size annotation is unexpectedly missing for pod {name}")
    size = _int(size_text, f"annotation {c.SIZE_ANNOTATION} of pod {name}")
    sg_size_text = annotations.get(c.SUBGROUP_SIZE_ANNOTATION)
    sg_size = _int(sg_size_text, f"annotation {c.SUBGROUP_SIZE_ANNOTATION}") if sg_size_text else None
    sg_type = annotations.get(c.SUBGROUP_POLICY_TYPE_ANNOTATION)
    is_leader = labels.get(c.WORKER_INDEX_LABEL) == "0"
    if is_leader:
        key = hash_identity.admit_leader(pod, namespace)
        name = str(meta["name"])  # named at admission, after its host name
        leader_name, worker_index = name, 0
        address = f"{spec['hostname']}.{spec['subdomain']}.{namespace}"
        sg_index = leader_subgroup_index(sg_type) if sg_size else None
    else:
        ordinal = split_ordinal(name)
        key = labels.get(c.GROUP_INDEX_LABEL, "")
        if ordinal is None or not key:
            raise PodAdmissionError(
                f"worker pod {name!r} of a groupIdentity Hash set must be named <leader pod>-<j> and carry "
                f"the {c.GROUP_INDEX_LABEL} label of its worker StatefulSet's template"
            )
        leader_name, worker_index = ordinal
        labels[c.WORKER_INDEX_LABEL] = str(worker_index)
        address = annotations.get(c.LEADER_ADDRESS_ANNOTATION) or ""
        sg_index = worker_subgroup_index(size, sg_size, worker_index) if sg_size else None
    sg_key: str | None = None
    if sg_index is not None:
        # Keyed off the group key: leader pod names are not known at admission.
        labels.setdefault(c.SUBGROUP_INDEX_LABEL, str(sg_index))
        sg_index = _int(labels[c.SUBGROUP_INDEX_LABEL], f"label {c.SUBGROUP_INDEX_LABEL}")
        sg_key = labels.setdefault(c.SUBGROUP_UNIQUE_HASH_LABEL, subgroup_key(key, sg_index))
    return PodContext(
        namespace=namespace,
        pod_name=name,
        set_name=set_name,
        role="leader" if is_leader else "worker",
        group_index=key,
        worker_index=worker_index,
        group_size=size,
        leader_name=leader_name,
        subdomain=str(spec.get("subdomain") or ""),
        leader_address=address,
        group_key=key,
        annotations=dict(annotations),
        labels=dict(labels),
        subgroup_size=sg_size,
        subgroup_type=sg_type,
        subgroup_index=sg_index,
        subgroup_key=sg_key,
    )


def _insert_lws_env(pod: dict[str, Any], ctx: PodContext) -> None:
    ours = [
        {"name": c.LWS_LEADER_ADDRESS, "value": ctx.leader_address},
        {"name": c.LWS_GROUP_SIZE, "value": str(ctx.group_size)},
        {"name": c.LWS_WORKER_INDEX, "value": str(ctx.worker_index)},
    ]
    spec = pod.get("spec") or {}
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            rest = [e for e in container.get("env") or [] if e.get("name") not in c.LWS_ENV_NAMES]
            container["env"] = json_clone(ours) + rest


def _int(text: str | None, what: str) -> int:
    try:
        return int(str(text))
    except ValueError:
        raise PodAdmissionError(f"{what} must be an integer, got {text!r}") from None
