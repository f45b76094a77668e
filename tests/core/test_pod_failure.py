"""Every failure signal a pod shows (lws.core.pod_failure): what restart policies are offered.

The group reconciler offers a pod to the set's restart policy exactly when ``pod_failures`` lists a signal
for it; upstream's policies act on ``restart_trigger`` alone. Issue 10, bug 8: a hard-coded trigger used to
keep phase-Failed and not-ready pods from every policy.
"""

from __future__ import annotations

from typing import Any

import pytest

from lws.core.pod_failure import pod_failures, restart_trigger

READY = {"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-06T10:00:00Z"}
NOT_READY = {"type": "Ready", "status": "False", "lastTransitionTime": "2026-12-06T10:00:05Z"}


def pod(
    phase: str = "Running",
    *,
    conditions: tuple[dict[str, str], ...] = (READY,),
    restarts: int = 0,
    init_restarts: int = 0,
    deleting: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "llm-0", "creationTimestamp": "2026-12-06T09:59:00Z"}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-06T10:01:00Z"
    status: dict[str, Any] = {"phase": phase, "conditions": list(conditions)}
    status["containerStatuses"] = [{"name": "app", "restartCount": restarts}]
    status["initContainerStatuses"] = [{"name": "init", "restartCount": init_restarts}]
    if reason:
        status["reason"] = reason
    return {"metadata": meta, "status": status}


@pytest.mark.parametrize(
    ("shown", "kinds", "upstream_trigger"),
    [
        (pod(), [], None),
        (pod("Succeeded", conditions=()), [], None),
        # Offered to every policy; upstream's ignore it (the StatefulSet controller replaces the pod).
        (pod("Failed", conditions=(), reason="Evicted"), ["failed"], None),
        (pod("Failed", conditions=(), restarts=2), ["container-restarted", "failed"], None),
        (pod(conditions=(NOT_READY,)), ["not-ready"], None),
        (pod("Pending", conditions=()), ["not-ready"], None),
        (pod("", conditions=()), ["not-ready"], None),
        (pod(restarts=1), ["container-restarted"], "container-restarted"),
        (
            pod("Pending", conditions=(), init_restarts=1),
            ["container-restarted", "not-ready"],
            "container-restarted",
        ),
        (pod(deleting=True), ["deleted"], "deleted"),
        (pod("Failed", conditions=(), deleting=True), ["deleted", "failed"], "deleted"),
    ],
    ids=[
        "running-ready",
        "succeeded",
        "failed-evicted",
        "failed-after-restarts",
        "running-not-ready",
        "pending",
        "no-phase-yet",
        "container-restarted",
        "init-restarted-while-pending",
        "deleting",
        "failed-and-deleting",
    ],
)
def test_every_signal_a_pod_shows_is_listed_and_upstream_acts_on_its_own_trigger_only(
    shown: dict[str, Any], kinds: list[str], upstream_trigger: str | None
) -> None:
    failures = pod_failures(shown)
    assert [f.kind for f in failures] == kinds
    trigger = restart_trigger(shown)
    assert (trigger.kind if trigger else None) == upstream_trigger


def test_a_failed_pod_says_why_and_a_not_ready_pod_since_when() -> None:
    (failed,) = pod_failures(pod("Failed", conditions=(), reason="Evicted"))
    assert failed.reason == "pod llm-0 failed (Evicted)"
    assert failed.phase == "Failed"
    (not_ready,) = pod_failures(pod(conditions=(NOT_READY,)))
    assert not_ready.since is not None and not_ready.since.isoformat() == "2026-12-06T10:00:05+00:00"
    (never_ready,) = pod_failures(pod("Pending", conditions=()))
    assert never_ready.since is not None and never_ready.since.isoformat() == "2026-12-06T09:59:00+00:00"
