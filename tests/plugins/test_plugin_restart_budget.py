"""restart_budget: the budget and backoff decisions as a table over an injected clock, their maths as
properties, and the plugin in the full restart pipeline (restart policy, then reviewers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lws_builtins.restart_budget import Budget, backoff_delay, review

from lws.hooks.types import GroupRestartState, RestartDecision
from lws.plugin_testing import admission_errors, lws_manifest, restart_event

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
GROUP = "group 0 of LeaderWorkerSet default/demo"
RECREATE = RestartDecision.recreate("container main of pod demo-0-1 restarted")
BUDGET = Budget(max_restarts=3, backoff=10, max_backoff=60, reset_after=600)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def state(restarts: int, last: float | None = 0, failed: bool = False) -> GroupRestartState:
    return GroupRestartState(
        restarts=restarts, last_recreate=None if last is None else at(last), failed=failed
    )


@pytest.mark.parametrize(
    ("case", "st_", "now", "action", "not_before"),
    [
        ("first failure: immediate", state(0, None), 5, None, None),
        ("after 1 recreation, inside the 10s backoff", state(1), 9, "wait", 10),
        ("after 1 recreation, backoff over", state(1), 10, None, None),
        ("after 2 recreations the wait doubles", state(2), 19, "wait", 20),
        ("after 2 recreations, backoff over", state(2), 20, None, None),
        ("budget of 3 spent", state(3), 500, "fail", None),
        ("failed group stays failed after the reset window", state(3, failed=True), 10_000, "fail", None),
        ("healthy for the reset window: count reset, recreate now", state(2), 600, "recreate", None),
        ("budget spent but healthy for the window: forgiven", state(3), 600, "recreate", None),
    ],
)
def test_review_table(case, st_, now, action, not_before):
    result = review(RECREATE, st_, BUDGET, at(now), GROUP)
    if action is None:
        assert result is None, case
        return
    assert result is not None, case
    assert result.action == action, case
    assert result.not_before == (None if not_before is None else at(not_before)), case
    assert result.reset_count == (action == "recreate"), case


def test_cap_limits_the_wait():
    budget = Budget(max_restarts=None, backoff=10, max_backoff=60, reset_after=0)
    result = review(RECREATE, state(10), budget, at(1), GROUP)
    assert result is not None and result.not_before == at(60)


def test_reset_after_zero_never_forgives():
    budget = Budget(max_restarts=2, backoff=0, max_backoff=0, reset_after=0)
    result = review(RECREATE, state(2), budget, at(10**7), GROUP)
    assert result is not None and result.action == "fail"


def test_other_decisions_pass_through():
    assert review(RestartDecision.ignore("group is still starting"), state(99), BUDGET, at(0), GROUP) is None


def test_fail_message_names_group_count_and_setting():
    result = review(RECREATE, state(3), BUDGET, at(30), GROUP)
    assert result is not None
    assert "group 0 of LeaderWorkerSet default/demo was recreated 3 times" in result.reason
    assert "restart.lws.x-k8s.io/max-group-restarts=3" in result.reason
    assert RECREATE.reason in result.reason


@given(
    restarts=st.integers(min_value=0, max_value=200),
    backoff=st.integers(min_value=0, max_value=3600),
    cap=st.integers(min_value=0, max_value=86_400),
)
def test_backoff_is_monotonic_and_capped(restarts, backoff, cap):
    delay = backoff_delay(restarts, backoff, cap)
    assert 0 <= delay <= max(cap, 0)
    assert backoff_delay(restarts + 1, backoff, cap) >= delay
    if restarts >= 1 and backoff * 2 ** min(restarts - 1, 40) <= cap:
        assert delay == backoff * 2 ** (restarts - 1)


@given(
    restarts=st.integers(min_value=0, max_value=50),
    max_restarts=st.integers(min_value=0, max_value=50),
    elapsed=st.integers(min_value=0, max_value=10_000),
)
def test_budget_decides_fail_exactly_when_spent(restarts, max_restarts, elapsed):
    budget = Budget(max_restarts=max_restarts, backoff=10, max_backoff=300, reset_after=0)
    result = review(RECREATE, state(restarts), budget, at(elapsed), GROUP)
    failed = result is not None and result.action == "fail"
    assert failed == (restarts >= max_restarts)
    if result is not None and result.action == "wait":
        assert result.not_before is not None and result.not_before > at(elapsed)


def manifest(**annotations: str):
    return lws_manifest(size=3, annotations=annotations, restart_policy="RecreateGroupOnPodRestart")


def test_full_pipeline_recreates_then_backs_off_then_fails(lws_hooks):
    obj = manifest(
        **{"restart.lws.x-k8s.io/max-group-restarts": "2", "restart.lws.x-k8s.io/backoff-seconds": "30"}
    )
    first = lws_hooks.decide_restart(restart_event(obj, now=at(0)))
    assert first[0].action == "recreate" and first[1] == "restart_policies"
    waiting, who = lws_hooks.decide_restart(restart_event(obj, state=state(1), now=at(5)))
    assert (waiting.action, waiting.not_before, who) == ("wait", at(30), "restart_budget")
    spent, who = lws_hooks.decide_restart(restart_event(obj, state=state(2), now=at(1000)))
    assert (spent.action, who) == ("fail", "restart_budget")


def test_without_settings_upstream_behaviour_is_unchanged(lws_hooks):
    decision, who = lws_hooks.decide_restart(restart_event(manifest(), state=state(500), now=at(1)))
    assert (decision.action, who) == ("recreate", "restart_policies")


@pytest.mark.parametrize(
    ("annotations", "path", "detail"),
    [
        (
            {"restart.lws.x-k8s.io/max-group-restarts": "-1"},
            "max-group-restarts",
            "must be a non-negative integer",
        ),
        (
            {"restart.lws.x-k8s.io/backoff-seconds": "ten"},
            "backoff-seconds",
            "must be a non-negative integer",
        ),
        ({"restart.lws.x-k8s.io/max-backoff-seconds": "5"}, "max-backoff-seconds", "must be at least"),
        ({"restart.lws.x-k8s.io/reset-after-seconds": "100"}, "reset-after-seconds", "longer than"),
        (
            {"restart.lws.x-k8s.io/max-restarts": "3"},
            "max-restarts",
            "its settings are: restart.lws.x-k8s.io/max-group",
        ),
    ],
)
def test_validation(lws_hooks, annotations, path, detail):
    errors = admission_errors(manifest(**annotations), lws_hooks)
    assert [e.path for e in errors] == [f"metadata.annotations.restart.lws.x-k8s.io/{path}"]
    assert detail in errors[0].detail
    assert errors[0].origin == "restart_budget"


def test_settings_are_rejected_with_restart_policy_none(lws_hooks):
    obj = lws_manifest(annotations={"restart.lws.x-k8s.io/max-group-restarts": "3"}, restart_policy="None")
    errors = admission_errors(obj, lws_hooks)
    assert len(errors) == 1 and errors[0].type == "Forbidden"
    assert "restartPolicy None" in errors[0].detail


def test_valid_settings_are_admitted(lws_hooks):
    obj = manifest(
        **{
            "restart.lws.x-k8s.io/max-group-restarts": "0",
            "restart.lws.x-k8s.io/backoff-seconds": "30",
            "restart.lws.x-k8s.io/max-backoff-seconds": "600",
            "restart.lws.x-k8s.io/reset-after-seconds": "0",
        }
    )
    assert admission_errors(obj, lws_hooks) == []
