"""Gang scheduling with Volcano, as upstream's ``gangSchedulingManagement.schedulerProvider: volcano``.

Opt-in: enable it with ``--enable-plugin volcano``, ``plugins.enable: [volcano]`` or upstream's
configuration ``gangSchedulingManagement: {schedulerProvider: volcano}``. It needs Volcano installed (its
``PodGroup`` CRD and scheduler), RBAC for the operator to create ``podgroups.scheduling.volcano.sh``, and
``schedulerName: volcano`` in your pod templates (the plugin does not change the scheduler).

For every group the plugin creates (if missing) a ``scheduling.volcano.sh/v1beta1`` PodGroup named
``<lws>-<groupIndex>-<revision>``, owned by the group's leader pod, with:

* ``minMember``: ``size``; ``1`` with ``startupPolicy: LeaderReady`` (workers only exist once the leader is
  Ready, so a gang of ``size`` could never be complete);
* ``minResources``: the leader pod's requests plus ``size - 1`` worker pods' requests, by Kubernetes' pod
  request rules (the larger of the init containers' peak and the steady state, sidecars counted with both,
  plus overhead; a resource given only as a limit counts as requested, as the API server defaults it);
* ``queue``: the LeaderWorkerSet's ``scheduling.volcano.sh/queue-name`` annotation, when set;
* every ``volcano.sh/*`` annotation of the LeaderWorkerSet (e.g. ``volcano.sh/sla-waiting-time``);
* labels ``leaderworkerset.sigs.k8s.io/name``, ``group-index`` and ``template-revision-hash``.

Every group pod is annotated ``scheduling.k8s.io/group-name: <PodGroup name>`` at admission. Because the name
carries the revision, a rolling update or a surge group gets a fresh PodGroup, and old ones are collected
with their leader pod.

Differences from upstream, on purpose: ``minResources`` is computed from the group's own revision (upstream
reads the live LeaderWorkerSet, which during a rollout may describe other pods), and limits-only resources
(typically ``nvidia.com/gpu``) are counted (upstream leaves them out, so the gang ignores the GPUs).
"""

from __future__ import annotations

from typing import Any

from lws.plugin import (
    ExtraObject,
    FieldError,
    GroupContext,
    LeaderWorkerSet,
    PodContext,
    annotation_path,
    gang,
    hookimpl,
)
from lws.plugin import constants as c
from lws.plugin.names import is_dns1123_subdomain

LWS_DEFAULT_ENABLED = False

API_VERSION = "scheduling.volcano.sh/v1beta1"
COPIED_PREFIX = "volcano.sh/"


def pod_group(ctx: GroupContext) -> dict[str, Any]:
    """The Volcano PodGroup of one group."""
    annotations = {k: v for k, v in ctx.lws.annotations.items() if k.startswith(COPIED_PREFIX)}
    spec: dict[str, Any] = {
        "minMember": gang.min_member(ctx.lws),
        "minResources": gang.min_resources(ctx.lws),
    }
    queue = ctx.lws.annotations.get(c.VOLCANO_QUEUE_ANNOTATION)
    if queue:
        spec["queue"] = queue
    return {
        "apiVersion": API_VERSION,
        "kind": "PodGroup",
        "metadata": gang.pod_group_metadata(ctx, annotations),
        "spec": spec,
    }


@hookimpl
def lws_mutate_pod(pod: dict[str, Any], ctx: PodContext) -> None:
    """Tie the pod to its group's PodGroup."""
    meta = pod.setdefault("metadata", {})
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        c.POD_GROUP_NAME_ANNOTATION: gang.pod_group_of_pod(ctx),
    }


@hookimpl
def lws_group_objects(ctx: GroupContext) -> list[ExtraObject]:
    return [ExtraObject(pod_group(ctx), mode="create")]


@hookimpl
def lws_validate(lws: LeaderWorkerSet, old: LeaderWorkerSet | None) -> list[FieldError]:
    """The queue must be a name a Volcano Queue can have."""
    queue = lws.annotations.get(c.VOLCANO_QUEUE_ANNOTATION)
    if queue is None:
        return []
    return [
        FieldError(
            annotation_path(c.VOLCANO_QUEUE_ANNOTATION),
            f"must be a Volcano Queue name: {problem}",
            value=queue,
        )
        for problem in is_dns1123_subdomain(queue)
    ]
