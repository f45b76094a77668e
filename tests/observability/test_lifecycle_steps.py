"""When a group's lifecycle begins and ends: the pure decisions, as tables."""

from __future__ import annotations

import pytest

from lws.observability.lifecycle import (
    End,
    Escalate,
    GroupFindings,
    GroupSnapshot,
    GroupTrack,
    Milestone,
    OpenLifecycle,
    SetSnapshot,
    Start,
    context_of,
    group_steps,
    set_changes,
    traceparent_of,
)

READY = GroupSnapshot(leader_uid="L1", leader_ready=True, ready=True, revision="r1", workers=True)
DOWN = GroupSnapshot(leader_uid="L1", leader_ready=True, ready=False, revision="r1", workers=True)
GONE = GroupSnapshot(leader_uid="", leader_ready=False, ready=False, revision="r1", workers=False)
NEW_LEADER = GroupSnapshot(leader_uid="L2", leader_ready=False, ready=False, revision="r1", workers=False)
NEW_READY = GroupSnapshot(leader_uid="L2", leader_ready=True, ready=True, revision="r1", workers=True)
UPDATED = GroupSnapshot(leader_uid="L2", leader_ready=True, ready=True, revision="r2", workers=True)


def track(
    kind: str | None = None,
    *,
    ready: bool = False,
    leader: str = "L1",
    leader_ready: bool | None = None,
    **state,
) -> GroupTrack:
    """What was known before: an open lifecycle of ``kind`` (with ``state``), the group ready or not."""
    lifecycle = OpenLifecycle(kind, **state) if kind else None
    leader_ready = ready if leader_ready is None else leader_ready
    return GroupTrack(ready=ready, leader_uid=leader, leader_ready=leader_ready, lifecycle=lifecycle)


RECREATE = GroupFindings(restart="recreate", restart_reason="worker w-1-1 restarted")


@pytest.mark.parametrize(
    ("before", "snap", "found", "steps"),
    [
        pytest.param(track(ready=True), READY, GroupFindings(), [], id="ready group, nothing happens"),
        pytest.param(
            track("create", leader=""),
            DOWN,
            GroupFindings(),
            [Milestone("leader pod created", "L1"), Milestone("leader pod ready")],
            id="creation: the leader appears",
        ),
        pytest.param(
            track("create", leader=""),
            DOWN,
            GroupFindings(gate="waiting for the leader"),
            [
                Milestone("leader pod created", "L1"),
                Milestone("workers held back", "waiting for the leader"),
                Milestone("leader pod ready"),
            ],
            id="creation: a gate holds the workers",
        ),
        pytest.param(
            track("create"),
            READY,
            GroupFindings(workers_created=True),
            [Milestone("worker StatefulSet created"), Milestone("leader pod ready"), End("ready")],
            id="creation: workers made, all ready",
        ),
        pytest.param(
            track(ready=True),
            READY,
            RECREATE,
            [Start("recreate", "worker w-1-1 restarted", at_reconcile_start=True, replaces_leader="L1")],
            id="restart: the still-ready group does not end its recovery at once",
        ),
        pytest.param(
            track("recover", leader_ready=True),
            DOWN,
            RECREATE,
            [Escalate("worker w-1-1 restarted", "L1")],
            id="restart after the group was seen failing: one incident",
        ),
        pytest.param(
            track("create", leader_ready=True),
            DOWN,
            RECREATE,
            [End("superseded"), Start("recreate", "worker w-1-1 restarted", True, replaces_leader="L1")],
            id="restart during creation: a new story",
        ),
        pytest.param(
            track("recreate", leader_ready=True, replaces_leader="L1"),
            DOWN,
            RECREATE,
            [],
            id="restart again while recreating",
        ),
        pytest.param(
            track("recreate", replaces_leader="L1"),
            GONE,
            GroupFindings(),
            [Milestone("leader pod deleted", "L1")],
            id="recreation: the leader goes",
        ),
        pytest.param(
            track("recreate", replaces_leader="L1"),
            NEW_LEADER,
            GroupFindings(),
            [Milestone("leader pod deleted", "L1"), Milestone("leader pod created", "L2")],
            id="recreation: the caches go from the old leader straight to the new one",
        ),
        pytest.param(
            track("recreate", leader="", replaces_leader="L1"),
            NEW_READY,
            GroupFindings(workers_created=True),
            [
                Milestone("leader pod created", "L2"),
                Milestone("worker StatefulSet created"),
                Milestone("leader pod ready"),
                End("ready"),
            ],
            id="recreation: a new leader, ready",
        ),
        pytest.param(
            track("recreate", ready=True, replaces_leader="L1"),
            READY,
            GroupFindings(restart="wait", restart_reason="backoff"),
            [],
            id="recreation held back: the old leader's readiness does not end it",
        ),
        pytest.param(
            track("recreate", replaces_leader="L1"),
            DOWN,
            GroupFindings(restart="fail", restart_reason="budget exhausted"),
            [End("failed")],
            id="the policy gives the group up",
        ),
        pytest.param(
            track(ready=True),
            DOWN,
            GroupFindings(restart="ignore"),
            [Start("recover", "group not ready")],
            id="in-place restart: recovery without a recreation",
        ),
        pytest.param(
            track(ready=True),
            NEW_LEADER,
            GroupFindings(),
            [
                Start("recover", "leader pod replaced"),
                Milestone("leader pod deleted", "L1"),
                Milestone("leader pod created", "L2"),
            ],
            id="leader replaced between two looks",
        ),
        pytest.param(
            track("update", target_revision="r2"),
            NEW_READY,
            GroupFindings(),
            [
                Milestone("leader pod deleted", "L1"),
                Milestone("leader pod created", "L2"),
                Milestone("leader pod ready"),
            ],
            id="update: ready on the old revision is not done",
        ),
        pytest.param(
            track("update", target_revision="r2", leader="L2"),
            UPDATED,
            GroupFindings(),
            [Milestone("leader pod ready"), End("ready")],
            id="update: ready on the new revision",
        ),
        pytest.param(None, READY, GroupFindings(), [], id="first look at a ready group"),
        pytest.param(
            None,
            DOWN,
            GroupFindings(),
            [
                Start("recover", "found on the way by a starting operator", measured=False),
                Milestone("leader pod ready"),
            ],
            id="first look at a group on its way",
        ),
        pytest.param(
            None,
            GroupSnapshot(
                "L1", False, False, "r1", True, traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01"
            ),
            GroupFindings(),
            [
                Start(
                    "resume",
                    "found on the way by a starting operator",
                    measured=False,
                    resume_from="00-" + "1" * 32 + "-" + "2" * 16 + "-01",
                )
            ],
            id="first look, with the lifecycle recorded on the worker StatefulSet",
        ),
    ],
)
def test_group_steps(
    before: GroupTrack | None, snap: GroupSnapshot, found: GroupFindings, steps: list[object]
) -> None:
    assert group_steps(before, snap, found) == steps


