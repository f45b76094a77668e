"""The plugin façade, telling the telemetry what the plugins decided.

The façade's observer reports each implementation's time; the decisions themselves (the restart policy's
answer and who gave it, the gate that holds a group's workers back) are only known to the façade's
callers. :class:`ObservedHooks` returns exactly what :class:`~lws.hooks.manager.Hooks` returns and, inside
a recorded reconcile, writes the answer on its span. It also records the group's lifecycle trace context
on the worker StatefulSet's pod template, so that a restarted operator continues the same trace.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lws.core.pod_failure import restart_trigger
from lws.hooks.manager import Hooks
from lws.hooks.types import GroupContext, RestartDecision, RestartEvent, WorkerGate
from lws.observability.lifecycle import TRACEPARENT_ANNOTATION
from lws.observability.telemetry import current_reconcile


class ObservedHooks(Hooks):
    """:class:`Hooks` whose restart, gate and worker-template calls report to the current reconcile."""

    def decide_restart(self, event: RestartEvent) -> tuple[RestartDecision, str]:
        decision, decided_by = super().decide_restart(event)
        record = current_reconcile()
        # Every pod with a failure signal is offered to the policy (a starting pod is "not ready"): only a
        # restart as upstream knows it, or a decision that acts, is worth a note in the trace.
        noteworthy = decision.action != "ignore" or restart_trigger(event.pod) is not None
        if noteworthy and record is not None and record.owner is not None:
            record.owner.note_restart(record, event, decision, decided_by)
        return decision, decided_by

    def workers_gate(self, ctx: GroupContext) -> WorkerGate | None:
        gate = super().workers_gate(ctx)
        record = current_reconcile()
        if record is not None and record.owner is not None:
            record.owner.note_gate(record, gate)
        return gate

    def worker_template(self, template: dict[str, Any], ctx: GroupContext) -> None:
        super().worker_template(template, ctx)
        record = current_reconcile()
        if record is None or record.owner is None:
            return
        traceparent = record.owner.lifecycle_traceparent(record)
        if traceparent is not None:
            annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
            annotations[TRACEPARENT_ANNOTATION] = traceparent


def observed_hooks(hooks: Hooks) -> ObservedHooks:
    """The same plugins, policies and observer as ``hooks``, reporting decisions (``hooks`` is unchanged)."""
    if isinstance(hooks, ObservedHooks):
        return hooks
    fields = {f.name: getattr(hooks, f.name) for f in dataclasses.fields(hooks) if f.init}
    return ObservedHooks(**fields)
