"""What the LeaderWorkerSetOperator named cluster asks of the operator (lws.core.management)."""

from __future__ import annotations

import logging

import pytest

from lws.core.management import (
    Management,
    admission_warnings,
    conditions,
    log_levels,
    management_of,
    status_patch,
)


def cr(**spec: str) -> dict[str, object]:
    return {"metadata": {"name": "cluster", "generation": 3}, "spec": spec}


@pytest.mark.parametrize(
    ("state", "managed"),
    [
        ("", True),
        ("Managed", True),
        ("Force", True),
        ("Unmanaged", False),
        ("Removed", False),
        ("Bogus", False),
    ],
)
def test_only_managed_states_reconcile(state: str, managed: bool) -> None:
    assert management_of(cr(managementState=state)).managed is managed


def test_no_object_is_managed_with_the_operators_own_levels() -> None:
    assert management_of(None) == Management()
    assert Management().managed and not Management().present


@pytest.mark.parametrize(
    ("level", "operator_level", "lws", "kopf", "access"),
    [
        ("", "", logging.INFO, logging.WARNING, logging.WARNING),
        ("Normal", "Normal", logging.INFO, logging.WARNING, logging.WARNING),
        ("Debug", "Debug", logging.DEBUG, logging.INFO, logging.WARNING),
        ("Trace", "Trace", logging.DEBUG, logging.DEBUG, logging.WARNING),
        ("TraceAll", "TraceAll", logging.DEBUG, logging.DEBUG, logging.DEBUG),
        ("Debug", "Normal", logging.DEBUG, logging.WARNING, logging.WARNING),
    ],
)
def test_log_levels(level: str, operator_level: str, lws: int, kopf: int, access: int) -> None:
    levels = log_levels(management_of(cr(logLevel=level, operatorLogLevel=operator_level)))
    assert (levels["lws"], levels["kopf"], levels["aiohttp.access"]) == (lws, kopf, access)


def test_a_paused_operator_warns_on_set_changes_only() -> None:
    paused = management_of(cr(managementState="Removed"))
    (warning,) = admission_warnings(paused, operation="CREATE")
    assert (
        "managementState Removed" in warning and "not reconciled until managementState is Managed" in warning
    )
    assert admission_warnings(paused, operation="DELETE") == []
    (warning,) = admission_warnings(paused, operation="UPDATE", kind="DisaggregatedSet")
    assert "this DisaggregatedSet is stored but not reconciled" in warning
    assert admission_warnings(management_of(cr(managementState="Managed")), operation="CREATE") == []


def test_conditions_say_why_and_keep_their_transition_times() -> None:
    managed = conditions(management_of(cr()), now="2026-01-01T00:00:00Z", version="0.1.0")
    assert [(c["type"], c["status"], c["reason"]) for c in managed] == [
        ("Available", "True", "AsExpected"),
        ("Progressing", "False", "AsExpected"),
        ("Degraded", "False", "AsExpected"),
    ]
    paused = conditions(
        management_of(cr(managementState="Unmanaged")),
        now="2026-01-02T00:00:00Z",
        version="0.1.0",
        previous=managed,
    )
    available = paused[0]
    assert (available["status"], available["reason"]) == ("False", "Unmanaged")
    assert "nothing is deleted" in available["message"]
    assert available["lastTransitionTime"] == "2026-01-02T00:00:00Z"
    # Progressing and Degraded did not change: their times stay.
    assert [c["lastTransitionTime"] for c in paused[1:]] == ["2026-01-01T00:00:00Z"] * 2


def test_the_status_is_written_only_when_it_would_change() -> None:
    obj = cr(managementState="Managed")
    management = management_of(obj)
    patch = status_patch(obj, management, now="2026-01-01T00:00:00Z", version="0.1.0")
    assert patch is not None and patch["status"]["observedGeneration"] == 3
    obj["status"] = patch["status"]
    assert status_patch(obj, management, now="2026-01-05T00:00:00Z", version="0.1.0") is None
