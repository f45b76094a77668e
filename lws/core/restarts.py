"""Group restart bookkeeping: upstream's guards against stale pods, and ``status.groupRestarts``.

(Which pods trigger a restart at all is :func:`lws.core.pod_failure.restart_trigger`.)

The guards (upstream issues #291, #804): when a group is recreated, the old workers go away in the
background while the new leader starts. An old worker that restarts or is deleted then must not kill the
*new* leader. A worker counts only if its leader exists, carries the same revision, and owns it —
directly, or through a worker StatefulSet that still exists with the uid the worker names and is itself
owned by this very leader (name and uid).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from lws.core.observe import controller_of, revision_of, uid_of
from lws.hooks.types import GroupRestartState

Obj = Mapping[str, Any]
STATE_BACKOFF = "Backoff"
STATE_FAILED = "Failed"


def stale_worker(worker: Obj, leader: Obj, statefulset: Callable[[str], Obj | None]) -> str | None:
    """Why ``worker`` does not belong to ``leader``'s current incarnation, or ``None`` if it does."""
    name = (worker.get("metadata") or {}).get("name")
    if revision_of(worker) != revision_of(leader):
        return f"worker {name} has revision {revision_of(worker)!r}, its leader {revision_of(leader)!r}"
    leader_name = (leader.get("metadata") or {}).get("name")
    leader_uid = uid_of(leader)
    owner = controller_of(worker)
    if owner is None:
        return f"worker {name} has no controller"
    if owner.get("kind") == "Pod":
        if owner.get("name") == leader_name and str(owner.get("uid")) == leader_uid:
            return None
        return f"worker {name} is owned by another pod"
    if owner.get("kind") != "StatefulSet":
        return f"worker {name} is owned by a {owner.get('kind')}"
    sts = statefulset(str(owner.get("name")))
    if sts is None or uid_of(sts) != str(owner.get("uid")):
        return f"worker {name} belongs to a StatefulSet that no longer exists"
    sts_owner = controller_of(sts)
    if (
        sts_owner is None
        or sts_owner.get("kind") != "Pod"
        or sts_owner.get("name") != leader_name
        or str(sts_owner.get("uid")) != leader_uid
    ):
        return f"worker {name} belongs to the StatefulSet of an earlier leader"
    return None


def restart_state(status: Obj, index: int | str) -> GroupRestartState:
    """The group's entry of ``status.groupRestarts`` as the restart plugins see it."""
    for entry in status.get("groupRestarts") or []:
        if entry.get("index") == index:
            last = entry.get("lastRecreateTime")
            return GroupRestartState(
                restarts=int(entry.get("count") or 0),
                last_recreate=_parse_time(last) if last else None,
                failed=entry.get("state") == STATE_FAILED,
                message=str(entry.get("message") or ""),
            )
    return GroupRestartState()


def pending_recreation(status: Obj, index: int | str) -> str:
    """The uid of the leader pod whose recreation was last counted for group ``index`` ("" if none).

    The host writes it with the count, before deleting that leader; while that very pod still exists and
    is not being deleted, the counted recreation is still to be done.
    """
    for entry in status.get("groupRestarts") or []:
        if entry.get("index") == index:
            return str(entry.get("recreatingLeaderUID") or "")
    return ""


def with_entry(entries: Sequence[Obj], index: int, **changes: Any) -> list[dict[str, Any]]:
    """``entries`` with the one for group ``index`` updated (created if needed); ``None`` values drop keys."""
    out: list[dict[str, Any]] = []
    found = False
    for entry in entries:
        item = dict(entry)
        if item.get("index") == index:
            found = True
            item.update(changes)
            item = {k: v for k, v in item.items() if v is not None}
        out.append(item)
    if not found:
        out.append({"index": index, **{k: v for k, v in changes.items() if v is not None}})
    return sorted(out, key=lambda e: int(e.get("index") or 0))


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
