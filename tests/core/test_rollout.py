"""Rolling-update maths (upstream rollingUpdateParameters), table-driven, plus the documented walkthrough."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lws.core.rollout import (
    GroupState,
    RolloutInput,
    continuous_ready_tail,
    leader_max_unavailable,
    partition_event,
    rolling_update_partition,
    rolling_update_replicas,
    rollout_parameters,
    unready_groups,
)

OK = GroupState(ready=True, updated=True)  # ready and on the new revision
OLD = GroupState(ready=True, updated=False)  # ready, old revision
DOWN = GroupState(ready=False, updated=False)
NEW_DOWN = GroupState(ready=False, updated=True)


def inp(**kw: object) -> RolloutInput:
    base: dict[str, object] = {"replicas": 4, "max_surge": 0, "max_unavailable": 1, "spec_partition": 0}
    base.update(kw)
    return RolloutInput(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("case", "given_", "partition", "replicas"),
    [
        ("no statefulset yet", inp(), 0, 4),
        ("no statefulset yet, spec partition wins", inp(spec_partition=2), 2, 4),
        ("new revision: partition starts at replicas", inp(sts_replicas=4, revision_changed=True), 4, 4),
        (
            "new revision while scaling up: scale first",
            inp(replicas=5, sts_replicas=3, revision_changed=True),
            3,
            5,
        ),
        (
            "new revision with surge: all groups count unready",
            inp(max_surge=2, sts_replicas=4, revision_changed=True),
            4,
            6,
        ),
        ("at rest", inp(sts_replicas=4, sts_partition=0), 0, 4),
        ("scale up mid-rollout keeps partition", inp(replicas=6, sts_replicas=4, sts_partition=2), 2, 6),
        (
            "first step: one group at a time from the top",
            inp(sts_replicas=4, sts_partition=4, sts_replicas_annotation=4, states=[OLD] * 4),
            3,
            4,
        ),
        (
            "wait while the updated group is not ready",
            inp(sts_replicas=4, sts_partition=3, sts_replicas_annotation=4, states=[OLD, OLD, OLD, NEW_DOWN]),
            3,
            4,
        ),
        (
            "next step once the tail is ready",
            inp(sts_replicas=4, sts_partition=3, sts_replicas_annotation=4, states=[OLD, OLD, OLD, OK]),
            2,
            4,
        ),
        (
            "broken old groups do not stall the rollout (#567)",
            inp(sts_replicas=4, sts_partition=4, sts_replicas_annotation=4, states=[DOWN, DOWN, DOWN, DOWN]),
            3,
            4,
        ),
        (
            "a down group below the step counts against maxUnavailable",
            inp(sts_replicas=4, sts_partition=3, sts_replicas_annotation=4, states=[OLD, DOWN, DOWN, OK]),
            2,
            4,
        ),
        (
            "spec partition holds groups below it",
            inp(
                spec_partition=2,
                sts_replicas=4,
                sts_partition=2,
                sts_replicas_annotation=4,
                states=[OLD, OLD, OK, OK],
            ),
            2,
            4,
        ),
        (
            "replicas changed mid-rollout",
            inp(
                replicas=3,
                max_surge=1,
                sts_replicas=4,
                sts_partition=3,
                sts_replicas_annotation=4,
                states=[OLD] * 4,
            ),
            3,
            4,
        ),
    ],
)
def test_rollout_parameters(case: str, given_: RolloutInput, partition: int, replicas: int) -> None:
    decision = rollout_parameters(given_, set_name="lws")
    assert (decision.partition, decision.replicas) == (partition, replicas), case


def test_documented_walkthrough_r4_unavailable2_surge2() -> None:
    """The upstream docs' table: R=4, maxUnavailable=2, maxSurge=2 -> partition 4,2,0; replicas 6,6,4."""
    common = {"replicas": 4, "max_surge": 2, "max_unavailable": 2, "spec_partition": 0}
    # The spec changes: a new revision starts the rollout.
    step1 = rollout_parameters(RolloutInput(**common, sts_replicas=4, revision_changed=True), set_name="lws")
    assert (step1.partition, step1.replicas) == (4, 6)
    # Surge groups 4,5 are created on the new revision (not ready yet): groups 2,3 may go already,
    # since the surge covers them.
    states = [OLD, OLD, OLD, OLD, NEW_DOWN, NEW_DOWN]
    step2 = rollout_parameters(
        RolloutInput(**common, sts_replicas=6, sts_partition=4, sts_replicas_annotation=4, states=states),
        set_name="lws",
    )
    assert (step2.partition, step2.replicas) == (2, 6)
    # Groups 2..5 updated and ready: the last two go, and the surge is given back at once.
    states = [OLD, OLD, OK, OK, OK, OK]
    step3 = rollout_parameters(
        RolloutInput(**common, sts_replicas=6, sts_partition=2, sts_replicas_annotation=4, states=states),
        set_name="lws",
    )
    assert (step3.partition, step3.replicas) == (0, 4)
    assert step3.surge_events == ("deleting surge replicas from lws-4 to lws-5",)
    # At rest again.
    step4 = rollout_parameters(
        RolloutInput(**common, sts_replicas=4, sts_partition=0, sts_replicas_annotation=4, states=[OK] * 4),
        set_name="lws",
    )
    assert (step4.partition, step4.replicas) == (0, 4)


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "unready", "expected"),
    [
        (4, 2, 2, 4, 6),  # more unready than surge: full burst
        (4, 2, 2, 2, 4),  # unready fit in the budget: no surge needed
        (4, 2, 1, 2, 5),  # one surge group still covers the gap
        (4, 0, 1, 3, 4),  # no surge configured
    ],
)
def test_rolling_update_replicas(
    replicas: int, surge: int, unavailable: int, unready: int, expected: int
) -> None:
    assert rolling_update_replicas(replicas, surge, unavailable, unready) == expected


