"""The DisaggregatedSet rollout planner: the next replica counts of the old and new revisions, per role.

Stateless, as upstream's (``pkg/controllers/disaggregatedset/planner.go``): from the replicas each role had
when the rollout started (``initial_old``), has now on the old revisions (``current_old``) and the new one
(``current_new``), and should have (``target``), :func:`next_step` derives where the rollout is and returns
the next state, or ``None`` when it is done. The roles move in lockstep along a linear interpolation:

* new side, step i: ``ceil(i * target / total_steps)``, i one past the *least* advanced role;
* old side, step i: ``initial_old - floor(i * initial_old / total_steps)``, i one past the *most* advanced;
* ``total_steps = max over roles of ceil(max(initial_old, target) / batch)``, where ``batch`` is maxSurge,
  or maxUnavailable (at least 1) when maxSurge is 0.

Each step changes either the old or the new side, never both, except a forced drain. The order of attempts
is upstream's: done; correct an old side above its initial count; drain everything once the new side is at
target; scale up if ``old + next_new <= target + maxSurge`` for every role; drain proportionally, never below
``target - maxUnavailable - current_new``; force a drain. No revision is ever left with some roles at zero
and others not (orphan prevention).

The arithmetic is upstream's float64 arithmetic (``int(float(a) * float(b) / float(c))``), so the step
sequences are upstream's exactly; the tests replay upstream's tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Replicas = list[int]


@dataclass(frozen=True)
class RollingUpdateConfig:
    """One role's resolved maxSurge and maxUnavailable (absolute numbers)."""

    max_surge: int = 1
    max_unavailable: int = 0


@dataclass(frozen=True)
class Step:
    """The replicas every role should have: ``old`` summed over the old revisions, ``new`` on the new one."""

    old: Replicas
    new: Replicas


def default_configs(roles: int) -> list[RollingUpdateConfig]:
    """Upstream's default for a role without ``rollingUpdateConfiguration``: maxSurge 1, maxUnavailable 0."""
    return [RollingUpdateConfig(1, 0) for _ in range(roles)]


def batch_size(max_surge: int, max_unavailable: int) -> int:
    """Replicas added per ideal step: maxSurge, else maxUnavailable, at least 1."""
    return max_surge if max_surge > 0 else max(1, max_unavailable)


