"""Pod failures, measured: ``lws_restart_decisions_total`` and ``lws_failure_detection_seconds``, each
pod failure counted once although every reconcile of the group sees it again."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lws.core.decisions import RestartDecided
from lws.observability.metrics import LwsMetrics
from lws.observability.reconciles import GroupId


class FailureMeasurements:
    """Which failure of each group pod has been measured already (by pod uid)."""

    def __init__(self, metrics: LwsMetrics | None) -> None:
        self.metrics = metrics
        self._measured: dict[GroupId, dict[str, int]] = {}

    def decided(self, group: GroupId, decision: RestartDecided) -> None:
        """Count the decision and measure detection time, once per failure of a pod."""
        meta = decision.pod.get("metadata") or {}
        # Restarts stay visible on the pod (restartCount > 0) and are looked at on every reconcile of the
        # group: each pod failure is measured and counted once.
        uid = str(meta.get("uid") or "")
        signature = -1 if decision.trigger == "pod-deletion" else _restarts(decision.pod)
        seen = self._measured.setdefault(group, {})
        if seen.get(uid) == signature:
            return
        alive = set(decision.group_pods)
        for gone in [known for known in seen if known not in alive]:
            del seen[gone]  # pods of earlier incarnations of the group
        seen[uid] = signature
        if self.metrics is None:
            return
        self.metrics.restart_decisions.labels(decision.action, decision.by).inc()
        failed_at = _failure_time(decision.pod)
        if failed_at is not None and decision.now is not None:
            detected = max(0.0, (decision.now - failed_at).total_seconds())
            self.metrics.failure_detection.observe(detected)

    def forget(self, group: GroupId) -> None:
        """The group is gone."""
        self._measured.pop(group, None)


def _restarts(pod: Mapping[str, Any]) -> int:
    status = pod.get("status") or {}
    return sum(
        int(cs.get("restartCount") or 0)
        for key in ("initContainerStatuses", "containerStatuses")
        for cs in status.get(key) or []
    )


def _failure_time(pod: Mapping[str, Any]) -> datetime | None:
    """When the pod failed: its latest container termination, or the moment its deletion was asked for."""
    meta = pod.get("metadata") or {}
    deleted = meta.get("deletionTimestamp")
    if deleted:
        at = _parse_time(str(deleted))
        grace = meta.get("deletionGracePeriodSeconds")
        if at is not None and isinstance(grace, int):
            return datetime.fromtimestamp(at.timestamp() - grace, UTC)
        return at
    status = pod.get("status") or {}
    finished = [
        _parse_time(str(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt") or ""))
        for key in ("initContainerStatuses", "containerStatuses")
        for cs in status.get(key) or []
        if int(cs.get("restartCount") or 0) > 0
    ]
    known = [moment for moment in finished if moment is not None]
    return max(known) if known else None


def _parse_time(text: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
