"""Upstream's startup policies: ``LeaderCreated`` and ``LeaderReady``.

``LeaderCreated``: a group's worker StatefulSet is created as soon as its leader pod exists.
``LeaderReady``: only once the leader pod is Ready; this holds for every (re)creation of the group.
"""

from __future__ import annotations

from lws.plugin import GroupContext, PolicyRegistry, WorkerGate, hookimpl
from lws.plugin import constants as c


class LeaderCreated:
    def workers_gate(self, ctx: GroupContext) -> WorkerGate | None:
        return None


class LeaderReady:
    def workers_gate(self, ctx: GroupContext) -> WorkerGate | None:
        if ctx.leader_pod is None or ctx.leader_ready:
            return None
        return WorkerGate(f"startupPolicy LeaderReady: waiting for leader pod {ctx.leader_name} to be Ready")


@hookimpl
def lws_register_policies(registry: PolicyRegistry) -> None:
    registry.startup_policy(c.STARTUP_LEADER_CREATED, LeaderCreated())
    registry.startup_policy(c.STARTUP_LEADER_READY, LeaderReady())
