"""`lws demo --scenario disaggregated`: a prefill/decode DisaggregatedSet rolled out in lockstep, along upstream's
planned steps, keeping its ratio; then scaled in place. Also the scenario's pure pieces."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from lws.cli.main import cli
from lws.demo.disaggregated import between, describe, follow, orphaned

PLAN = [
    (2, 4, 0, 0),
    (2, 4, 1, 1),
    (2, 3, 1, 1),
    (2, 3, 1, 2),
    (1, 2, 1, 2),
    (1, 2, 2, 3),
    (1, 1, 2, 3),
    (1, 1, 2, 4),
    (0, 0, 2, 4),
]
SEEN = re.compile(r"  seen: old (\d+) prefill \+ (\d+) decode \| new (\d+) prefill \+ (\d+) decode  \((.*)\)")


@pytest.mark.e2e
def test_the_rollout_follows_upstreams_plan_and_keeps_the_ratio() -> None:
    result = CliRunner().invoke(cli, ["demo", "--scenario", "disaggregated", "--speed", "20"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("== Step")] == [
        "== Step 1: create the prefill/decode DisaggregatedSet",
        "== Step 2: roll out a new image to both roles, in lockstep",
        "== Step 3: scale both roles, keeping the ratio",
    ]
    assert any(
        line.startswith("  done: Available after")
        and line.endswith("2 prefill and 4 decode groups ready, 8 pods")
        for line in lines
    )
    planned = [line for line in lines if line.startswith("    plan ")]
    assert [line.split(": ", 1)[1] for line in planned] == [describe(s) for s in PLAN], "upstream's 8 steps"

    seen = [SEEN.fullmatch(line) for line in lines if line.startswith("  seen: ")]
    assert all(seen), lines
    states = [tuple(int(m.group(i)) for i in range(1, 5)) for m in seen if m]
    assert states[0] == PLAN[0] and states[-1] == PLAN[-1], states
    # Each state is a planned one or between two successive planned ones, moving forward only.
    step = 0
    for state in states:
        at = follow(PLAN, step, state)
        assert at is not None and at >= step, (state, step)
        step = at if state == PLAN[at] else at - 1
        # The ratio: at a planned step, a revision runs both roles or neither.
        if state in PLAN:
            assert not orphaned(state), state
        assert state[0] + state[2] <= 3 and state[1] + state[3] <= 5, f"over maxSurge 1: {state}"
        assert state[0] + state[2] >= 2 and state[1] + state[3] >= 4, (
            f"under capacity (maxUnavailable 0): {state}"
        )
    assert any(line.startswith("  done: rolled out in") for line in lines)

    assert any(
        line.startswith("  done: 3 prefill and 6 decode groups ready")
        and line.endswith("12 pods, same revision")
        for line in lines
    )
    summary = lines[lines.index("Summary") + 1 :]
    assert [line.split()[0] for line in summary] == ["create", "rollout", "scale", "operator"]


def test_follow_accepts_the_plan_and_the_states_between_its_steps_only() -> None:
    assert follow(PLAN, 0, PLAN[0]) == 0
    assert follow(PLAN, 0, (2, 4, 1, 0)) == 1, "the new prefill child scaled before the decode one"
    assert follow(PLAN, 0, PLAN[3]) == 3, "reads may miss states: the plan is joined further on"
    assert follow(PLAN, 3, (1, 3, 1, 2)) == 4
    assert follow(PLAN, 4, PLAN[2]) is None, "never back"
    assert follow(PLAN, 0, (2, 4, 0, 1)) == 1
    assert follow(PLAN, 0, (0, 4, 0, 0)) is None, "prefill drained with nothing new: off the plan"
    assert between((1, 2), (0, 2), (2, 2)) and not between((3, 2), (0, 2), (2, 2))


def test_orphaned_names_a_revision_running_one_role_alone() -> None:
    assert orphaned((2, 4, 1, 1)) == []
    assert orphaned((0, 0, 2, 4)) == []
    assert orphaned((0, 1, 2, 4)) == ["the old revision runs decode alone"]
    assert orphaned((2, 4, 1, 0)) == ["the new revision runs prefill alone"]
