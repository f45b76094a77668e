"""What every gang-scheduling plugin computes for a group: the PodGroup's name, size and resources.

Upstream's rules (its Volcano provider), shared by the built-in ``volcano`` and ``coscheduling`` plugins
and open to any other gang scheduler's plugin.
"""

from __future__ import annotations

from typing import Any

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet
from lws.hooks.types import GroupContext, PodContext
from lws.plugin import resources as requests

__all__ = ["min_member", "min_resources", "pod_group_metadata", "pod_group_name", "pod_group_of_pod"]


def pod_group_name(set_name: str, group_index: int | str, revision: str) -> str:
    """``<lws>-<groupIndex>-<revisionKey>``, upstream's name: a rollout gets fresh PodGroups."""
    return f"{set_name}-{group_index}-{revision}"


def pod_group_of_pod(ctx: PodContext) -> str:
    """The PodGroup a group pod belongs to, from its labels (the webhook sees only the pod)."""
    revision = ctx.labels.get(c.REVISION_KEY)
    if not revision:
        raise ValueError(
            f"pod {ctx.pod_name} has no {c.REVISION_KEY} label, so its PodGroup cannot be named; group pods "
            "get it from their StatefulSet template"
        )
    return pod_group_name(ctx.set_name, ctx.group_index, revision)


def min_member(lws: LeaderWorkerSet) -> int:
    """All ``size`` pods at once, except with ``LeaderReady``, whose workers only exist once the leader runs
    (a gang of ``size`` would wait forever for them)."""
    return 1 if lws.startup_policy == c.STARTUP_LEADER_READY else lws.size


def min_resources(lws: LeaderWorkerSet) -> dict[str, str]:
    """The leader pod's requests plus ``size - 1`` worker pods' requests, as quantities."""
    leader = requests.pod_requests(
        lws.leader_template.get("spec") or {}, "spec.leaderWorkerTemplate.leaderTemplate.spec"
    )
    worker = requests.pod_requests(
        lws.worker_template.get("spec") or {}, "spec.leaderWorkerTemplate.workerTemplate.spec"
    )
    return requests.format_resources(requests.add(leader, requests.scale(worker, lws.size - 1)))


def pod_group_metadata(ctx: GroupContext, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """Name and revision label (the host adds the set-name and group-index labels and the owner)."""
    meta: dict[str, Any] = {
        "name": pod_group_name(ctx.lws.name, ctx.group_index, ctx.revision),
        "labels": {c.REVISION_KEY: ctx.revision},
    }
    if annotations:
        meta["annotations"] = annotations
    return meta
