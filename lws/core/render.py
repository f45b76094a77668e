"""``lws render``: every object a LeaderWorkerSet leads to, in a fixed order, without a cluster.

Per set: the defaulted LeaderWorkerSet; its headless Service(s); the leader StatefulSet; then for each
group i: the leader Pod, the worker StatefulSet, the worker Pods; then any plugin objects (set-level, then
per group). Pods are shown as the StatefulSet controller creates them and as the pod webhook admits them.
With ``groupIdentity: Hash`` the leader Deployment takes the leader StatefulSet's place (see
:func:`_render_hashed`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet
from lws.core import desired, hash_identity
from lws.core.pod_mutation import mutate_pod
from lws.core.statefulset_pods import deployment_pod, statefulset_pod
from lws.hooks.manager import Hooks
from lws.hooks.types import GroupContext


def render_set(obj: Mapping[str, Any], hooks: Hooks) -> list[dict[str, Any]]:
    """Objects for one defaulted, valid LeaderWorkerSet."""
    lws = LeaderWorkerSet(obj)
    revision = desired.current_revision(lws, hooks)
    if lws.hashed:
        return _render_hashed(lws, revision, hooks)
    leader_sts = desired.desired_leader_statefulset(lws, revision, replicas=lws.replicas, partition=0)

    services = desired.set_services(lws)
    groups: list[dict[str, Any]] = []
    extras = [dict(o.manifest) for _, o in desired.extra_set_objects(lws, hooks)]
    for index in range(lws.replicas):
        services += desired.group_services(lws, index, None)
        leader = mutate_pod(statefulset_pod(leader_sts, index), namespace=lws.namespace, hooks=hooks)
        groups.append(leader)
        ctx = GroupContext(lws=lws, group_index=index, revision=revision.key)
        extras += [dict(o.manifest) for _, o in desired.extra_group_objects(ctx, hooks)]
        if lws.size == 1:
            continue
        labels = leader["metadata"]["labels"]
        worker_sts = desired.desired_worker_statefulset(
            ctx,
            hooks,
            group_key=labels[c.GROUP_UNIQUE_HASH_LABEL],
            pod_annotations=revision.pod_annotations,
            live=lws,
        )
        groups.append(worker_sts)
        for ordinal in range(1, lws.size):
            pod = statefulset_pod(worker_sts, ordinal)
            groups.append(mutate_pod(pod, namespace=lws.namespace, hooks=hooks))
    return [dict(obj), *services, leader_sts, *groups, *extras]


def _render_hashed(lws: LeaderWorkerSet, revision: desired.SetRevision, hooks: Hooks) -> list[dict[str, Any]]:
    """``groupIdentity: Hash``: the leader Deployment, then each group as admission stamps it.

    Group keys (and so leader pod names) are drawn at random in a cluster; render shows stand-ins of the
    same shape (the key of group i is derived from ``i``), with every gate as admission adds it: the
    operator lifts the ``group-replacement`` scheduling gate and sets the ``group-ready`` condition.
    """
    deployment = desired.desired_leader_deployment(lws, revision)
    services = desired.set_services(lws)
    groups: list[dict[str, Any]] = []
    extras = [dict(o.manifest) for _, o in desired.extra_set_objects(lws, hooks)]
    for index in range(lws.replicas):
        pod = deployment_pod(deployment)
        pod["metadata"]["labels"][c.GROUP_INDEX_LABEL] = hash_identity.new_group_key(
            lws.namespace, f"{index:016d}"
        )
        leader = mutate_pod(pod, namespace=lws.namespace, hooks=hooks)
        key = leader["metadata"]["labels"][c.GROUP_INDEX_LABEL]
        services += desired.group_services(lws, key, None, leader)
        groups.append(leader)
        ctx = GroupContext(lws=lws, group_index=key, revision=revision.key, leader_pod=leader)
        extras += [dict(o.manifest) for _, o in desired.extra_group_objects(ctx, hooks)]
        if lws.size == 1:
            continue
        worker_sts = desired.desired_worker_statefulset(
            ctx, hooks, group_key=key, pod_annotations=revision.pod_annotations, live=lws
        )
        groups.append(worker_sts)
        for ordinal in range(1, lws.size):
            groups.append(
                mutate_pod(statefulset_pod(worker_sts, ordinal), namespace=lws.namespace, hooks=hooks)
            )
    return [dict(lws.raw), *services, deployment, *groups, *extras]