def test_partition_never_moves_up() -> None:
    assert rolling_update_partition([OLD, OLD, OLD, OLD], 4, 1, current_partition=1) == 1


def test_tail_and_unready_counts() -> None:
    assert continuous_ready_tail([OLD, OK, NEW_DOWN, OK, OK]) == 2
    assert unready_groups([OK, OLD], 4) == 3  # missing groups count as unready


def test_partition_event_messages() -> None:
    assert partition_event(4, 3) == "Updating replica 3"
    assert partition_event(4, 2) == "Updating replicas 2 to 3 (inclusive)"
    assert partition_event(2, 2) is None


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [(4, 0, 1, 1), (4, 2, 2, 4), (10, "25%", "25%", 5), (4, 0, 0, 1), (3, "50%", "50%", 3)],
)
def test_leader_statefulset_max_unavailable(
    replicas: int, surge: object, unavailable: object, expected: int
) -> None:
    assert leader_max_unavailable(replicas, surge, unavailable) == expected  # type: ignore[arg-type]


@given(
    replicas=st.integers(1, 12),
    surge=st.integers(0, 12),
    unavailable=st.integers(0, 12),
    spec_partition=st.integers(0, 12),
    data=st.data(),
)
def test_rollout_invariants(
    replicas: int, surge: int, unavailable: int, spec_partition: int, data: st.DataObject
) -> None:
    """Whatever the group states, the partition respects the spec and never exceeds the current one
    (unless the spec partition forces it), and replicas stay within [R, R + surge]."""
    sts_replicas = data.draw(st.integers(replicas, replicas + min(surge, replicas)))
    current = data.draw(st.integers(0, sts_replicas))
    states = data.draw(
        st.lists(st.sampled_from([OK, OLD, DOWN, NEW_DOWN]), min_size=sts_replicas, max_size=sts_replicas)
    )
    decision = rollout_parameters(
        RolloutInput(
            replicas=replicas,
            max_surge=surge,
            max_unavailable=max(unavailable, 1),
            spec_partition=spec_partition,
            sts_replicas=sts_replicas,
            sts_partition=current,
            sts_replicas_annotation=replicas,
            states=states,
        )
    )
    assert decision.partition >= spec_partition
    assert decision.partition <= max(current, spec_partition)
    assert replicas <= decision.replicas <= replicas + min(surge, replicas)
