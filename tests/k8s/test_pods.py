"""Pod readiness, Kubernetes' rule: the Ready condition True (and, for running-and-ready, phase Running)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import lws.k8s.pods
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


def test_pod_readiness_is_defined_here_alone() -> None:
    """The operator, the plugin contexts and the embedded cluster's controllers all read readiness here: no
    other module of lws defines a function of these names (the embedded cluster once had its own)."""
    names = set(lws.k8s.pods.__all__) | {"is_pod_ready", "pod_is_ready"}
    home = Path(lws.k8s.pods.__file__).resolve()
    root = home.parents[1]
    others = [
        f"{path.relative_to(root.parent)}: {node.name}"
        for path in sorted(root.rglob("*.py"))
        if path != home
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name.lstrip("_") in names
    ]
    assert not others, f"pod readiness defined again: {others}; import it from lws.k8s.pods"
