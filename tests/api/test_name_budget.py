"""The LeaderWorkerSet name budget (upstream issue #410); the name rules themselves are tested in tests/k8s."""

from __future__ import annotations

import pytest
from lws_api_testing import errors_of, make_lws

from lws.api import names


@pytest.mark.parametrize(
    ("highest", "size", "policy", "max_length", "reason_start"),
    [
        (0, 1, "Shared", 52, 'the leader StatefulSet "<name>"'),
        (9, 1, "Shared", 52, 'the leader StatefulSet "<name>"'),
        (0, 2, "Shared", 50, 'the worker StatefulSet "<name>-0"'),
        (11, 4, "Shared", 49, 'the worker StatefulSet "<name>-11"'),
        (1_999_999, 2, "Shared", 44, 'the worker StatefulSet "<name>-1999999"'),
        # 10-digit worker index: the worker pod name ties with the revision label; the label is named.
        (0, 2_147_483_647, "Shared", 50, 'the worker StatefulSet "<name>-0"'),
        (0, 1, "UniquePerReplica", 52, 'the leader StatefulSet "<name>"'),
    ],
)
def test_name_budget(highest: int, size: int, policy: str, max_length: int, reason_start: str) -> None:
    budget = names.name_budget(highest_group_index=highest, size=size, subdomain_policy=policy)
    assert budget.max_length == max_length
    assert budget.reason.startswith(reason_start)


def test_budget_for_huge_indexes_is_bound_by_the_leader_pod_name() -> None:
    # An index of 11 digits cannot come from a valid LeaderWorkerSet, but the arithmetic must still hold:
    # the leader pod "<name>-<index>" needs 12 characters beside the name.
    budget = names.name_budget(highest_group_index=10**10, size=1, subdomain_policy="UniquePerReplica")
    assert budget.max_length == 51
    assert budget.reason == (
        'the leader pod "<name>-10000000000" and its Service "<name>-10000000000" must be DNS labels of at '
        "most 63 characters"
    )


# --- the budget at admission: longest accepted and shortest rejected name ---------------------------------


def _spec(replicas: int, size: int, max_surge: int | str) -> dict[str, object]:
    return {
        "replicas": replicas,
        "leaderWorkerTemplate": {"size": size},
        "rolloutStrategy": {"rollingUpdateConfiguration": {"maxSurge": max_surge, "maxUnavailable": 1}},
    }


@pytest.mark.parametrize(
    ("replicas", "size", "max_surge", "longest"),
    [
        (1, 1, 0, 52),
        (1, 2, 0, 50),
        (10, 2, 0, 50),
        (11, 2, 0, 49),
        (12, 4, 0, 49),
        (10, 4, 1, 49),  # the surge group gets index 10
        (9, 4, 1, 50),  # ... or index 9
        (100, 8, "10%", 48),  # 10 surge groups, highest index 109
        (5, 4, "100%", 50),  # highest index 9
        (6, 4, "100%", 49),  # highest index 11
        (4, 4, 50, 50),  # maxSurge is capped at replicas: highest index 7, not 53
        (0, 4, 0, 50),
        (1_000_000, 2, 0, 45),
        (2, 1_000_000_000, 0, 50),
    ],
)
def test_longest_accepted_and_shortest_rejected_name(
    replicas: int, size: int, max_surge: int | str, longest: int
) -> None:
    accepted = make_lws(metadata={"name": "a" * longest}, spec=_spec(replicas, size, max_surge))
    rejected = make_lws(metadata={"name": "a" * (longest + 1)}, spec=_spec(replicas, size, max_surge))
    assert errors_of(accepted) == []
    [error] = errors_of(rejected)
    assert (error.path, error.type, error.value) == ("metadata.name", "TooLong", "a" * (longest + 1))
    assert error.detail.startswith(f"must be no more than {longest} characters for replicas={replicas}")


def test_budget_message_says_which_derived_name_breaks() -> None:
    obj = make_lws(metadata={"name": "a" * 50}, spec={"replicas": 12, "leaderWorkerTemplate": {"size": 4}})
    [error] = errors_of(obj)
    assert str(error) == (
        f'metadata.name: Too long: "{"a" * 50}": must be no more than 49 characters for replicas=12 '
        '(highest group index 11) and size=4: the worker StatefulSet "<name>-11" labels its pods '
        'controller-revision-hash "<name>-11-<hash>", which Kubernetes limits to 63 characters '
        "(upstream issue #410)"
    )


def test_budget_message_names_the_surge() -> None:
    spec = _spec(10, 4, 1)
    [error] = errors_of(make_lws(metadata={"name": "a" * 50}, spec=spec))
    assert "for replicas=10 and maxSurge=1 (highest group index 10) and size=4" in error.detail


def test_generate_name_counts_the_five_generated_characters() -> None:
    spec = {"leaderWorkerTemplate": {"size": 2}}
    ok = make_lws(metadata={"name": ..., "generateName": "a" * 45}, spec=spec)
    too_long = make_lws(metadata={"name": ..., "generateName": "a" * 46}, spec=spec)
    assert errors_of(ok) == []
    [error] = errors_of(too_long)
    assert error.path == "metadata.generateName"
    assert error.detail.startswith("with the 5 generated characters, must be no more than 50 characters")


def test_names_over_63_characters_get_the_dns_error_only() -> None:
    [error] = errors_of(make_lws(metadata={"name": "a" * 64}))
    assert (error.path, error.detail) == ("metadata.name", "must be no more than 63 characters")


def test_no_budget_error_while_the_numbers_themselves_are_wrong() -> None:
    obj = make_lws(metadata={"name": "a" * 60}, spec={"replicas": -1})
    assert [e.detail for e in errors_of(obj)] == ["replicas must be equal or greater than 0"]
