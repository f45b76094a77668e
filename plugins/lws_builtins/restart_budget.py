"""Restart budget and backoff: bound how often a failing group is recreated, and space the recreations out.

Upstream recreates a failing group at once, every time, forever: a group whose init container crashes can
be rebuilt thirty times in ninety seconds (upstream issue #1048). With this plugin a LeaderWorkerSet can
opt in to a budget and an exponential backoff through annotations. Without any of them the plugin does
nothing and upstream's behaviour is unchanged.

Settings (annotations on the LeaderWorkerSet; they are read live, so changing them rolls nothing):

``restart.lws.x-k8s.io/max-group-restarts``
    How many times one group may be recreated. Once a group has been recreated that many times, its next
    failure marks it failed instead (event ``GroupFailed``, ``status.groupRestarts``); its pods are left as
    they are so you can inspect them. Absent: no limit. ``0``: never recreate.
``restart.lws.x-k8s.io/backoff-seconds`` (default ``10``)
    The wait before recreating a group that was already recreated once; it doubles with every further
    recreation: 10 s, 20 s, 40 s... The first recreation is immediate. ``0`` turns the backoff off.
``restart.lws.x-k8s.io/max-backoff-seconds`` (default ``300``)
    The longest wait, however many recreations came before.
``restart.lws.x-k8s.io/reset-after-seconds`` (default ``3600``)
    A group that goes this long without being recreated gets a clean slate: its count starts again from
    zero (a failed group is never reset: raise the limit or remove it to revive it). Must be longer than
    the maximum backoff. ``0``: never reset. Pick a window longer than your group takes to start and fail,
    or a group that fails slowly will never use up its budget.

The wait between recreation ``n`` (``n >= 1``) and recreation ``n + 1`` is
``min(backoff * 2**(n - 1), max-backoff)`` seconds, counted from the last recreation; a failure seen
earlier is held (``wait``) and the operator retries when the wait is over.

Example::

    metadata:
      annotations:
        restart.lws.x-k8s.io/max-group-restarts: "5"
        restart.lws.x-k8s.io/backoff-seconds: "30"
        restart.lws.x-k8s.io/max-backoff-seconds: "600"

The budget applies to every restart policy that recreates groups (``RecreateGroupOnPodRestart``,
``RecreateGroupAfterStart`` and plugin-defined ones); with ``restartPolicy: None`` the settings are rejected,
since nothing would ever be recreated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from lws.plugin import (
    FieldError,
    GroupRestartState,
    LeaderWorkerSet,
    RestartDecision,
    RestartEvent,
    Settings,
    annotation_path,
    hookimpl,
)
from lws.plugin import constants as c

SETTINGS = Settings("restart_budget", prefix="restart")
MAX_RESTARTS = SETTINGS.integer(
    "max-group-restarts", help="how many times one group may be recreated before it is marked failed"
)
BACKOFF = SETTINGS.integer(
    "backoff-seconds", default=10, help="wait before the second recreation of a group; doubles after each"
)
MAX_BACKOFF = SETTINGS.integer(
    "max-backoff-seconds", default=300, help="the longest wait between recreations"
)
RESET_AFTER = SETTINGS.integer(
    "reset-after-seconds",
    default=3600,
    help="a group not recreated for this long starts counting again from zero (0: never)",
)

# 2**32 seconds is over a century: a larger exponent can only hit the cap.
_MAX_EXPONENT = 32


@dataclass(frozen=True)
class Budget:
    """A LeaderWorkerSet's restart budget, in whole seconds."""

    max_restarts: int | None
    backoff: int
    max_backoff: int
    reset_after: int


def budget_of(annotations: Mapping[str, str]) -> Budget | None:
    """The budget a LeaderWorkerSet asks for, or ``None`` when it sets none of the settings."""
    if not SETTINGS.present(annotations):
        return None
    return Budget(
        max_restarts=MAX_RESTARTS.find(annotations),
        backoff=BACKOFF.require(annotations),
        max_backoff=MAX_BACKOFF.require(annotations),
        reset_after=RESET_AFTER.require(annotations),
    )


