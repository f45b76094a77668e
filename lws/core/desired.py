"""The desired objects of a set and of a group, as the controllers compute them.

One place decides what a LeaderWorkerSet's objects look like; the operator's reconcilers apply these and
``lws render`` prints them, so the two cannot drift apart.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet
from lws.core import hash_identity
from lws.core import revision as rev
from lws.core.applied import with_hash
from lws.core.meta import lws_owner, owner_reference
from lws.core.services import group_service, shared_service
from lws.core.statefulsets import leader_statefulset, worker_statefulset
from lws.core.template_admission import admit_in_template
from lws.hooks.manager import Hooks
from lws.hooks.types import ExtraObject, GroupContext


@dataclass(frozen=True)
class SetRevision:
    """A LeaderWorkerSet's current revision: its payload, key and propagated pod annotations."""

    key: str
    data: dict[str, Any]
    pod_annotations: dict[str, str]


def current_revision(lws: LeaderWorkerSet, hooks: Hooks) -> SetRevision:
    """The revision of the set's spec as it is now, with the annotations plugins propagate."""
    return revision_with(lws, hooks.pod_annotations(lws))


def revision_with(lws: LeaderWorkerSet, pod_annotations: dict[str, str]) -> SetRevision:
    """The revision of the set's spec with these propagated annotations.

    Depends only on ``spec`` (so on ``metadata.generation``) and ``pod_annotations``: callers that see the
    same set often may keep the result under that key.
    """
    data = rev.payload(lws.raw, pod_annotations)
    return SetRevision(key=rev.revision_key(data), data=data, pod_annotations=pod_annotations)


def set_services(lws: LeaderWorkerSet) -> list[dict[str, Any]]:
    """The set-level headless Service (none for ``UniquePerReplica``: those belong to groups)."""
    if lws.subdomain_policy == c.SUBDOMAIN_SHARED:
        return [shared_service(lws)]
    return []


def desired_leader_statefulset(
    lws: LeaderWorkerSet, revision: SetRevision, *, replicas: int, partition: int
) -> dict[str, Any]:
    """The leader StatefulSet, stamped with the hash of its own body (see :mod:`lws.core.applied`)."""
    return with_hash(
        leader_statefulset(
            lws,
            revision=revision.key,
            replicas=replicas,
            partition=partition,
            pod_annotations=revision.pod_annotations,
        )
    )


def desired_leader_deployment(lws: LeaderWorkerSet, revision: SetRevision) -> dict[str, Any]:
    """``groupIdentity: Hash``: the leader Deployment, stamped with the hash of its own body."""
    return with_hash(
        hash_identity.leader_deployment(lws, revision=revision.key, pod_annotations=revision.pod_annotations)
    )


def group_revision_view(lws: LeaderWorkerSet, data: Mapping[str, Any]) -> LeaderWorkerSet:
    """The LeaderWorkerSet as of a group's stored revision (its template, size, network, annotations)."""
    return LeaderWorkerSet(rev.apply_revision(lws.raw, data))


def desired_worker_statefulset(
    ctx: GroupContext,
    hooks: Hooks,
    *,
    group_key: str,
    pod_annotations: Mapping[str, str],
    live: LeaderWorkerSet,
) -> dict[str, Any]:
    """The worker StatefulSet of a group, with the plugins' share (placement next to the leader...).

    With ``groupIdentity: Hash`` it is built from the (admitted) leader pod, ``ctx.leader_pod``."""
    if isinstance(ctx.group_index, str):
        sts = hash_identity.hash_worker_statefulset(
            ctx.lws,
            ctx.leader_pod or {},
            revision=ctx.revision,
            pod_annotations=pod_annotations,
            live_metadata=live,
        )
        hooks.worker_template(sts["spec"]["template"], ctx)
        return sts
    leader_uid = (ctx.leader_pod or {}).get("metadata", {}).get("uid")
    sts = worker_statefulset(
        ctx.lws,
        group_index=ctx.group_index,
        revision=ctx.revision,
        group_key=group_key,
        leader_uid=leader_uid,
        pod_annotations=pod_annotations,
        live_metadata=live,
    )
    hooks.worker_template(sts["spec"]["template"], ctx)
    admit_in_template(sts, hooks)
    return sts


def group_services(
    lws: LeaderWorkerSet,
    group_index: int | str,
    leader_uid: str | None,
    leader: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The group's own headless Service with ``UniquePerReplica`` (with ``groupIdentity: Hash``, built from
    the admitted ``leader`` pod and named after its host name)."""
    if lws.subdomain_policy == c.SUBDOMAIN_UNIQUE_PER_REPLICA:
        if isinstance(group_index, str):
            return [hash_identity.hash_group_service(lws, leader or {})]
        return [group_service(lws, group_index, leader_uid)]
    return []


def extra_group_objects(ctx: GroupContext, hooks: Hooks) -> list[tuple[str, ExtraObject]]:
    """Plugin objects owned by the group's leader pod, labelled and namespaced by the host."""
    leader_meta = (ctx.leader_pod or {}).get("metadata") or {}
    owner = owner_reference("v1", "Pod", ctx.leader_name, leader_meta.get("uid"))
    labels = {c.SET_NAME_LABEL: ctx.lws.name, c.GROUP_INDEX_LABEL: str(ctx.group_index)}
    return [(p, _owned(o, ctx.lws.namespace, owner, labels)) for p, o in hooks.group_objects(ctx)]


def extra_set_objects(lws: LeaderWorkerSet, hooks: Hooks) -> list[tuple[str, ExtraObject]]:
    labels = {c.SET_NAME_LABEL: lws.name}
    return [(p, _owned(o, lws.namespace, lws_owner(lws), labels)) for p, o in hooks.set_objects(lws)]


def _owned(obj: ExtraObject, namespace: str, owner: dict[str, Any], labels: Mapping[str, str]) -> ExtraObject:
    manifest = copy.deepcopy(dict(obj.manifest))
    meta = manifest.setdefault("metadata", {})
    meta["namespace"] = namespace
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    meta["ownerReferences"] = [owner]
    if obj.mode == "apply":
        # Stamped with the hash of the body, so a field the plugin stops setting still triggers an apply.
        manifest = with_hash(manifest)
    return ExtraObject(manifest=manifest, mode=obj.mode)
