"""Upstream's restart policies: ``RecreateGroupOnPodRestart``, ``RecreateGroupAfterStart`` and ``None``.

A group pod *fails* when any of its containers or init containers has restarted (``restartCount > 0``)
while the pod is Pending or Running, or when the pod is being deleted. Then:

* ``RecreateGroupOnPodRestart``: recreate the whole group (the host deletes the leader in the foreground,
  and the StatefulSets rebuild it), unless the legacy annotation
  ``leaderworkerset.sigs.k8s.io/experimental-recreate-group-after-start`` is present, which gives:
* ``RecreateGroupAfterStart``: the same, but not while the group is still starting (fewer pods than
  ``size``, or any pod Pending), so slow image pulls do not loop;
* ``None``: nothing; plain StatefulSet per-pod semantics apply.

The host has already discarded events from stale pods of an earlier incarnation of the group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.plugin import PolicyRegistry, RestartDecision, RestartEvent, hookimpl
from lws.plugin import constants as c


def pod_failed(pod: Mapping[str, Any]) -> str | None:
    """Why this pod counts as failed for group restart purposes, or ``None``."""
    meta = pod.get("metadata") or {}
    name = meta.get("name", "?")
    if meta.get("deletionTimestamp"):
        return f"pod {name} is being deleted"
    status = pod.get("status") or {}
    if status.get("phase") not in ("Pending", "Running"):
        return None
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            if int(cs.get("restartCount") or 0) > 0:
                return f"container {cs.get('name')} of pod {name} restarted"
    return None


def group_starting(event: RestartEvent) -> bool:
    """Upstream's "pending group": fewer pods than ``size``, or any of them Pending."""
    if len(event.group_pods) != event.lws.size:
        return True
    return any((p.get("status") or {}).get("phase") == "Pending" for p in event.group_pods)


class RecreateGroupOnPodRestart:
    def decide(self, event: RestartEvent) -> RestartDecision:
        reason = pod_failed(event.pod)
        if reason is None:
            return RestartDecision.ignore()
        if c.RECREATE_GROUP_AFTER_START_ANNOTATION in event.lws.annotations and group_starting(event):
            return RestartDecision.ignore("group is still starting")
        return RestartDecision.recreate(reason)


class RecreateGroupAfterStart:
    def decide(self, event: RestartEvent) -> RestartDecision:
        reason = pod_failed(event.pod)
        if reason is None:
            return RestartDecision.ignore()
        if group_starting(event):
            return RestartDecision.ignore("group is still starting")
        return RestartDecision.recreate(reason)


class NoGroupRestart:
    def decide(self, event: RestartEvent) -> RestartDecision:
        return RestartDecision.ignore("restartPolicy None")


@hookimpl
def lws_register_policies(registry: PolicyRegistry) -> None:
    registry.restart_policy(c.RESTART_RECREATE_GROUP_ON_POD_RESTART, RecreateGroupOnPodRestart())
    registry.restart_policy(c.RESTART_RECREATE_GROUP_AFTER_START, RecreateGroupAfterStart())
    registry.restart_policy(c.RESTART_NONE, NoGroupRestart())
