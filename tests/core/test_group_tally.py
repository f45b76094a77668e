"""Counts kept from one change at a time equal the counts of reading every group (the reference rules)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet
from lws.core.group_tally import GroupTally, leader_half, workers_half
from lws.core.groups import group_ready, group_updated, status_observations
from lws.core.observe import group_index_of
from lws.core.status import count_groups

REVISIONS = ("old", "new")


@pytest.mark.parametrize(
    ("leader_ready", "workers_ready", "size_one", "ready"),
    [
        (True, True, False, True),
        (True, False, False, False),
        (False, True, False, False),
        (True, None, False, False),  # no worker StatefulSet of its own yet
        (True, None, True, True),  # size 1: the leader alone
        (False, None, True, False),
        (True, False, True, True),  # size 1: a stray worker StatefulSet does not count
    ],
)
def test_a_group_is_ready_when_both_halves_are(
    leader_ready: bool, workers_ready: bool | None, size_one: bool, ready: bool
) -> None:
    assert group_ready(leader_ready, workers_ready, size_one=size_one) is ready


@pytest.mark.parametrize(
    ("leader", "workers", "size_one", "updated"),
    [
        ("new", "new", False, True),
        ("new", "old", False, False),
        ("old", "new", False, False),
        ("new", None, False, False),
        ("new", None, True, True),
        ("old", None, True, False),
        ("new", "old", True, True),
    ],
)
def test_a_group_is_updated_when_both_halves_carry_the_revision(
    leader: str, workers: str | None, size_one: bool, updated: bool
) -> None:
    assert group_updated(leader, workers, size_one=size_one, revision="new") is updated


def _leader(name: str, index: int | None, ready: bool, revision: str, uid: str) -> dict[str, Any]:
    labels = {c.SET_NAME_LABEL: "s", c.WORKER_INDEX_LABEL: "0", c.REVISION_KEY: revision}
    if index is not None:
        labels[c.GROUP_INDEX_LABEL] = str(index)
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    return {
        "metadata": {"name": name, "uid": uid, "labels": labels},
        "status": {"phase": "Running", "conditions": [condition]},
    }


def _workers(name: str, ready: bool, revision: str, owner: str | None) -> dict[str, Any]:
    """A worker StatefulSet controlled by the leader pod of uid ``owner`` (``None``: by nothing)."""
    meta: dict[str, Any] = {"name": name, "labels": {c.SET_NAME_LABEL: "s", c.REVISION_KEY: revision}}
    if owner is not None:
        meta["ownerReferences"] = [{"kind": "Pod", "name": name, "uid": owner, "controller": True}]
    return {
        "metadata": meta,
        "spec": {"replicas": 1},
        "status": {"availableReplicas": 1 if ready else 0, "currentRevision": "a", "updateRevision": "a"},
    }


names = st.sampled_from([f"s-{i}" for i in range(6)])
changes = st.lists(
    st.tuples(
        st.sampled_from(["leader", "workers"]),
        names,
        st.booleans(),  # present
        st.booleans(),  # ready
        st.sampled_from(REVISIONS),
        st.none() | st.integers(0, 5),  # a leader's group index label (None: missing)
        # A leader pod's incarnation (a replaced leader has another uid), or the one whose worker
        # StatefulSet it is (None: controlled by nothing).
        st.none() | st.integers(0, 1),
    ),
    max_size=40,
)


@settings(deadline=None)
@given(
    changes,
    st.integers(1, 6),
    st.integers(0, 6),
    st.booleans(),
    st.sampled_from(REVISIONS),
    st.lists(st.integers(0, 40), max_size=3),
)
def test_the_tally_counts_what_reading_every_group_counts(
    steps: list[Any], replicas: int, partition: int, size_one: bool, revision: str, asked_at: list[int]
) -> None:
    lws = LeaderWorkerSet(
        {
            "metadata": {"name": "s", "namespace": "ns"},
            "spec": {
                "replicas": replicas,
                "leaderWorkerTemplate": {"size": 1 if size_one else 2},
                "rolloutStrategy": {"rollingUpdateConfiguration": {"partition": partition}},
            },
        }
    )
    pods: dict[str, dict[str, Any]] = {}
    sets: dict[str, dict[str, Any]] = {}
    tally = GroupTally()
    for step, (kind, name, present, ready, rev, index, incarnation) in enumerate(steps):
        if kind == "leader":
            if present:
                pods[name] = pod = _leader(name, index, ready, rev, f"{name}-{incarnation or 0}")
                tally.set_leader(name, group_index_of(pod), leader_half(pod))
            else:
                pods.pop(name, None)
                tally.set_leader(name, None, None)
        elif present:
            owner = None if incarnation is None else f"{name}-{incarnation}"
            sets[name] = sts = _workers(name, ready, rev, owner)
            tally.set_workers(name, workers_half(sts))
        else:
            sets.pop(name, None)
            tally.set_workers(name, None)
        if step in asked_at or step == len(steps) - 1:
            expected = count_groups(
                status_observations(lws, pods.values(), revision=revision, workers=sets.get),
                replicas=replicas,
                partition=partition,
            )
            # Asked with another window now and then, as a rollout moves the partition.
            other = tally.counts(revision=revision, size_one=size_one, replicas=replicas, partition=0)
            assert other == count_groups(
                status_observations(lws, pods.values(), revision=revision, workers=sets.get),
                replicas=replicas,
                partition=0,
            )
            counted = tally.counts(
                revision=revision, size_one=size_one, replicas=replicas, partition=partition
            )
            assert counted == expected
    if not pods and not sets:
        assert len(tally) == 0, "nothing kept of groups that are gone"
