"""Status counters and conditions (upstream's updateConditions/setConditions), table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from lws.api.model import LeaderWorkerSet
from lws.core import status as st
from lws.core.status import GroupObservation, apply_conditions, count_groups, hpa_pod_selector

NOW = "2026-11-28T00:00:00Z"
LATER = "2026-11-28T00:05:00Z"


def lws(
    replicas: int = 3, partition: int = 0, generation: int = 1, status: dict[str, Any] | None = None
) -> LeaderWorkerSet:
    return LeaderWorkerSet(
        {
            "metadata": {"name": "demo", "namespace": "default", "generation": generation},
            "spec": {
                "replicas": replicas,
                "leaderWorkerTemplate": {"size": 2},
                "rolloutStrategy": {"rollingUpdateConfiguration": {"partition": partition}},
            },
            "status": status or {},
        }
    )


def groups(*flags: str) -> list[GroupObservation]:
    """'RU' = ready+updated, 'R' = ready old, 'U' = updated not ready, '-' = neither."""
    return [GroupObservation(i, "R" in f, "U" in f) for i, f in enumerate(flags)]


def compute_status(
    obj: LeaderWorkerSet, *, groups: list[GroupObservation], leader_sts_replicas: int, now: str
) -> st.StatusResult:
    counts = count_groups(groups, replicas=obj.replicas, partition=obj.partition)
    return st.compute_status(obj, counts=counts, leader_sts_replicas=leader_sts_replicas, now=now)


def conds(result: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in result["conditions"]}


@pytest.mark.parametrize(
    ("observed", "partition", "expected"),
    [
        (("RU", "RU", "RU"), 0, {"Available": "True"}),
        (("RU", "RU", "U"), 0, {"Progressing": "True"}),
        (("RU", "RU", "-"), 0, {"UpdateInProgress": "True", "Progressing": "True"}),
        (("R", "R", "RU"), 0, {"UpdateInProgress": "True", "Progressing": "True"}),
        # groups below the partition do not count as updating
        (("R", "RU", "RU"), 1, {"Available": "True"}),
        # a surge group (index >= replicas) does not block Available
        (("RU", "RU", "RU", "U"), 0, {"Available": "True"}),
    ],
)
def test_condition_choice(observed: tuple[str, ...], partition: int, expected: dict[str, str]) -> None:
    result = compute_status(
        lws(partition=partition), groups=groups(*observed), leader_sts_replicas=3, now=NOW
    )
    assert conds(result.status) == expected


def test_counters_include_surge_groups() -> None:
    result = compute_status(lws(), groups=groups("RU", "R", "-", "RU"), leader_sts_replicas=4, now=NOW)
    s = result.status
    assert (s["replicas"], s["readyReplicas"], s["updatedReplicas"]) == (4, 3, 2)
    assert s["observedGeneration"] == 1
    assert s["hpaPodSelector"] == hpa_pod_selector("demo")
    assert (
        s["hpaPodSelector"]
        == "leaderworkerset.sigs.k8s.io/name=demo,leaderworkerset.sigs.k8s.io/worker-index=0"
    )


def test_available_flips_progressing_false_and_keeps_its_text() -> None:
    first = compute_status(lws(), groups=groups("RU", "-", "RU"), leader_sts_replicas=3, now=NOW)
    second = compute_status(
        lws(status=first.status), groups=groups("RU", "RU", "RU"), leader_sts_replicas=3, now=LATER
    )
    by_type = {c["type"]: c for c in second.status["conditions"]}
    assert by_type["Available"]["status"] == "True"
    assert by_type["Progressing"]["status"] == "False"
    assert by_type["Progressing"]["reason"] == "GroupsProgressing"  # stale text kept, as upstream
    assert by_type["Progressing"]["lastTransitionTime"] == LATER
    assert second.event == ("AllGroupsReady", "All replicas are ready, with 3 groups ready of total 3 groups")


def test_no_change_no_event_no_transition() -> None:
    first = compute_status(lws(), groups=groups("RU", "RU", "RU"), leader_sts_replicas=3, now=NOW)
    again = compute_status(
        lws(status=first.status), groups=groups("RU", "RU", "RU"), leader_sts_replicas=3, now=LATER
    )
    assert again.event is None
    assert again.status == first.status


def test_generation_bump_updates_observed_generation_not_transition_time() -> None:
    first = compute_status(lws(), groups=groups("RU", "RU", "RU"), leader_sts_replicas=3, now=NOW)
    bumped = compute_status(
        lws(generation=2, status=first.status),
        groups=groups("RU", "RU", "RU"),
        leader_sts_replicas=3,
        now=LATER,
    )
    (available,) = bumped.status["conditions"]
    assert available["observedGeneration"] == 2
    assert available["lastTransitionTime"] == NOW
    assert bumped.event is not None  # upstream emits an event whenever conditions are rewritten


def test_update_in_progress_may_linger_next_to_progressing() -> None:
    """Upstream quirk kept on purpose: UpdateInProgress is exclusive only with Available."""
    conditions, _ = apply_conditions([], ["UpdateInProgress", "Progressing"], 1, NOW)
    conditions, _ = apply_conditions(conditions, ["Progressing"], 1, LATER)
    assert {c["type"]: c["status"] for c in conditions} == {"UpdateInProgress": "True", "Progressing": "True"}


def test_update_done_requires_partition_zero_and_all_groups() -> None:
    assert compute_status(lws(), groups=groups("RU", "RU", "RU"), leader_sts_replicas=3, now=NOW).update_done
    assert not compute_status(
        lws(partition=1), groups=groups("R", "RU", "RU"), leader_sts_replicas=3, now=NOW
    ).update_done
    assert not compute_status(
        lws(), groups=groups("RU", "RU", "U"), leader_sts_replicas=3, now=NOW
    ).update_done


def test_existing_hpa_selector_is_kept() -> None:
    result = compute_status(lws(status={"hpaPodSelector": "x=y"}), groups=(), leader_sts_replicas=0, now=NOW)
    assert result.status["hpaPodSelector"] == "x=y"
