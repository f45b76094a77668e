"""Group restart bookkeeping: upstream's guards against stale pods, and ``status.groupRestarts``.

(Which pods trigger a restart at all is :func:`lws.core.pod_failure.restart_trigger`.)

The guards (upstream issues #291, #804): when a group is recreated, the old workers go away in the
background while the new leader starts. An old worker that restarts or is deleted then must not kill the
*new* leader. A worker counts only if its leader exists, carries the same revision, and owns it —
directly, or through a worker StatefulSet that still exists with the uid the worker names and is itself
owned by this very leader (name and uid).

A group is named by its ordinal, or with ``groupIdentity: Hash`` by its group key (a string). A recreated
Hash group comes back under a new key (its leader is a new Deployment pod), so a Hash entry carries the
group's ``key`` next to an ``index`` that only numbers the entry, and the first leader to appear after a
counted recreation takes the entry over (:func:`inherit`): the count, the backoff and the budget follow
the group from one key to the next as they follow an ordinal.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
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


def _is_entry_of(entry: Obj, group: int | str) -> bool:
    # An ordinal names its entry by index; a Hash group key by ``key`` (its index only numbers the entry).
    if isinstance(group, str):
        return entry.get("key") == group
    return entry.get("index") == group and not entry.get("key")


def entry_of(status: Obj, group: int | str) -> Obj | None:
    """The ``status.groupRestarts`` entry of ``group`` (an ordinal, or a Hash group key), if any."""
    entries: Sequence[Obj] = status.get("groupRestarts") or []
    return next((entry for entry in entries if _is_entry_of(entry, group)), None)


def restart_state(status: Obj, group: int | str) -> GroupRestartState:
    """The group's entry of ``status.groupRestarts`` as the restart plugins see it."""
    entry = entry_of(status, group)
    if entry is None:
        return GroupRestartState()
    last = entry.get("lastRecreateTime")
    return GroupRestartState(
        restarts=int(entry.get("count") or 0),
        last_recreate=_parse_time(last) if last else None,
        failed=entry.get("state") == STATE_FAILED,
        message=str(entry.get("message") or ""),
    )


def pending_recreation(status: Obj, group: int | str) -> str:
    """The uid of the leader pod whose recreation was last counted for ``group`` ("" if none).

    The host writes it with the count, before deleting that leader; while that very pod still exists and
    is not being deleted, the counted recreation is still to be done.
    """
    entry = entry_of(status, group)
    return str((entry or {}).get("recreatingLeaderUID") or "")


def with_entry(entries: Sequence[Obj], group: int | str, **changes: Any) -> list[dict[str, Any]]:
    """``entries`` with the one for ``group`` updated (created if needed); ``None`` values drop keys.

    A new entry for a Hash group key gets the lowest index no entry uses (``index`` is the list's key).
    """
    out: list[dict[str, Any]] = []
    found = False
    for entry in entries:
        item = dict(entry)
        if _is_entry_of(item, group):
            found = True
            item.update(changes)
            item = {k: v for k, v in item.items() if v is not None}
        out.append(item)
    if not found:
        new: dict[str, Any] = {"index": group} if isinstance(group, int) else _hash_entry(out, group)
        out.append({**new, **{k: v for k, v in changes.items() if v is not None}})
    return sorted(out, key=lambda e: int(e.get("index") or 0))


def _hash_entry(entries: Sequence[Obj], key: str) -> dict[str, Any]:
    used = {e.get("index") for e in entries}
    return {"index": next(i for i in range(len(entries) + 1) if i not in used), "key": key}


def inherit(entries: Sequence[Obj], key: str, live_keys: Collection[str]) -> list[dict[str, Any]]:
    """``groupIdentity: Hash``: ``entries`` with the restart history of a recreated group handed to the
    group ``key``, a leader that has none yet; ``entries`` unchanged when there is nothing to inherit.

    A recreation is counted, with the uid of the leader it deletes, before that leader goes; the
    Deployment then replaces the leader with a new pod, under a new key. The entry waiting for that
    replacement is one with ``recreatingLeaderUID`` whose group key no live leader carries any more
    (``live_keys``: the keys of the set's leaders that are not being deleted). The oldest such entry
    goes to ``key``, and ``recreatingLeaderUID`` goes with the old leader: the recreation is done.
    Entries of groups removed by a scale-down carry no ``recreatingLeaderUID`` once inherited, and are
    never handed on: a new group does not start with another's failures.
    """
    if any(_is_entry_of(e, key) for e in entries):
        return [dict(e) for e in entries]
    waiting = [
        e for e in entries if e.get("key") and e.get("recreatingLeaderUID") and e.get("key") not in live_keys
    ]
    if not waiting:
        return [dict(e) for e in entries]
    heir = min(waiting, key=lambda e: (str(e.get("lastRecreateTime") or ""), int(e.get("index") or 0)))
    return with_entry(entries, str(heir["key"]), key=key, recreatingLeaderUID=None)


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
