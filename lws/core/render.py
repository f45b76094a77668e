"""``lws render``: every object a LeaderWorkerSet leads to, in a fixed order, without a cluster.

Per set: the defaulted LeaderWorkerSet; its headless Service(s); the leader StatefulSet; then for each
group i: the leader Pod, the worker StatefulSet, the worker Pods; then any plugin objects (set-level, then
per group). Pods are shown as the StatefulSet controller creates them and as the pod webhook admits them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet
from lws.core import desired
from lws.core.pod_mutation import mutate_pod
from lws.core.statefulset_pods import statefulset_pod
from lws.hooks.manager import Hooks
from lws.hooks.types import GroupContext


def render_set(obj: Mapping[str, Any], hooks: Hooks) -> list[dict[str, Any]]:
    """Objects for one defaulted, valid LeaderWorkerSet."""
    lws = LeaderWorkerSet(obj)
    revision = desired.current_revision(lws, hooks)
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
