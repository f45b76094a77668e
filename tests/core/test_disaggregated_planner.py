"""The DisaggregatedSet rollout planner replays upstream's tables (planner_test.go, and the step sequences of
the "Rolling Update Step Tracking" e2e cases) exactly, and holds upstream's invariants for any input:
``old + new <= max(source, target) + surge`` at every step, no revision ever has some roles drained and
others not, and every rollout terminates at the target."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lws.core.disaggregated.planner import (
    RollingUpdateConfig,
    Step,
    all_steps,
    batch_size,
    default_configs,
    next_new_replicas,
    next_old_replicas,
    next_step,
    total_steps,
)

S = RollingUpdateConfig


def surge(*values: int) -> list[RollingUpdateConfig]:
    return [S(max_surge=v, max_unavailable=0) for v in values]


def unavailable(*values: int) -> list[RollingUpdateConfig]:
    return [S(max_surge=0, max_unavailable=v) for v in values]


def seq(*states: tuple[tuple[int, ...], tuple[int, ...]]) -> list[Step]:
    return [Step(list(old), list(new)) for old, new in states]


# --- upstream's TestComputeAllSteps_ExactSequence --------------------------------------------------------

EXACT = {
    "small_1_1_surge1": (
        (1, 1),
        (1, 1),
        default_configs(2),
        [((1, 1), (0, 0)), ((1, 1), (1, 1)), ((0, 0), (1, 1))],
    ),
    "small_2_2_surge1": (
        (2, 2),
        (2, 2),
        default_configs(2),
        [((2, 2), (0, 0)), ((2, 2), (1, 1)), ((1, 1), (1, 1)), ((1, 1), (2, 2)), ((0, 0), (2, 2))],
    ),
    "small_3_3_surge1": (
        (3, 3),
        (3, 3),
        default_configs(2),
        [
            ((3, 3), (0, 0)),
            ((3, 3), (1, 1)),
            ((2, 2), (1, 1)),
            ((2, 2), (2, 2)),
            ((1, 1), (2, 2)),
            ((1, 1), (3, 3)),
            ((0, 0), (3, 3)),
        ],
    ),
    "medium_6_2_surge1": (
        (6, 2),
        (6, 2),
        default_configs(2),
        [
            ((6, 2), (0, 0)),
            ((6, 2), (1, 1)),
            ((5, 2), (1, 1)),
            ((5, 2), (2, 1)),
            ((4, 2), (2, 1)),
            ((4, 2), (3, 1)),
            ((3, 1), (3, 1)),
            ((3, 1), (4, 2)),
            ((2, 1), (4, 2)),
            ((2, 1), (5, 2)),
            ((1, 1), (5, 2)),
            ((1, 1), (6, 2)),
            ((0, 0), (6, 2)),
        ],
    ),
    "medium_6_2_surge2": (
        (6, 2),
        (6, 2),
        surge(2, 2),
        [
            ((6, 2), (0, 0)),
            ((6, 2), (2, 1)),
            ((4, 2), (2, 1)),
            ((4, 2), (4, 2)),
            ((2, 1), (4, 2)),
            ((2, 1), (6, 2)),
            ((0, 0), (6, 2)),
        ],
    ),
    "medium_6_4_surge2": (
        (6, 4),
        (6, 4),
        surge(2, 2),
        [
            ((6, 4), (0, 0)),
            ((6, 4), (2, 2)),
            ((4, 3), (2, 2)),
            ((4, 3), (4, 3)),
            ((2, 2), (4, 3)),
            ((2, 2), (6, 4)),
            ((0, 0), (6, 4)),
        ],
    ),
    "asymmetric_10_1_surge1": (
        (10, 1),
        (10, 1),
        default_configs(2),
        [((10, 1), (0, 0)), ((10, 1), (1, 1))]
        + [s for k in range(9, 0, -1) for s in (((k, 1), (10 - k, 1)), ((k, 1), (11 - k, 1)))]
        + [((0, 0), (10, 1))],
    ),
    "asymmetric_1_10_surge1": (
        (1, 10),
        (1, 10),
        default_configs(2),
        [((1, 10), (0, 0)), ((1, 10), (1, 1))]
        + [s for k in range(9, 0, -1) for s in (((1, k), (1, 10 - k)), ((1, k), (1, 11 - k)))]
        + [((0, 0), (1, 10))],
    ),
    "large_10_10_surge1": (
        (10, 10),
        (10, 10),
        default_configs(2),
        [((10, 10), (0, 0)), ((10, 10), (1, 1))]
        + [s for k in range(9, 0, -1) for s in (((k, k), (10 - k, 10 - k)), ((k, k), (11 - k, 11 - k)))]
        + [((0, 0), (10, 10))],
    ),
    "large_10_10_surge3": (
        (10, 10),
        (10, 10),
        surge(3, 3),
        [
            ((10, 10), (0, 0)),
            ((10, 10), (3, 3)),
            ((8, 8), (3, 3)),
            ((8, 8), (5, 5)),
            ((5, 5), (8, 8)),
            ((3, 3), (8, 8)),
            ((3, 3), (10, 10)),
            ((0, 0), (10, 10)),
        ],
    ),
    "large_12_6_surge2": (
        (12, 6),
        (12, 6),
        surge(2, 2),
        [
            ((12, 6), (0, 0)),
            ((12, 6), (2, 1)),
            ((10, 5), (2, 1)),
            ((10, 5), (4, 2)),
            ((8, 4), (4, 2)),
            ((8, 4), (6, 3)),
            ((6, 3), (6, 3)),
            ((6, 3), (8, 4)),
            ((4, 2), (8, 4)),
            ((4, 2), (10, 5)),
            ((2, 1), (10, 5)),
            ((2, 1), (12, 6)),
            ((0, 0), (12, 6)),
        ],
    ),
    "scale_up_1_1_to_3_3": (
        (1, 1),
        (3, 3),
        default_configs(2),
        [((1, 1), (0, 0)), ((1, 1), (1, 1)), ((1, 1), (2, 2)), ((1, 1), (3, 3)), ((0, 0), (3, 3))],
    ),
    "scale_up_4_4_to_6_6": (
        (4, 4),
        (6, 6),
        default_configs(2),
        [
            ((4, 4), (0, 0)),
            ((4, 4), (1, 1)),
            ((4, 4), (2, 2)),
            ((4, 4), (3, 3)),
            ((3, 3), (4, 4)),
            ((2, 2), (5, 5)),
            ((1, 1), (6, 6)),
            ((0, 0), (6, 6)),
        ],
    ),
    "scale_down_5_5_to_2_2": (
        (5, 5),
        (2, 2),
        default_configs(2),
        [
            ((5, 5), (0, 0)),
            ((4, 4), (0, 0)),
            ((3, 3), (0, 0)),
            ((2, 2), (0, 0)),
            ((2, 2), (1, 1)),
            ((1, 1), (1, 1)),
            ((1, 1), (2, 2)),
            ((0, 0), (2, 2)),
        ],
    ),
    "mixed_scale_3_5_to_5_3": (
        (3, 5),
        (5, 3),
        default_configs(2),
        [
            ((3, 5), (0, 0)),
            ((3, 4), (0, 0)),
            ((2, 3), (0, 0)),
            ((2, 3), (1, 1)),
            ((2, 2), (1, 1)),
            ((2, 2), (2, 2)),
            ((2, 2), (3, 2)),
            ((1, 1), (3, 2)),
            ((1, 1), (4, 3)),
            ((1, 1), (5, 3)),
            ((0, 0), (5, 3)),
        ],
    ),
    "asymmetric_2_4_to_4_2": (
        (2, 4),
        (4, 2),
        default_configs(2),
        [
            ((2, 4), (0, 0)),
            ((2, 3), (0, 0)),
            ((1, 2), (0, 0)),
            ((1, 2), (1, 1)),
            ((1, 2), (2, 1)),
            ((1, 1), (2, 1)),
            ((1, 1), (3, 2)),
            ((1, 1), (4, 2)),
            ((0, 0), (4, 2)),
        ],
    ),
    "proportional_3_5_to_4_2": (
        (3, 5),
        (4, 2),
        default_configs(2),
        [
            ((3, 5), (0, 0)),
            ((3, 4), (0, 0)),
            ((2, 3), (0, 0)),
            ((2, 2), (0, 0)),
            ((2, 2), (1, 1)),
            ((2, 2), (2, 1)),
            ((1, 1), (2, 1)),
            ((1, 1), (3, 2)),
            ((1, 1), (4, 2)),
            ((0, 0), (4, 2)),
        ],
    ),
    "medium_4_4_surge2": (
        (4, 4),
        (4, 4),
        surge(2, 2),
        [((4, 4), (0, 0)), ((4, 4), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (4, 4)), ((0, 0), (4, 4))],
    ),
    "asymmetric_surge_4_6": (
        (4, 6),
        (4, 6),
        surge(2, 3),
        [((4, 6), (0, 0)), ((4, 6), (2, 3)), ((2, 3), (2, 3)), ((2, 3), (4, 6)), ((0, 0), (4, 6))],
    ),
    "asymmetric_5_3_surge2": (
        (5, 3),
        (5, 3),
        surge(2, 2),
        [
            ((5, 3), (0, 0)),
            ((5, 3), (2, 1)),
            ((4, 2), (2, 1)),
            ((3, 2), (2, 1)),
            ((3, 2), (4, 2)),
            ((2, 1), (4, 2)),
            ((2, 1), (5, 3)),
            ((0, 0), (5, 3)),
        ],
    ),
    "fresh_deploy_0_0_to_3_3": (
        (0, 0),
        (3, 3),
        default_configs(2),
        [((0, 0), (0, 0)), ((0, 0), (1, 1)), ((0, 0), (2, 2)), ((0, 0), (3, 3))],
    ),
    "empty_0_0_to_0_0": ((0, 0), (0, 0), default_configs(2), [((0, 0), (0, 0))]),
    # The e2e "Rolling Update Step Tracking" vectors (hack/plan-steps output in upstream's e2e_test.go).
    "e2e_P10_D2_to_P6_D8_surge2": (
        (10, 2),
        (6, 8),
        surge(2, 2),
        [
            ((10, 2), (0, 0)),
            ((8, 2), (0, 0)),
            ((6, 2), (0, 0)),
            ((6, 2), (2, 2)),
            ((4, 1), (2, 2)),
            ((4, 1), (3, 4)),
            ((4, 1), (4, 5)),
            ((2, 1), (4, 5)),
            ((2, 1), (5, 7)),
            ((2, 1), (6, 8)),
            ((0, 0), (6, 8)),
        ],
    ),
    "e2e_4_4_surge0_unavailable2": (
        (4, 4),
        (4, 4),
        unavailable(2, 2),
        [((4, 4), (0, 0)), ((2, 2), (0, 0)), ((2, 2), (2, 2)), ((0, 0), (2, 2)), ((0, 0), (4, 4))],
    ),
}


@pytest.mark.parametrize("name", list(EXACT))
def test_exact_sequences_are_upstreams(name: str) -> None:
    source, target, config, expected = EXACT[name]
    assert all_steps(list(source), list(target), config) == seq(*expected)


def test_the_e2e_vector_has_upstreams_eleven_states() -> None:
    assert len(EXACT["e2e_P10_D2_to_P6_D8_surge2"][3]) == 11


# --- upstream's helper tests -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_surge", "max_unavailable", "expected"),
    [(1, 0, 1), (2, 0, 2), (0, 1, 1), (0, 2, 2), (0, 0, 1), (3, 2, 3)],
)
def test_batch_size(max_surge: int, max_unavailable: int, expected: int) -> None:
    assert batch_size(max_surge, max_unavailable) == expected


@pytest.mark.parametrize(
    ("initial", "target", "config", "expected"),
    [
        ((4, 4), (4, 4), default_configs(2), 4),
        ((6, 2), (6, 2), default_configs(2), 6),
        ((4, 4), (4, 4), surge(2, 2), 2),
        ((0, 0), (3, 3), default_configs(2), 3),
    ],
)
def test_total_steps(
    initial: tuple[int, ...], target: tuple[int, ...], config: list[S], expected: int
) -> None:
    assert total_steps(initial, target, config) == expected


def test_an_old_side_above_its_initial_count_is_corrected_first() -> None:
    assert next_step([4, 4], [5, 5], [2, 2], [4, 4], default_configs(2)) == Step([4, 4], [2, 2])
    # A normal state is not "corrected".
    assert next_step([4, 4], [2, 2], [2, 2], [4, 4], default_configs(2)) != Step([2, 2], [2, 2])


@pytest.mark.parametrize(
    ("current_old", "current_new"), [((0, 0), (3, 6)), ((0, 0), (4, 7))], ids=["at-target", "above-target"]
)
def test_no_step_when_done(current_old: tuple[int, ...], current_new: tuple[int, ...]) -> None:
    assert next_step([3, 6], list(current_old), list(current_new), [3, 6], default_configs(2)) is None


def test_a_fresh_start_creates_new_replicas_of_every_role() -> None:
    step = next_step([4, 4], [4, 4], [0, 0], [4, 4], default_configs(2))
    assert step is not None and all(n > 0 for n in step.new)


def test_next_new_edge_cases() -> None:
    result = next_new_replicas([0, 4], [0, 2], 4)
    assert result[0] == 0 and result[1] > 2
    result = next_new_replicas([4, 0], [2, 0], 4)
    assert result[0] > 2 and result[1] == 0
    assert next_new_replicas([4, 4], [2, 2], 0) == [4, 4]


def test_next_old_edge_cases() -> None:
    result = next_old_replicas([0, 4], [0, 3], 4)
    assert result[0] == 0 and result[1] <= 3
    result = next_old_replicas([4, 0], [3, 0], 4)
    assert result[0] <= 3 and result[1] == 0
    assert next_old_replicas([4, 4], [2, 2], 0) == [0, 0]


def completes(steps: list[Step], target: list[int]) -> bool:
    return bool(steps) and all(o == 0 for o in steps[-1].old) and steps[-1].new == target


N_ROLE = [
    ("3role_symmetric", [3, 3, 3], [3, 3, 3], [1, 1, 1], [0, 0, 0]),
    ("3role_asymmetric", [6, 3, 2], [6, 3, 2], [2, 1, 1], [0, 0, 0]),
    ("3role_different_surge", [4, 4, 4], [4, 4, 4], [2, 1, 3], [0, 0, 0]),
    ("3role_scale_up", [2, 2, 2], [4, 4, 4], [1, 1, 1], [0, 0, 0]),
    ("3role_scale_down", [4, 4, 4], [2, 2, 2], [1, 1, 1], [0, 0, 0]),
    ("3role_fresh_deploy", [0, 0, 0], [3, 3, 3], [1, 1, 1], [0, 0, 0]),
    ("3role_unavailable", [4, 4, 4], [4, 4, 4], [0, 0, 0], [1, 1, 1]),
    ("3role_mixed_surge_unavail", [4, 4, 4], [4, 4, 4], [1, 0, 2], [0, 1, 0]),
    ("4role_symmetric", [4, 4, 4, 4], [4, 4, 4, 4], [1, 1, 1, 1], [0, 0, 0, 0]),
    ("4role_asymmetric", [8, 4, 2, 1], [8, 4, 2, 1], [2, 2, 1, 1], [0, 0, 0, 0]),
    ("4role_scale_up", [1, 1, 1, 1], [3, 3, 3, 3], [1, 1, 1, 1], [0, 0, 0, 0]),
    ("4role_scale_down", [5, 5, 5, 5], [2, 2, 2, 2], [1, 1, 1, 1], [0, 0, 0, 0]),
    ("4role_fresh_deploy", [0, 0, 0, 0], [4, 4, 4, 4], [1, 1, 1, 1], [0, 0, 0, 0]),
    ("5role_symmetric", [5] * 5, [5] * 5, [1] * 5, [0] * 5),
    ("5role_asymmetric", [10, 5, 3, 2, 1], [10, 5, 3, 2, 1], [2, 2, 1, 1, 1], [0] * 5),
    ("5role_scale_up", [1] * 5, [2] * 5, [1] * 5, [0] * 5),
    ("5role_scale_down", [6] * 5, [3] * 5, [1] * 5, [0] * 5),
    ("5role_fresh_deploy", [0] * 5, [5] * 5, [1] * 5, [0] * 5),
    ("add_role_2to3", [4, 4, 0], [4, 4, 4], [1, 1, 1], [0, 0, 0]),
    ("add_role_3to4", [3, 3, 3, 0], [3, 3, 3, 3], [1] * 4, [0] * 4),
    ("add_role_5to6", [2, 2, 2, 2, 2, 0], [2] * 6, [1] * 6, [0] * 6),
    ("remove_role_3to2", [4, 4, 4], [4, 4, 0], [1, 1, 1], [0, 0, 0]),
    ("remove_role_4to3", [3, 3, 3, 3], [3, 3, 3, 0], [1] * 4, [0] * 4),
    ("rename_role_5to5", [10, 10, 10, 10, 0, 10], [10, 10, 10, 10, 10, 0], [1] * 6, [0] * 6),
    ("scale_down_prefill_up_decode", [10, 2], [6, 8], [2, 2], [0, 0]),
    ("scale_down_both", [10, 10], [4, 4], [2, 2], [0, 0]),
    ("scale_down_asymmetric", [8, 4], [3, 2], [1, 1], [0, 0]),
    ("unavail_asymmetric_5_2", [5, 2], [5, 2], [0, 0], [1, 1]),
]


@pytest.mark.parametrize(
    ("name", "initial", "target", "surges", "unavails"), N_ROLE, ids=[c[0] for c in N_ROLE]
)
def test_n_role_rollouts_complete(
    name: str, initial: list[int], target: list[int], surges: list[int], unavails: list[int]
) -> None:
    config = [S(s, u) for s, u in zip(surges, unavails, strict=True)]
    assert completes(all_steps(initial, target, config), target)


@pytest.mark.parametrize(
    ("initial", "target", "surges"),
    [
        ([3, 3, 3], [3, 3, 3], [1, 1, 1]),
        ([4] * 4, [4] * 4, [1] * 4),
        ([5] * 5, [5] * 5, [1] * 5),
        ([10, 2], [6, 8], [2, 2]),
        ([10, 10], [4, 4], [2, 2]),
        ([8, 4], [3, 2], [1, 1]),
    ],
)
def test_n_role_surge_constraint(initial: list[int], target: list[int], surges: list[int]) -> None:
    for step in all_steps(initial, target, surge(*surges)):
        for i, (old, new) in enumerate(zip(step.old, step.new, strict=True)):
            if new:  # drain-only steps may still be above the bound while they remove old replicas
                assert old + new <= target[i] + surges[i]


@pytest.mark.parametrize(
    ("initial", "target", "unavails"),
    [
        ([4, 4], [4, 4], [1, 1]),
        ([5, 2], [5, 2], [1, 1]),
        ([2, 5], [2, 5], [1, 1]),
        ([3, 3, 3], [3, 3, 3], [1, 1, 1]),
    ],
)
def test_n_role_unavailable_constraint(initial: list[int], target: list[int], unavails: list[int]) -> None:
    steps = all_steps(initial, target, unavailable(*unavails))
    assert completes(steps, target)
    for step in steps:
        for i, (old, new) in enumerate(zip(step.old, step.new, strict=True)):
            if initial[i] >= target[i]:
                assert old + new >= target[i] - unavails[i]


def totals(steps: list[Step]) -> list[int]:
    return [sum(s.old) + sum(s.new) for s in steps]


def test_surge_keeps_capacity_and_unavailability_spends_it() -> None:
    assert min(totals(all_steps([4, 4], [4, 4], [S(1, 1), S(1, 1)]))) >= 8
    assert min(totals(all_steps([6, 6], [6, 6], surge(2, 2)))) >= 12
    assert min(totals(all_steps([6, 6], [6, 6], [S(2, 2), S(2, 2)]))) >= 12
    assert min(totals(all_steps([4, 4], [4, 4], unavailable(1, 1)))) < 8
    assert min(totals(all_steps([6, 6], [6, 6], unavailable(2, 2)))) < 12


@pytest.mark.parametrize(
    "config",
    [[S(1, 0), S(0, 1)], [S(0, 1), S(1, 0)]],
    ids=["surge-then-unavailable", "unavailable-then-surge"],
)
@pytest.mark.parametrize("source", [(4, 4), (6, 2), (2, 6), (8, 4)])
def test_mixed_surge_and_unavailable_complete(config: list[S], source: tuple[int, int]) -> None:
    assert completes(all_steps(list(source), list(source), config), list(source))


@pytest.mark.parametrize(
    ("initial", "target"), [((2, 2), (4, 4)), ((4, 4), (2, 2)), ((0, 0), (4, 4))], ids=["up", "down", "fresh"]
)
def test_unavailable_edge_cases_complete(initial: tuple[int, int], target: tuple[int, int]) -> None:
    assert completes(all_steps(list(initial), list(target), unavailable(1, 1)), list(target))


@pytest.mark.parametrize(("size", "unavail"), [(4, 1), (6, 2), (10, 5)])
def test_no_endless_unavailable_rollouts(size: int, unavail: int) -> None:
    steps = all_steps([size, size], [size, size], unavailable(unavail, unavail))
    assert len(steps) <= size * 4
    assert completes(steps, [size, size])


# --- properties ------------------------------------------------------------------------------------------

roles = st.integers(min_value=2, max_value=5)


@st.composite
def rollouts(draw: st.DrawFn) -> tuple[list[int], list[int], list[RollingUpdateConfig]]:
    n = draw(roles)
    counts = st.integers(min_value=0, max_value=12)
    initial = draw(st.lists(counts, min_size=n, max_size=n))
    target = draw(st.lists(counts, min_size=n, max_size=n))
    config = []
    for _ in range(n):
        s = draw(st.integers(min_value=0, max_value=4))
        u = draw(st.integers(min_value=0 if s else 1, max_value=4))
        config.append(S(s, u))
    return initial, target, config


@settings(max_examples=400, deadline=None)
@given(rollouts())
# Found by hypothesis: a rollout that needs every one of all_steps' iterations.
@example(([12, 0, 12], [12, 0, 1], [S(0, 1), S(0, 1), S(1, 0)]))
def test_every_rollout_terminates_at_the_target(case: tuple[list[int], list[int], list[S]]) -> None:
    initial, target, config = case
    steps = all_steps(initial, target, config)
    # all_steps stops after its iteration cap as well as when next_step says done; only the latter counts.
    # (Its cap bounds iterations, and the start is a step of its own: e.g. [12,0,12]->[12,0,1] needs all 34.)
    assert next_step(initial, steps[-1].old, steps[-1].new, target, config) is None
    assert all(o == 0 for o in steps[-1].old)
    assert all(n >= t for n, t in zip(steps[-1].new, target, strict=True))


@settings(max_examples=400, deadline=None)
@given(rollouts())
def test_capacity_never_exceeds_the_larger_of_source_and_target_plus_surge(
    case: tuple[list[int], list[int], list[S]],
) -> None:
    """The invariant upstream's step-tracking e2e checks: old + new <= max(src, tgt) + surge, per role.

    With maxSurge 0 upstream's planner may exceed it by one replica: orphan prevention keeps one old
    replica of a role whose new side was already scaled up (see the next test).
    """
    initial, target, config = case
    for step in all_steps(initial, target, config):
        for i, (old, new) in enumerate(zip(step.old, step.new, strict=True)):
            slack = 0 if config[i].max_surge else 1
            assert old + new <= max(initial[i], target[i]) + config[i].max_surge + slack


def test_with_max_surge_zero_orphan_prevention_may_hold_one_replica_beyond_the_bound() -> None:
    # Upstream's own arithmetic: the 1-replica role keeps its old replica while its new one starts, because
    # the 3-replica role cannot drain to zero yet and a revision may not be left with one role drained.
    steps = all_steps([1, 3], [1, 3], unavailable(1, 1))
    assert steps == seq(
        ((1, 3), (0, 0)),
        ((1, 2), (0, 0)),
        ((1, 2), (1, 1)),
        ((1, 1), (1, 1)),
        ((0, 0), (1, 2)),
        ((0, 0), (1, 3)),
    )
    assert max(s.old[0] + s.new[0] for s in steps) == 2


@settings(max_examples=400, deadline=None)
@given(rollouts())
def test_no_orphaned_single_role_revision(case: tuple[list[int], list[int], list[S]]) -> None:
    """Once the old revision exists in a role, it is never at 0 in some roles and above 0 in others,
    among the roles that had old replicas; likewise the new revision serves every role it targets or none."""
    initial, target, config = case
    for step in all_steps(initial, target, config):
        old = [o for o, i in zip(step.old, initial, strict=True) if i > 0]
        assert all(o == 0 for o in old) or all(o > 0 for o in old), step


@settings(max_examples=200, deadline=None)
@given(rollouts(), st.data())
def test_a_restarted_controller_continues_from_any_reached_state(
    case: tuple[list[int], list[int], list[S]], data: st.DataObject
) -> None:
    """Stateless: from any state on the path, the next step is the one the path took."""
    initial, target, config = case
    steps = all_steps(initial, target, config)
    index = data.draw(st.integers(min_value=0, max_value=len(steps) - 1))
    expected = steps[index + 1] if index + 1 < len(steps) else None
    assert next_step(initial, steps[index].old, steps[index].new, target, config) == expected
