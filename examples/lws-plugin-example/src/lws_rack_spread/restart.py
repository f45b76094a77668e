"""``restartPolicy: RecreateGroupOnPodFailure``: a restart policy written against ``lws.plugin`` alone.

Upstream's ``RecreateGroupOnPodRestart`` reacts to container restarts and deletions only. This policy
also judges the other signals :func:`lws.plugin.pod_failures` reports, which the host offers too: phase
``Failed``, or not ready while Running for longer than a grace period (until then it asks the host to look
again when the grace period ends).

Opt-in (``LWS_DEFAULT_ENABLED = False``): enable it with ``--enable-plugin rack_spread_restart`` or the
config file's ``plugins.enable``; the CRD's restartPolicy enum then lists the value.
"""

from __future__ import annotations

from datetime import timedelta

from lws.plugin import PolicyRegistry, RestartDecision, RestartEvent, hookimpl, pod_failures

LWS_DEFAULT_ENABLED = False
POLICY = "RecreateGroupOnPodFailure"
#: How long a pod may stay not ready before its group is recreated.
NOT_READY_GRACE = timedelta(minutes=5)


class RecreateGroupOnPodFailure:
    """Recreate the group on a container restart, a deletion, a failed pod or a long not-ready spell."""

    def decide(self, event: RestartEvent) -> RestartDecision:
        for failure in pod_failures(event.pod):
            if failure.kind != "not-ready":
                return RestartDecision.recreate(failure.reason)
            if failure.phase == "Running" and failure.since:
                if event.now - failure.since >= NOT_READY_GRACE:
                    return RestartDecision.recreate(f"{failure.reason} for {NOT_READY_GRACE} or longer")
                return RestartDecision(
                    "ignore", f"{failure.reason}; grace period", not_before=failure.since + NOT_READY_GRACE
                )
        return RestartDecision.ignore()


@hookimpl
def lws_register_policies(registry: PolicyRegistry) -> None:
    registry.restart_policy(POLICY, RecreateGroupOnPodFailure())
