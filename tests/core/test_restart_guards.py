"""Upstream's guards against stale workers (issues #291, #804), the restart trigger, and the
``status.groupRestarts`` bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lws.api import constants as c
from lws.core.pod_failure import restart_trigger
from lws.core.restarts import inherit, restart_state, stale_worker, with_entry

LEADER_UID = "leader-uid-2"
STS_UID = "sts-uid-2"


def _pod(
    name: str, revision: str = "r1", owner: dict[str, Any] | None = None, uid: str = ""
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": uid or f"{name}-uid", "labels": {c.REVISION_KEY: revision}}
    if owner is not None:
        meta["ownerReferences"] = [owner]
    return {"metadata": meta}


def _owner(kind: str, name: str, uid: str) -> dict[str, Any]:
    return {"kind": kind, "name": name, "uid": uid, "controller": True}


LEADER = _pod("lws-0", uid=LEADER_UID)
WORKER_STS = {
    "metadata": {"name": "lws-0", "uid": STS_UID, "ownerReferences": [_owner("Pod", "lws-0", LEADER_UID)]}
}


def _sts(found: dict[str, Any] | None) -> Any:
    return lambda name: found if found is not None and name == found["metadata"]["name"] else None


@pytest.mark.parametrize(
    ("worker", "statefulset", "stale"),
    [
        (_pod("lws-0-1", owner=_owner("StatefulSet", "lws-0", STS_UID)), WORKER_STS, False),
        (_pod("lws-0-1", owner=_owner("Pod", "lws-0", LEADER_UID)), None, False),
        (_pod("lws-0-1", revision="r0", owner=_owner("StatefulSet", "lws-0", STS_UID)), WORKER_STS, True),
        (_pod("lws-0-1", owner=_owner("StatefulSet", "lws-0", "old-sts")), WORKER_STS, True),
        (_pod("lws-0-1", owner=_owner("StatefulSet", "lws-0", STS_UID)), None, True),
        (
            _pod("lws-0-1", owner=_owner("StatefulSet", "lws-0", STS_UID)),
            {
                "metadata": {
                    "name": "lws-0",
                    "uid": STS_UID,
                    "ownerReferences": [_owner("Pod", "lws-0", "old-leader")],
                }
            },
            True,
        ),
        (_pod("lws-0-1", owner=_owner("Pod", "lws-0", "old-leader")), None, True),
        (_pod("lws-0-1"), WORKER_STS, True),
        (_pod("lws-0-1", owner=_owner("ReplicaSet", "x", "y")), WORKER_STS, True),
    ],
    ids=[
        "current-via-sts",
        "current-direct",
        "other-revision",
        "sts-uid-replaced",
        "sts-gone",
        "sts-of-earlier-leader",
        "earlier-leader-direct",
        "no-owner",
        "foreign-owner",
    ],
)
def test_only_workers_of_the_current_leader_count(
    worker: dict, statefulset: dict | None, stale: bool
) -> None:
    reason = stale_worker(worker, LEADER, _sts(statefulset))
    assert (reason is not None) == stale, reason


@pytest.mark.parametrize(
    ("status", "deleting", "triggered"),
    [
        ({"phase": "Running", "containerStatuses": [{"name": "a", "restartCount": 0}]}, False, False),
        ({"phase": "Running", "containerStatuses": [{"name": "a", "restartCount": 1}]}, False, True),
        ({"phase": "Pending", "initContainerStatuses": [{"name": "i", "restartCount": 2}]}, False, True),
        ({"phase": "Succeeded", "containerStatuses": [{"name": "a", "restartCount": 3}]}, False, False),
        ({"phase": "Running"}, True, True),
    ],
)
def test_restart_trigger_is_upstreams(status: dict, deleting: bool, triggered: bool) -> None:
    pod: dict[str, Any] = {"metadata": {"name": "p"}, "status": status}
    if deleting:
        pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert (restart_trigger(pod) is not None) == triggered


def test_group_restart_entries_round_trip_through_status() -> None:
    entries = with_entry([], 2, count=1, lastRecreateTime="2026-05-01T10:00:00Z", message="m")
    entries = with_entry(entries, 0, state="Failed", message="spent")
    assert [e["index"] for e in entries] == [0, 2], "kept sorted by group index"
    state = restart_state({"groupRestarts": entries}, 2)
    assert state.restarts == 1 and not state.failed
    assert state.last_recreate == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    assert restart_state({"groupRestarts": entries}, 0).failed
    assert restart_state({"groupRestarts": entries}, 5).restarts == 0
    cleared = with_entry(entries, 0, state=None, count=3)
    assert cleared[0] == {"index": 0, "message": "spent", "count": 3}, "None removes a key"


K1, K2, K3 = "1" * 40, "2" * 40, "3" * 40


def test_hash_groups_are_entries_by_key_numbered_apart_from_ordinals() -> None:
    entries = with_entry([], K1, count=1)
    entries = with_entry(entries, K2, state="Backoff")
    assert entries == [{"index": 0, "key": K1, "count": 1}, {"index": 1, "key": K2, "state": "Backoff"}]
    assert restart_state({"groupRestarts": entries}, K1).restarts == 1
    assert restart_state({"groupRestarts": entries}, 0).restarts == 0, "an ordinal never reads a Hash entry"
    assert with_entry(entries, K1, count=2)[0] == {"index": 0, "key": K1, "count": 2}
    # A gap left by a removed entry is reused: index is the list's key, not a counter.
    assert with_entry([entries[1]], K3, count=1)[0] == {"index": 0, "key": K3, "count": 1}


def test_the_replacement_of_a_recreated_hash_group_inherits_its_count() -> None:
    recreated = {"index": 0, "key": K1, "count": 2, "lastRecreateTime": "2026-05-01T10:00:00Z"}
    entries = [{**recreated, "recreatingLeaderUID": "u1"}]
    # While the recreated leader is alive (recreation not done yet), nothing is handed on.
    assert inherit(entries, K2, live_keys={K1, K2}) == entries
    heir = inherit(entries, K2, live_keys={K2})
    assert heir == [{**recreated, "key": K2}]
    assert restart_state({"groupRestarts": heir}, K2).restarts == 2
    # Taken once: a second new leader finds nothing waiting, nor does the heir itself.
    assert inherit(heir, K3, live_keys={K2, K3}) == heir
    assert inherit(heir, K2, live_keys={K2}) == heir


def test_only_a_counted_recreation_is_inherited_and_the_oldest_first() -> None:
    removed = {"index": 0, "key": K1, "count": 1}  # a group that restarted once, later scaled away
    first = {"index": 1, "key": K2, "count": 1, "lastRecreateTime": "2026-05-01T10:00:00Z"}
    later = {"index": 2, "key": "4" * 40, "count": 3, "lastRecreateTime": "2026-05-01T11:00:00Z"}
    entries = [removed, {**first, "recreatingLeaderUID": "a"}, {**later, "recreatingLeaderUID": "b"}]
    assert inherit([removed], K3, live_keys={K3}) == [removed], "a new group starts with no one's failures"
    assert inherit(entries, K3, live_keys={K3}) == [
        removed,
        {**first, "key": K3},
        {**later, "recreatingLeaderUID": "b"},
    ]
