"""Kubernetes events about a LeaderWorkerSet, as upstream's controllers word them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from lws.api import constants as c
from lws.controller.deps import Deps


def event(
    deps: Deps,
    regarding: Mapping[str, Any],
    type_: Literal["Normal", "Warning"],
    reason: str,
    action: str,
    note: str,
    *,
    related: Mapping[str, Any] | None = None,
) -> None:
    """Record an event on the LeaderWorkerSet ``regarding`` (never blocks, never fails the reconcile)."""
    regarding = {"apiVersion": c.API_VERSION, "kind": c.KIND, **regarding}
    deps.recorder.record(regarding, type_, reason, action, note, related=related)


def pod_ref(pod: Mapping[str, Any]) -> dict[str, Any]:
    """A pod from the cache, with the type fields an object reference needs."""
    return {"apiVersion": "v1", "kind": "Pod", **pod}
