"""Desired StatefulSets: the leader StatefulSet of a set, and the worker StatefulSet of each group.

Pure builders: they take what is known and return manifests. ``lws render`` and the operator both call
them, so what render prints is what the operator writes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from lws.api import constants as c
from lws.api.intstr import scaled_value
from lws.api.model import LeaderWorkerSet
from lws.core.meta import lws_owner, owner_reference, propagated

_VCT_SPEC_FIELDS = ("accessModes", "storageClassName", "volumeMode")


def leader_statefulset(
    lws: LeaderWorkerSet,
    *,
    revision: str,
    replicas: int,
    partition: int,
    pod_annotations: Mapping[str, str],
) -> dict[str, Any]:
    """The leader StatefulSet ``<lws>``: one leader pod per group, rolled by partition.

    :param revision: the current revision key, stamped on the StatefulSet and its pod template.
    :param replicas: leader replicas to run (``spec.replicas``, more during a surge).
    :param partition: StatefulSet partition: leader ordinals below it keep their revision.
    :param pod_annotations: LWS annotations that plugins propagate to the pod templates.
    """
    template = leader_pod_template(lws, revision, leader_template_annotations(lws, pod_annotations))
    unavailable = scaled_value(lws.max_unavailable, lws.replicas, round_up=False)
    surge = min(scaled_value(lws.max_surge, lws.replicas, round_up=True), lws.replicas)
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": leader_selector(lws),
        "serviceName": lws.name,
        "podManagementPolicy": "Parallel",
        "template": template,
        "updateStrategy": {
            "type": c.ROLLING_UPDATE,
            "rollingUpdate": {"partition": partition, "maxUnavailable": max(1, unavailable + surge)},
        },
    }
    _add_volume_claims(spec, lws)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": leader_metadata(lws, revision),
        "spec": spec,
    }


def leader_metadata(lws: LeaderWorkerSet, revision: str) -> dict[str, Any]:
    """The metadata of the object that makes a set's leader pods (the leader StatefulSet, or with
    ``groupIdentity: Hash`` the leader Deployment): named after the set, owned by it, with its labels and
    annotations propagated and the revision, leader role and replicas stamped."""
    return {
        "name": lws.name,
        "namespace": lws.namespace,
        "labels": propagated(
            lws.labels, {c.SET_NAME_LABEL: lws.name, c.REVISION_KEY: revision, c.ROLE_LABEL: c.ROLE_LEADER}
        ),
        "annotations": propagated(lws.annotations, {c.REPLICAS_ANNOTATION: str(lws.replicas)}),
        "ownerReferences": [lws_owner(lws)],
    }


def leader_selector(lws: LeaderWorkerSet) -> dict[str, Any]:
    """What the object that makes the leader pods selects them by: the set's name, worker index 0."""
    return {"matchLabels": {c.SET_NAME_LABEL: lws.name, c.WORKER_INDEX_LABEL: "0"}}


def leader_pod_template(
    lws: LeaderWorkerSet, revision: str, annotations: Mapping[str, str]
) -> dict[str, Any]:
    """The leader pod template of the set at ``revision``, with ``annotations``."""
    return pod_template(
        lws.leader_template,
        labels={c.WORKER_INDEX_LABEL: "0", c.SET_NAME_LABEL: lws.name, c.REVISION_KEY: revision},
        annotations=annotations,
    )


def worker_statefulset(
    lws: LeaderWorkerSet,
    *,
    group_index: int,
    revision: str,
    group_key: str,
    leader_uid: str | None,
    pod_annotations: Mapping[str, str],
    live_metadata: LeaderWorkerSet | None = None,
) -> dict[str, Any]:
    """The worker StatefulSet ``<lws>-<i>`` of one group, owned by its leader pod.

    :param lws: the LeaderWorkerSet *as of the group's revision* (template, size, network config).
    :param revision: the leader pod's revision key.
    :param group_key: the leader pod's ``group-key`` label.
    :param leader_uid: the leader pod's uid, for the owner reference (``None`` at render time).
    :param pod_annotations: propagated annotations recorded by the group's revision.
    :param live_metadata: the live LeaderWorkerSet, whose labels and annotations go on the StatefulSet's
        own metadata (upstream #963); defaults to ``lws``.
    """
    sts = group_worker_statefulset(
        lws,
        leader_name=lws.leader_pod_name(group_index),
        group_label=str(group_index),
        group_key=group_key,
        service_name=lws.subdomain_for(group_index),
        revision=revision,
        leader_uid=leader_uid,
        pod_annotations=pod_annotations,
        live_metadata=live_metadata,
    )
    _add_volume_claims(sts["spec"], lws)
    return sts


