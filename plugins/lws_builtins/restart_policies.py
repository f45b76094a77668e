"""Upstream's restart policies: ``RecreateGroupOnPodRestart``, ``RecreateGroupAfterStart`` and ``None``.

A group pod *fails* when any of its containers or init containers has restarted (``restartCount > 0``)
while the pod is Pending or Running, or when the pod is being deleted (upstream's trigger,
:func:`lws.plugin.restart_trigger`; the host offers every failure signal, and these policies ignore the
others, as upstream does). Then:

* ``RecreateGroupOnPodRestart``: recreate the whole group (the host deletes the leader in the foreground,
  and the StatefulSets rebuild it), unless the legacy annotation
  ``leaderworkerset.sigs.k8s.io/experimental-recreate-group-after-start`` is present, which gives:
* ``RecreateGroupAfterStart``: the same, but not while the group is still starting (fewer pods than
  ``size``, or any pod Pending), so slow image pulls do not loop;
* ``None``: nothing; plain StatefulSet per-pod semantics apply.

The host has already discarded events from stale pods of an earlier incarnation of the group.
"""

from __future__ import annotations

from lws.plugin import PolicyRegistry, RestartDecision, RestartEvent, hookimpl, restart_trigger
from lws.plugin import constants as c


def group_starting(event: RestartEvent) -> bool:
    """Upstream's "pending group": fewer pods than ``size``, or any of them Pending."""
    if len(event.group_pods) != event.lws.size:
        return True
    return any((p.get("status") or {}).get("phase") == "Pending" for p in event.group_pods)


class RecreateGroupOnPodRestart:
    def decide(self, event: RestartEvent) -> RestartDecision:
        trigger = restart_trigger(event.pod)
        if trigger is None:
            return RestartDecision.ignore()
        if c.RECREATE_GROUP_AFTER_START_ANNOTATION in event.lws.annotations and group_starting(event):
            return RestartDecision.ignore("group is still starting")
        return RestartDecision.recreate(trigger.reason)


class RecreateGroupAfterStart:
    def decide(self, event: RestartEvent) -> RestartDecision:
        trigger = restart_trigger(event.pod)
        if trigger is None:
            return RestartDecision.ignore()
        if group_starting(event):
            return RestartDecision.ignore("group is still starting")
        return RestartDecision.recreate(trigger.reason)


class NoGroupRestart:
    def decide(self, event: RestartEvent) -> RestartDecision:
        return RestartDecision.ignore("restartPolicy None")


@hookimpl
def lws_register_policies(registry: PolicyRegistry) -> None:
    registry.restart_policy(c.RESTART_RECREATE_GROUP_ON_POD_RESTART, RecreateGroupOnPodRestart())
    registry.restart_policy(c.RESTART_RECREATE_GROUP_AFTER_START, RecreateGroupAfterStart())
    registry.restart_policy(c.RESTART_NONE, NoGroupRestart())