def total_steps(
    initial_old: Sequence[int], target: Sequence[int], config: Sequence[RollingUpdateConfig]
) -> int:
    """The number of ideal scale-up batches: per role ``ceil(max(initial_old, target) / batch)``, the max."""
    steps = 0
    for old, tgt, cfg in zip(initial_old, target, config, strict=True):
        batch = batch_size(cfg.max_surge, cfg.max_unavailable)
        steps = max(steps, (max(old, tgt, 0) + batch - 1) // batch)
    return steps


def _go_int(value: float) -> int:
    # Go's int(float64): truncation toward zero.
    return int(value)


def next_new_replicas(target: Sequence[int], current_new: Sequence[int], steps: int) -> Replicas:
    """The new side one step past the least advanced role (never below what it has, never above target)."""
    if steps == 0:
        return list(target)

    def step_index(current: int, tgt: int) -> int:
        return steps if tgt == 0 else _go_int(float(current) * float(steps) / float(tgt))

    next_index = min([steps, *(step_index(c, t) for c, t in zip(current_new, target, strict=True))]) + 1
    result = []
    for tgt, current in zip(target, current_new, strict=True):
        computed = min(math.ceil(float(next_index) * float(tgt) / float(steps)), tgt)
        result.append(max(computed, current))
    return result


def next_old_replicas(initial_old: Sequence[int], current_old: Sequence[int], steps: int) -> Replicas:
    """The old side one step past the most advanced role (never above what it has)."""
    if steps == 0:
        return [0] * len(initial_old)
    max_index = 0
    for initial, current in zip(initial_old, current_old, strict=True):
        if initial == 0:
            continue
        max_index = max(max_index, _go_int(float(initial - current) * float(steps) / float(initial)))
    next_index = max_index + 1
    result = []
    for initial, current in zip(initial_old, current_old, strict=True):
        computed = max(0, initial - math.floor(float(next_index) * float(initial) / float(steps)))
        result.append(min(computed, current))
    return result


def _correct_abnormal(
    current_old: Sequence[int], current_new: Sequence[int], initial_old: Sequence[int]
) -> Step | None:
    expected = [min(i, c) for i, c in zip(initial_old, current_old, strict=True)]
    if any(c > e for c, e in zip(current_old, expected, strict=True)):
        return Step(expected, list(current_new))
    return None


def is_complete(current_old: Sequence[int], current_new: Sequence[int], target: Sequence[int]) -> bool:
    """No old replicas left and every role at (or above) its target."""
    return all(o == 0 and n >= t for o, n, t in zip(current_old, current_new, target, strict=True))


def _new_at_target(current_new: Sequence[int], target: Sequence[int]) -> bool:
    return all(n >= t for n, t in zip(current_new, target, strict=True))


def _can_scale_up(
    current_old: Sequence[int],
    next_new: Sequence[int],
    target: Sequence[int],
    config: Sequence[RollingUpdateConfig],
) -> bool:
    return all(
        t == 0 or o + n <= t + cfg.max_surge
        for o, n, t, cfg in zip(current_old, next_new, target, config, strict=True)
    )


def _min_old(
    initial_old: Sequence[int],
    current_new: Sequence[int],
    target: Sequence[int],
    config: Sequence[RollingUpdateConfig],
) -> Replicas:
    return [
        max(0, t - cfg.max_unavailable - n) if i >= t else 0
        for i, n, t, cfg in zip(initial_old, current_new, target, config, strict=True)
    ]


def _can_drain_all(
    next_new: Sequence[int],
    initial_old: Sequence[int],
    target: Sequence[int],
    config: Sequence[RollingUpdateConfig],
) -> bool:
    return all(
        n >= t - cfg.max_unavailable
        for n, i, t, cfg in zip(next_new, initial_old, target, config, strict=True)
        if i >= t
    )


def _prevent_orphans(
    next_old: Replicas,
    current_new: Sequence[int],
    initial_old: Sequence[int],
    target: Sequence[int],
    config: Sequence[RollingUpdateConfig],
) -> None:
    """Never leave an old revision with some roles drained and others not: drain all, or keep 1 each."""
    draining = [n for n, i in zip(next_old, initial_old, strict=True) if i != 0]
    if not any(n == 0 for n in draining) or all(n == 0 for n in draining):
        return
    if _can_drain_all(current_new, initial_old, target, config):
        next_old[:] = [0] * len(next_old)
        return
    for i, initial in enumerate(initial_old):
        if next_old[i] == 0 and initial > 0:
            next_old[i] = 1


def _try_scale_up(
    current_old: Sequence[int],
    current_new: Sequence[int],
    next_new: Sequence[int],
    target: Sequence[int],
    config: Sequence[RollingUpdateConfig],
) -> Step | None:
    if not any(n > c for n, c in zip(next_new, current_new, strict=True)):
        return None
    if not _can_scale_up(current_old, next_new, target, config):
        return None
    return Step(list(current_old), list(next_new))


def _try_proportional_drain(
    initial_old: Sequence[int],
    current_old: Sequence[int],
    current_new: Sequence[int],
    target: Sequence[int],
    min_old: Sequence[int],
    steps: int,
    config: Sequence[RollingUpdateConfig],
) -> Step | None:
    next_old = [
        max(n, m) for n, m in zip(next_old_replicas(initial_old, current_old, steps), min_old, strict=True)
    ]
    _prevent_orphans(next_old, current_new, initial_old, target, config)
    if not any(n < c for n, c in zip(next_old, current_old, strict=True)):
        return None
    return Step(next_old, list(current_new))


def _try_force_drain(
    current_old: Sequence[int],
    next_new: Sequence[int],
    initial_old: Sequence[int],
    target: Sequence[int],
    config: Sequence[RollingUpdateConfig],
) -> Step | None:
    drained = []
    for o, n, i, t, cfg in zip(current_old, next_new, initial_old, target, config, strict=True):
        value = max(0, min(o, t + cfg.max_surge - n))
        if i >= t:
            value = max(value, 0, t - cfg.max_unavailable - n)
        drained.append(value)
    if not any(d < o for d, o in zip(drained, current_old, strict=True)):
        return None
    _prevent_orphans(drained, next_new, initial_old, target, config)
    return Step(drained, list(next_new))


def next_step(
    initial_old: Sequence[int],
    current_old: Sequence[int],
    current_new: Sequence[int],
    target: Sequence[int],
    config: Sequence[RollingUpdateConfig],
) -> Step | None:
    """The next state of a rollout, or ``None`` when it is complete (upstream's ``ComputeNextStep``).

    Every sequence holds one entry per role, in the same role order.
    """
    if is_complete(current_old, current_new, target):
        return None
    steps = total_steps(initial_old, target, config)
    if steps == 0:
        return None
    corrected = _correct_abnormal(current_old, current_new, initial_old)
    if corrected is not None:
        return corrected
    if _new_at_target(current_new, target):
        return Step([0] * len(initial_old), list(current_new))
    next_new = next_new_replicas(target, current_new, steps)
    min_old = _min_old(initial_old, current_new, target, config)
    return (
        _try_scale_up(current_old, current_new, next_new, target, config)
        or _try_proportional_drain(initial_old, current_old, current_new, target, min_old, steps, config)
        or _try_force_drain(current_old, next_new, initial_old, target, config)
    )


def all_steps(
    initial_old: Sequence[int], target: Sequence[int], config: Sequence[RollingUpdateConfig]
) -> list[Step]:
    """A whole rollout, each step applied at once (upstream's ``ComputeAllSteps``); the first is the start."""
    steps = [Step(list(initial_old), [0] * len(initial_old))]
    current_old, current_new = list(initial_old), [0] * len(initial_old)
    limit = max([0, *initial_old, *target]) * 2 + 10
    for _ in range(limit):
        step = next_step(initial_old, current_old, current_new, target, config)
        if step is None:
            break
        steps.append(step)
        current_old, current_new = step.old, step.new
    return steps
