"""Upstream's exclusive placement: one group per topology domain.

Settings (annotations on the LeaderWorkerSet, as upstream):

* ``leaderworkerset.sigs.k8s.io/exclusive-topology: <node-label-key>``: the leader gets required pod
  affinity to its own group and anti-affinity to every other group (in the namespace) on that key; the
  workers are created only once the leader is scheduled, with a ``nodeSelector`` for the leader's domain.
* ``leaderworkerset.sigs.k8s.io/subgroup-exclusive-topology: <node-label-key>`` (needs ``subGroupPolicy``):
  every member of a subgroup gets the same pair of terms on the subgroup key.

The anti-affinity matches any LWS group in the namespace, as upstream's does (issue #539); the
``placement`` plugin offers a mode that is exclusive within one set only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lws.plugin import FieldError, GroupContext, LeaderWorkerSet, PodContext, WorkerGate, hookimpl
from lws.plugin import constants as c

_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


@hookimpl
def lws_validate(lws: LeaderWorkerSet, old: LeaderWorkerSet | None) -> list[FieldError]:
    """The topology keys must be node label keys, or no pod could ever be placed."""
    errors: list[FieldError] = []
    for annotation in (c.EXCLUSIVE_KEY_ANNOTATION, c.SUBGROUP_EXCLUSIVE_KEY_ANNOTATION):
        value = lws.annotations.get(annotation)
        if value and not _LABEL_KEY.match(value):
            errors.append(
                FieldError(
                    f"metadata.annotations.{annotation}",
                    "must be a node label key such as topology.kubernetes.io/zone ([prefix/]name, name at "
                    "most 63 characters of alphanumerics, '-', '_' or '.')",
                    value=value,
                )
            )
    return errors


@hookimpl
def lws_pod_annotations(lws: LeaderWorkerSet) -> dict[str, str]:
    out: dict[str, str] = {}
    if lws.annotations.get(c.EXCLUSIVE_KEY_ANNOTATION):
        out[c.EXCLUSIVE_KEY_ANNOTATION] = lws.annotations[c.EXCLUSIVE_KEY_ANNOTATION]
    if lws.subgroup_policy is not None and lws.annotations.get(c.SUBGROUP_EXCLUSIVE_KEY_ANNOTATION):
        out[c.SUBGROUP_EXCLUSIVE_KEY_ANNOTATION] = lws.annotations[c.SUBGROUP_EXCLUSIVE_KEY_ANNOTATION]
    return out


@hookimpl
def lws_mutate_pod(pod: dict[str, Any], ctx: PodContext) -> None:
    key = ctx.annotations.get(c.EXCLUSIVE_KEY_ANNOTATION)
    if key and ctx.is_leader:
        add_exclusive_terms(pod, c.GROUP_UNIQUE_HASH_LABEL, ctx.group_key, key)
    sg_key = ctx.annotations.get(c.SUBGROUP_EXCLUSIVE_KEY_ANNOTATION)
    if sg_key and ctx.subgroup_key is not None:
        add_exclusive_terms(pod, c.SUBGROUP_UNIQUE_HASH_LABEL, ctx.subgroup_key, sg_key)


@hookimpl
def lws_workers_gate(ctx: GroupContext) -> WorkerGate | None:
    if ctx.leader_pod is None or not ctx.lws.annotations.get(c.EXCLUSIVE_KEY_ANNOTATION):
        return None
    if not ctx.leader_scheduled:
        return WorkerGate(f"exclusive-topology: waiting for leader pod {ctx.leader_name} to be scheduled")
    if ctx.leader_node_labels is None:
        return WorkerGate(f"exclusive-topology: waiting for the node of leader pod {ctx.leader_name}")
    return None


@hookimpl
def lws_worker_template(template: dict[str, Any], ctx: GroupContext) -> None:
    key = ctx.lws.annotations.get(c.EXCLUSIVE_KEY_ANNOTATION)
    if not key or ctx.leader_node_labels is None:
        return
    value = ctx.leader_node_labels.get(key)
    if value is None:
        node = (ctx.leader_pod or {}).get("spec", {}).get("nodeName")
        raise ValueError(
            f"node {node} of leader pod {ctx.leader_name} has no label {key!r} (exclusive-topology)"
        )
    spec = template.setdefault("spec", {})
    spec["nodeSelector"] = {**(spec.get("nodeSelector") or {}), key: value}


def add_exclusive_terms(pod: dict[str, Any], label: str, value: str, topology_key: str) -> None:
    """Require this pod's domain to hold its own unit (``label=value``) and no other unit.

    Nothing is added when the pod already has both an affinity and an anti-affinity term on
    ``topology_key`` (upstream's check), so user terms are never duplicated.
    """
    affinity = pod.setdefault("spec", {}).setdefault("affinity", {})
    pod_affinity = affinity.setdefault("podAffinity", {})
    anti = affinity.setdefault("podAntiAffinity", {})
    required = pod_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", [])
    required_anti = anti.setdefault("requiredDuringSchedulingIgnoredDuringExecution", [])
    if _has_key(required, topology_key) and _has_key(required_anti, topology_key):
        return
    required.append(
        {
            "labelSelector": {"matchExpressions": [{"key": label, "operator": "In", "values": [value]}]},
            "topologyKey": topology_key,
        }
    )
    required_anti.append(
        {
            "labelSelector": {
                "matchExpressions": [
                    {"key": label, "operator": "Exists"},
                    {"key": label, "operator": "NotIn", "values": [value]},
                ]
            },
            "topologyKey": topology_key,
        }
    )


def _has_key(terms: list[Mapping[str, Any]], topology_key: str) -> bool:
    return any(t.get("topologyKey") == topology_key for t in terms)
