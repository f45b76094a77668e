"""Gang scheduling with the scheduler-plugins Coscheduling plugin (``scheduling.x-k8s.io`` PodGroups).

Opt-in: enable it with ``--enable-plugin coscheduling``, ``plugins.enable: [coscheduling]`` or
``gangSchedulingManagement: {schedulerProvider: coscheduling}``. It needs kubernetes-sigs/scheduler-plugins
installed with the Coscheduling plugin (its ``PodGroup`` CRD and a second scheduler), RBAC for the operator to
create ``podgroups.scheduling.x-k8s.io``, and that scheduler's name in your pod templates' ``schedulerName``
(the plugin does not change it).

For every group the plugin creates (if missing) a ``scheduling.x-k8s.io/v1alpha1`` PodGroup named
``<lws>-<groupIndex>-<revision>``, owned by the group's leader pod, with ``minMember`` (``size``, or ``1``
with ``startupPolicy: LeaderReady``) and ``minResources`` computed as the ``volcano`` plugin does, and labels
every group pod ``scheduling.x-k8s.io/pod-group: <PodGroup name>`` at admission.

Setting (annotation on the LeaderWorkerSet, read when a group's PodGroup is created):

``coscheduling.lws.x-k8s.io/schedule-timeout-seconds``
    The PodGroup's ``scheduleTimeoutSeconds``: how long the scheduler holds a partly placed gang before it
    gives the pods' reservations back. Absent: the scheduler's default.

Example::

    metadata:
      annotations:
        coscheduling.lws.x-k8s.io/schedule-timeout-seconds: "120"
"""

from __future__ import annotations

from typing import Any

from lws.plugin import (
    ExtraObject,
    FieldError,
    GroupContext,
    LeaderWorkerSet,
    PodContext,
    Settings,
    gang,
    hookimpl,
)

LWS_DEFAULT_ENABLED = False

API_VERSION = "scheduling.x-k8s.io/v1alpha1"
POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"

SETTINGS = Settings("coscheduling")
SCHEDULE_TIMEOUT = SETTINGS.integer(
    "schedule-timeout-seconds", minimum=1, help="the PodGroup's scheduleTimeoutSeconds"
)


def pod_group(ctx: GroupContext) -> dict[str, Any]:
    """The scheduler-plugins PodGroup of one group."""
    spec: dict[str, Any] = {
        "minMember": gang.min_member(ctx.lws),
        "minResources": gang.min_resources(ctx.lws),
    }
    timeout = SCHEDULE_TIMEOUT.find(ctx.lws.annotations)
    if timeout is not None:
        spec["scheduleTimeoutSeconds"] = timeout
    return {
        "apiVersion": API_VERSION,
        "kind": "PodGroup",
        "metadata": gang.pod_group_metadata(ctx),
        "spec": spec,
    }


@hookimpl
def lws_mutate_pod(pod: dict[str, Any], ctx: PodContext) -> None:
    """Label the pod with its group's PodGroup, which is how Coscheduling finds the gang."""
    meta = pod.setdefault("metadata", {})
    meta.setdefault("labels", {})[POD_GROUP_LABEL] = gang.pod_group_of_pod(ctx)


@hookimpl
def lws_group_objects(ctx: GroupContext) -> list[ExtraObject]:
    return [ExtraObject(pod_group(ctx), mode="create")]


@hookimpl
def lws_validate(lws: LeaderWorkerSet, old: LeaderWorkerSet | None) -> list[FieldError]:
    return SETTINGS.validate(lws.annotations)