def group_worker_statefulset(
    lws: LeaderWorkerSet,
    *,
    leader_name: str,
    group_label: str,
    group_key: str,
    service_name: str,
    revision: str,
    leader_uid: str | None,
    pod_annotations: Mapping[str, str],
    extra_annotations: Mapping[str, str] | None = None,
    live_metadata: LeaderWorkerSet | None = None,
) -> dict[str, Any]:
    """A group's worker StatefulSet, named after its leader pod and owned by it, whatever identifies the
    group: its ordinal (:func:`worker_statefulset`) or its Hash key (``lws.core.hash_identity``).

    :param group_label: the ``group-index`` label value the workers are selected by.
    :param service_name: the headless Service the workers' host names resolve in.
    :param extra_annotations: template annotations after the size and leader name, before the propagated
        and subgroup ones.
    """
    meta_source = live_metadata or lws
    selector = {
        c.GROUP_INDEX_LABEL: group_label,
        c.SET_NAME_LABEL: lws.name,
        c.GROUP_UNIQUE_HASH_LABEL: group_key,
    }
    annotations: dict[str, str] = {
        c.SIZE_ANNOTATION: str(lws.size),
        c.LEADER_POD_NAME_ANNOTATION: leader_name,
        **(extra_annotations or {}),
    }
    annotations.update(pod_annotations)
    annotations.update(subgroup_annotations(lws, leader=False))
    template = pod_template(
        lws.worker_template, labels={**selector, c.REVISION_KEY: revision}, annotations=annotations
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {
            "name": leader_name,
            "namespace": lws.namespace,
            "labels": propagated(
                meta_source.labels, {**selector, c.REVISION_KEY: revision, c.ROLE_LABEL: c.ROLE_WORKER}
            ),
            "annotations": propagated(meta_source.annotations, {}),
            "ownerReferences": [owner_reference("v1", "Pod", leader_name, leader_uid)],
        },
        "spec": {
            "replicas": lws.size - 1,
            "ordinals": {"start": 1},
            "selector": {"matchLabels": dict(selector)},
            "serviceName": service_name,
            "podManagementPolicy": "Parallel",
            "template": template,
        },
    }


def leader_template_annotations(lws: LeaderWorkerSet, pod_annotations: Mapping[str, str]) -> dict[str, str]:
    """The annotations of a leader pod template (size, propagated ones, subgroup policy, subdomain policy)."""
    annotations = {c.SIZE_ANNOTATION: str(lws.size)}
    annotations.update(pod_annotations)
    annotations.update(subgroup_annotations(lws, leader=True))
    if lws.subdomain_policy == c.SUBDOMAIN_UNIQUE_PER_REPLICA:
        annotations[c.SUBDOMAIN_POLICY_ANNOTATION] = c.SUBDOMAIN_UNIQUE_PER_REPLICA
    return annotations


def subgroup_annotations(lws: LeaderWorkerSet, *, leader: bool) -> dict[str, str]:
    """The subgroup size and type annotations pod admission reads (none without a subGroupPolicy)."""
    if lws.subgroup_policy is None or lws.subgroup_size is None:
        return {}
    out = {c.SUBGROUP_SIZE_ANNOTATION: str(lws.subgroup_size)}
    # Upstream always writes the type on the leader; on workers only when the type is set, which after
    # defaulting it always is.
    if leader or lws.subgroup_policy.get("subGroupPolicyType") is not None:
        out[c.SUBGROUP_POLICY_TYPE_ANNOTATION] = str(lws.subgroup_type)
    return out


def pod_template(
    source: Mapping[str, Any], *, labels: Mapping[str, str], annotations: Mapping[str, str]
) -> dict[str, Any]:
    """A copy of the set's pod template with our labels and annotations added (ours win)."""
    template = copy.deepcopy(dict(source))
    metadata = dict(template.get("metadata") or {})
    metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
    metadata["annotations"] = {**(metadata.get("annotations") or {}), **annotations}
    template["metadata"] = metadata
    template.setdefault("spec", {})
    return template


def _add_volume_claims(spec: dict[str, Any], lws: LeaderWorkerSet) -> None:
    claims = lws.volume_claim_templates
    if claims:
        spec["volumeClaimTemplates"] = [_claim(vct) for vct in claims]
    if lws.pvc_retention_policy is not None:
        spec["persistentVolumeClaimRetentionPolicy"] = copy.deepcopy(dict(lws.pvc_retention_policy))


def _claim(vct: Mapping[str, Any]) -> dict[str, Any]:
    """Copy only what upstream copies: name, accessModes, storageClassName, volumeMode, resources."""
    source = vct.get("spec") or {}
    spec: dict[str, Any] = {k: copy.deepcopy(source[k]) for k in _VCT_SPEC_FIELDS if k in source}
    resources = source.get("resources") or {}
    kept = {k: copy.deepcopy(resources[k]) for k in ("requests", "limits") if k in resources}
    if kept:
        spec["resources"] = kept
    return {"metadata": {"name": (vct.get("metadata") or {}).get("name")}, "spec": spec}