def backoff_delay(restarts: int, backoff: int, max_backoff: int) -> int:
    """Seconds to wait after the last recreation before the next one, once ``restarts`` recreations ran."""
    if restarts <= 0 or backoff <= 0:
        return 0
    growth: int = 2 ** min(restarts - 1, _MAX_EXPONENT)
    return min(backoff * growth, max_backoff)


def review(
    decision: RestartDecision, state: GroupRestartState, budget: Budget, now: datetime, group: str
) -> RestartDecision | None:
    """Bound and delay a ``recreate`` decision; ``None`` keeps the decision as it is.

    :param state: the group's recreation history as the host stores it.
    :param group: how messages name the group, e.g. ``group 2 of LeaderWorkerSet default/vllm``.
    """
    if decision.action != "recreate":
        return None
    restarts, reset = state.restarts, False
    if (
        budget.reset_after > 0
        and not state.failed
        and restarts > 0
        and state.last_recreate is not None
        and now - state.last_recreate >= timedelta(seconds=budget.reset_after)
    ):
        restarts, reset = 0, True
    if budget.max_restarts is not None and restarts >= budget.max_restarts:
        return RestartDecision(
            "fail",
            f"{group} was recreated {restarts} time{'' if restarts == 1 else 's'}, the limit set by "
            f"{MAX_RESTARTS.key}={budget.max_restarts}; it is left as it is for inspection. Fix the cause, "
            f"then raise or remove the limit to recreate it again ({decision.reason})",
        )
    delay = backoff_delay(restarts, budget.backoff, budget.max_backoff)
    if delay and state.last_recreate is not None:
        not_before = state.last_recreate + timedelta(seconds=delay)
        if now < not_before:
            return RestartDecision(
                "wait",
                f"{group} backing off: recreation {restarts + 1} not before {not_before.isoformat()} "
                f"({delay}s after the last one; {BACKOFF.key}={budget.backoff}) ({decision.reason})",
                not_before=not_before,
            )
    if reset:
        return replace(
            decision,
            reason=f"{decision.reason} (restart count reset: {group} was not recreated for "
            f"{budget.reset_after}s or more)",
            reset_count=True,
        )
    return None


def group_name(event: RestartEvent) -> str:
    return f"group {event.group_index} of LeaderWorkerSet {event.lws.namespace}/{event.lws.name}"


@hookimpl
def lws_review_restart(decision: RestartDecision, event: RestartEvent) -> RestartDecision | None:
    """Apply the set's budget and backoff to a recreation; no settings, no change."""
    budget = budget_of(event.lws.annotations)
    if budget is None:
        return None
    return review(decision, event.state, budget, event.now, group_name(event))


@hookimpl
def lws_validate(lws: LeaderWorkerSet, old: LeaderWorkerSet | None) -> list[FieldError]:
    """Well-formed numbers, a cap no smaller than the base, a reset window longer than the cap."""
    annotations = lws.annotations
    errors = SETTINGS.validate(annotations)
    present = SETTINGS.present(annotations)
    if errors or not present:
        return errors
    budget = budget_of(annotations)
    assert budget is not None
    if budget.max_backoff < budget.backoff:
        errors.append(
            FieldError(
                annotation_path(MAX_BACKOFF.key),
                f"must be at least {BACKOFF.key} ({budget.backoff})",
                value=str(budget.max_backoff),
            )
        )
    if 0 < budget.reset_after <= budget.max_backoff:
        errors.append(
            FieldError(
                annotation_path(RESET_AFTER.key),
                f"must be 0 (never reset) or longer than {MAX_BACKOFF.key} ({budget.max_backoff}s): "
                "otherwise a group that keeps failing would have its count reset while it waits",
                value=str(budget.reset_after),
            )
        )
    if lws.restart_policy == c.RESTART_NONE:
        for key in sorted(present):
            errors.append(
                FieldError(
                    annotation_path(key),
                    "has no effect with restartPolicy None, which never recreates groups: remove it, or set "
                    "spec.leaderWorkerTemplate.restartPolicy to RecreateGroupOnPodRestart or "
                    "RecreateGroupAfterStart",
                    type="Forbidden",
                )
            )
    return errors