@pytest.mark.parametrize(
    ("before", "after", "created", "updated", "removed", "rollout", "moved"),
    [
        (None, SetSnapshot(3, 0, "r1"), range(0, 3), range(0), range(0), False, False),
        (SetSnapshot(3, 0, "r1"), SetSnapshot(5, 0, "r1"), range(3, 5), range(0), range(0), False, False),
        (SetSnapshot(5, 0, "r1"), SetSnapshot(3, 0, "r1"), range(0), range(0), range(3, 5), False, False),
        (SetSnapshot(3, 0, "r1"), SetSnapshot(3, 3, "r2"), range(0), range(0), range(0), True, False),
        (SetSnapshot(3, 3, "r2"), SetSnapshot(3, 2, "r2"), range(0), range(2, 3), range(0), False, True),
        (SetSnapshot(3, 2, "r2"), SetSnapshot(3, 0, "r2"), range(0), range(0, 2), range(0), False, True),
        # Surge: one more group (new template) while the partition holds, then it is given back.
        (SetSnapshot(3, 3, "r2"), SetSnapshot(4, 3, "r2"), range(3, 4), range(0), range(0), False, False),
        (SetSnapshot(4, 1, "r2"), SetSnapshot(3, 0, "r2"), range(0), range(0, 1), range(3, 4), False, True),
    ],
)
def test_set_changes(
    before: SetSnapshot | None,
    after: SetSnapshot,
    created: range,
    updated: range,
    removed: range,
    rollout: bool,
    moved: bool,
) -> None:
    changes = set_changes(before, after)
    assert (changes.created, changes.updated, changes.removed) == (created, updated, removed)
    assert (changes.rollout_started, changes.partition_moved) == (rollout, moved)


def test_a_lifecycle_context_survives_the_round_trip_through_an_annotation() -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    context = context_of(traceparent)
    assert context is not None and traceparent_of(context) == traceparent
    assert context_of("not a traceparent") is None
