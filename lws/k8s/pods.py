"""Pod readiness as Kubernetes defines it (``k8s.io/kubernetes/pkg/api/v1/pod``), over plain dicts.

The one home of "is this pod ready": the operator's rollout and status maths, the plugin contexts, the
pod failure signals, the demo's table and the embedded cluster's StatefulSet controller all read it here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["pod_ready", "pod_running_and_ready", "ready_condition"]


def ready_condition(pod: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The pod's ``Ready`` condition, whatever its status; ``None`` when the kubelet has not set it."""
    for condition in ((pod or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition  # type: ignore[no-any-return]
    return None


def pod_ready(pod: Mapping[str, Any] | None) -> bool:
    """``podutil.IsPodReady``: the ``Ready`` condition is ``True``."""
    condition = ready_condition(pod)
    return condition is not None and condition.get("status") == "True"


def pod_running_and_ready(pod: Mapping[str, Any] | None) -> bool:
    """``podutil.IsPodRunningAndReady`` (upstream lws's ``PodRunningAndReady``): phase Running and Ready."""
    return ((pod or {}).get("status") or {}).get("phase") == "Running" and pod_ready(pod)
