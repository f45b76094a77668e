"""Every failure signal a group pod shows, for restart policies to judge (pure: reads the pod only).

This module says what the pod shows; it decides nothing. The host offers every group pod that shows any
signal (:func:`pod_failures`) to the set's restart policy, which decides what it means; upstream's policies
act on upstream's trigger only (:func:`restart_trigger`: ``deleted``, or ``container-restarted`` while
Pending or Running), so upstream's behaviour is unchanged, while a plugin's policy can act on a ``failed``
or long ``not-ready`` pod too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from lws.k8s.pods import pod_ready, ready_condition

FailureKind = Literal["deleted", "container-restarted", "failed", "not-ready"]


@dataclass(frozen=True)
class PodFailure:
    """One failure signal of a pod.

    :ivar kind: ``deleted`` (deletionTimestamp set), ``container-restarted`` (a container or init container
        has ``restartCount > 0``), ``failed`` (phase ``Failed``, e.g. evicted or all containers exited with
        ``restartPolicy: Never``), ``not-ready`` (phase ``Pending`` or ``Running`` without the ``Ready``
        condition True).
    :ivar reason: a sentence naming the pod (and container), for events and logs.
    :ivar phase: the pod's ``status.phase`` (``""`` when not reported yet).
    :ivar since: when the signal began, where the pod says: the deletion timestamp, or the ``Ready``
        condition's ``lastTransitionTime`` (else the pod's creation time) for ``not-ready``.
    """

    kind: FailureKind
    reason: str
    phase: str
    since: datetime | None = None


def pod_failures(pod: Mapping[str, Any]) -> tuple[PodFailure, ...]:
    """Every failure signal ``pod`` shows, in the order deleted, container-restarted, failed, not-ready."""
    meta = pod.get("metadata") or {}
    name = meta.get("name", "?")
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "")
    out: list[PodFailure] = []
    if meta.get("deletionTimestamp"):
        out.append(
            PodFailure("deleted", f"pod {name} is being deleted", phase, _time(meta["deletionTimestamp"]))
        )
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            if int(cs.get("restartCount") or 0) > 0:
                out.append(
                    PodFailure(
                        "container-restarted", f"container {cs.get('name')} of pod {name} restarted", phase
                    )
                )
    if phase == "Failed":
        why = status.get("reason") or status.get("message") or "its containers failed"
        out.append(PodFailure("failed", f"pod {name} failed ({why})", phase))
    elif phase in ("", "Pending", "Running"):
        ready = ready_condition(pod)
        if not pod_ready(pod):
            began = (ready or {}).get("lastTransitionTime") or meta.get("creationTimestamp")
            out.append(PodFailure("not-ready", f"pod {name} is not ready", phase, _time(began)))
    return tuple(out)


def restart_trigger(pod: Mapping[str, Any]) -> PodFailure | None:
    """Upstream's group-restart trigger: the pod is being deleted, or a container or init container of it
    restarted while it is Pending or Running. The first such signal, or ``None``.

    Upstream's restart policies (``lws_builtins.restart_policies``) act on this alone.
    """
    for failure in pod_failures(pod):
        if failure.kind == "deleted" or (
            failure.kind == "container-restarted" and failure.phase in ("Pending", "Running")
        ):
            return failure
    return None


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
