"""Pod readiness, Kubernetes' rule: the Ready condition True (and, for running-and-ready, phase Running)."""

from __future__ import annotations

from typing import Any

import pytest

from lws.k8s.pods import pod_ready, pod_running_and_ready, ready_condition


def _pod(phase: str | None, ready: str | None) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if phase is not None:
        status["phase"] = phase
    if ready is not None:
        status["conditions"] = [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": ready, "lastTransitionTime": "2025-01-01T00:00:00Z"},
        ]
    return {"metadata": {"name": "p"}, "status": status}


@pytest.mark.parametrize(
    ("phase", "ready", "is_ready", "running_and_ready"),
    [
        ("Running", "True", True, True),
        ("Running", "False", False, False),
        ("Running", None, False, False),
        ("Pending", "True", True, False),
        ("Succeeded", "True", True, False),
        (None, None, False, False),
    ],
)
def test_readiness(phase: str | None, ready: str | None, is_ready: bool, running_and_ready: bool) -> None:
    pod = _pod(phase, ready)
    assert pod_ready(pod) is is_ready
    assert pod_running_and_ready(pod) is running_and_ready


def test_ready_condition_whatever_its_status_and_none_for_no_pod() -> None:
    assert (ready_condition(_pod("Running", "False")) or {}).get("status") == "False"
    assert ready_condition(_pod("Pending", None)) is None
    assert ready_condition(None) is None
    assert not pod_ready(None)
    assert not pod_running_and_ready(None)
