"""Child objects the API server refuses: reported on the LeaderWorkerSet, retried with backoff.

Admission cannot catch everything: a pod template the CRD schema accepts may still make a StatefulSet the
StatefulSet API refuses (a template without containers, a webhook of another controller saying no). Such a
refusal is not a fault of the operator: it is reported where the user looks, as a Deployment reports pods it
cannot create,

* an Event on the set: Warning ``FailedCreate`` (or ``FailedUpdate``), upstream's reasons, with the API
  server's message (aggregated into a series when it repeats);
* a condition on the set: ``ReplicaFailure`` True, reason ``FailedCreate``/``FailedUpdate``, the message,
  set False (reason ``Recovered``) once every key that failed has reconciled;

and the work queue retries the key with its per-key backoff (up to a minute apart), without a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from lws.api import constants as c
from lws.cluster.errors import ApiError
from lws.cluster.resources import LEADERWORKERSETS
from lws.controller.deps import Deps
from lws.core.keys import split_ordinal
from lws.core.routing import Key

log = logging.getLogger(__name__)

CONDITION: Final = "ReplicaFailure"
#: Refusals that come again unchanged: the request is wrong, not the moment.
_REFUSED: Final = frozenset({400, 403, 422})
_MESSAGE_LIMIT: Final = 1024


def refusal(error: BaseException) -> ApiError | None:
    """``error`` if it is the API server refusing one of our writes for what it says (not a conflict, not a
    transient failure), else ``None``."""
    if isinstance(error, ApiError) and error.status in _REFUSED and error.verb in _WRITE_VERBS:
        return error
    return None


_WRITE_VERBS: Final = frozenset({"create", "update", "patch", "apply"})


def set_of(key: Key) -> tuple[str, str]:
    """The (namespace, name) of the LeaderWorkerSet a work-queue key belongs to."""
    if key.kind == "set":
        return key.namespace, key.name
    parent = split_ordinal(key.name)  # a group is keyed by its leader pod, <set>-<index>
    return key.namespace, parent[0] if parent is not None else key.name


class Refusals:
    """Which keys of which sets are failing on a refusal, to report it once and clear it when they pass."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._failing: dict[tuple[str, str], set[Key]] = {}

    async def failed(self, key: Key, error: ApiError) -> None:
        """Report a refusal met while reconciling ``key``."""
        owner = set_of(key)
        self._failing.setdefault(owner, set()).add(key)
        lws = self.deps.caches.sets.get(*owner)
        if lws is None:
            return
        creating = error.verb == "create"
        reason = c.EVENT_FAILED_CREATE if creating else c.EVENT_FAILED_UPDATE
        message = str(error)[:_MESSAGE_LIMIT]
        self.deps.recorder.record(lws, "Warning", reason, "Create" if creating else "Update", message)
        await self._set_condition(lws, "True", reason, message)

    async def passed(self, key: Key) -> None:
        """``key`` reconciled: when no key of its set is failing any more, clear the condition."""
        owner = set_of(key)
        failing = self._failing.get(owner)
        if failing is not None:
            failing.discard(key)
            if failing:
                return
            del self._failing[owner]
        lws = self.deps.caches.sets.get(*owner)
        if lws is None or _condition(lws).get("status") != "True":
            return
        if key.kind != "set" and failing is None:
            return  # after a restart nothing is tracked: let the set's own reconcile decide
        await self._set_condition(lws, "False", "Recovered", "every child object was accepted")

    async def _set_condition(self, lws: Mapping[str, Any], status: str, reason: str, message: str) -> None:
        current = _condition(lws)
        wanted = (status, reason, message)
        if (current.get("status"), current.get("reason"), current.get("message")) == wanted:
            return  # no write when nothing changes
        meta = lws.get("metadata") or {}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        updated = {
            "type": CONDITION,
            "status": status,
            "reason": reason,
            "message": message,
            "observedGeneration": meta.get("generation"),
            "lastTransitionTime": current.get("lastTransitionTime")
            if current.get("status") == status
            else now,
        }
        others = [
            cond
            for cond in (lws.get("status") or {}).get("conditions") or []
            if isinstance(cond, Mapping) and cond.get("type") != CONDITION
        ]
        body = {
            "metadata": {"resourceVersion": meta.get("resourceVersion")},
            "status": {"conditions": [*others, updated]},
        }
        try:
            await self.deps.cluster.patch(
                LEADERWORKERSETS, meta.get("namespace"), str(meta.get("name")), body, subresource="status"
            )
        except ApiError as exc:
            # A conflict or a gone set: the next failure or success of the key tries again.
            log.info("could not set %s on %s/%s: %s", CONDITION, meta.get("namespace"), meta.get("name"), exc)


def _condition(lws: Mapping[str, Any]) -> Mapping[str, Any]:
    for cond in (lws.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == CONDITION:
            return cond
    return {}
