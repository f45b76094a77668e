"""``spec.groupIdentity`` and ``spec.groupReplacementPolicy`` (upstream #987, #1050, KEP-898): defaults,
the rules upstream's webhook applies (texts and paths), the CRD schema, the update rules, the name budget."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from lws_api_testing import errors_of, make_lws, triples

from lws.api import constants as c
from lws.api.crd import build_crd
from lws.api.defaulting import default_lws
from lws.api.names import hash_name_budget, name_budget
from lws.cli.main import cli

GI = "spec.groupIdentity"
GRP = "spec.groupReplacementPolicy"
MU = "spec.rolloutStrategy.rollingUpdateConfiguration.maxUnavailable"
HASH: dict[str, Any] = {"groupIdentity": "Hash"}


def rolling(**config: object) -> dict[str, Any]:
    return {"rolloutStrategy": {"rollingUpdateConfiguration": config}}


def claims() -> dict[str, Any]:
    return {"leaderWorkerTemplate": {"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]}}


# --- defaults ----------------------------------------------------------------------------------------------

DEFAULTS = [
    ({}, "Ordinal", "PostTermination"),
    ({"groupIdentity": ""}, "Ordinal", "PostTermination"),
    ({"groupReplacementPolicy": ""}, "Ordinal", "PostTermination"),
    (HASH, "Hash", "PostTermination"),
    ({"groupIdentity": "Hash", "groupReplacementPolicy": "Immediate"}, "Hash", "Immediate"),
]


@pytest.mark.parametrize(("spec", "identity", "policy"), DEFAULTS)
def test_defaults(spec: dict[str, Any], identity: str, policy: str) -> None:
    defaulted = default_lws(make_lws(spec=spec))["spec"]
    assert (defaulted["groupIdentity"], defaulted["groupReplacementPolicy"]) == (identity, policy)


def test_the_crd_defaults_the_identity_but_not_the_replacement_policy() -> None:
    # As upstream's CRD: a set written without the webhook (or a DisaggregatedSet role) gets Ordinal from
    # the schema; the replacement policy is defaulted by the webhook only.
    crd = build_crd(
        startup_policies=c.UPSTREAM_STARTUP_POLICIES, restart_policies=c.UPSTREAM_RESTART_POLICIES
    )
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert spec["groupIdentity"]["enum"] == ["Ordinal", "Hash"]
    assert spec["groupIdentity"]["default"] == "Ordinal"
    assert spec["groupReplacementPolicy"]["enum"] == ["PostTermination", "Immediate"]
    assert "default" not in spec["groupReplacementPolicy"]


# --- rules -------------------------------------------------------------------------------------------------

RULES = [
    (HASH, []),
    ({**HASH, "replicas": 5, **rolling(maxSurge=2, maxUnavailable=0)}, []),
    ({**HASH, **rolling(partition=0)}, []),
    (
        {**HASH, **rolling(partition=1)},
        [(GI, "Invalid", "rollingUpdateConfiguration.partition is not supported with groupIdentity Hash")],
    ),
    (
        {**HASH, **claims()},
        [(GI, "Invalid", "volumeClaimTemplates are not supported with groupIdentity Hash")],
    ),
    ({"groupIdentity": "Ordinal", **rolling(partition=1), **claims()}, []),
    # subGroupPolicy and UniquePerReplica work in Hash mode, keyed off the group key.
    ({**HASH, "networkConfig": {"subdomainPolicy": "UniquePerReplica"}}, []),
    (
        {**HASH, "leaderWorkerTemplate": {"size": 4, "subGroupPolicy": {"subGroupSize": 2}}},
        [],
    ),
    ({**HASH, "groupReplacementPolicy": "Immediate"}, []),
    ({"groupReplacementPolicy": "PostTermination"}, []),
    (
        {"groupReplacementPolicy": "Immediate"},
        [
            (
                GRP,
                "Invalid",
                "Immediate is only supported with groupIdentity Hash: a leader StatefulSet always waits for "
                "the previous leader pod to be gone",
            )
        ],
    ),
    # Zero replicas exempt the general maxUnavailable rule, not the leader Deployment's own validation.
    ({"replicas": 0, **rolling(maxUnavailable=0, maxSurge=0)}, []),
    (
        {**HASH, "replicas": 0, **rolling(maxUnavailable="0%", maxSurge=0)},
        [
            (
                MU,
                "Invalid",
                "must not be 0 when `maxSurge` is 0: with groupIdentity Hash the leader Deployment refuses "
                "it even for 0 replicas",
            )
        ],
    ),
    ({**HASH, "replicas": 0, **rolling(maxUnavailable="10%", maxSurge=0)}, []),
    # Unknown values are the CRD schema's to reject.
    ({"groupIdentity": "Random"}, [(GI, "NotSupported", 'supported values: "Ordinal", "Hash"')]),
    (
        {**HASH, "groupReplacementPolicy": "Later"},
        [(GRP, "NotSupported", 'supported values: "PostTermination", "Immediate"')],
    ),
]


@pytest.mark.parametrize(("spec", "expected"), RULES)
def test_rules(spec: dict[str, Any], expected: list[tuple[str, str, str]]) -> None:
    assert triples(errors_of(make_lws(spec=spec))) == expected


def test_messages_name_the_value() -> None:
    [error] = errors_of(make_lws(spec={**HASH, **rolling(partition=2)}))
    assert str(error) == (
        'spec.groupIdentity: Invalid value: "Hash": rollingUpdateConfiguration.partition is not supported with '
        "groupIdentity Hash"
    )


# --- updates -----------------------------------------------------------------------------------------------


def stored(**spec: Any) -> dict[str, Any]:
    return default_lws(make_lws(spec=spec))


def raw(**spec: Any) -> dict[str, Any]:
    # As stored before the field existed: no groupIdentity at all.
    obj = default_lws(make_lws(spec=spec))
    obj["spec"].pop("groupIdentity")
    obj["spec"].pop("groupReplacementPolicy")
    return obj


UPDATES = [
    (stored(), stored(groupIdentity="Hash"), [(GI, "Invalid", "groupIdentity is immutable")]),
    (
        stored(groupIdentity="Hash"),
        stored(groupIdentity="Ordinal"),
        [(GI, "Invalid", "groupIdentity is immutable")],
    ),
    (stored(groupIdentity="Hash"), stored(groupIdentity="Hash", replicas=4), []),
    # "" and a missing field are Ordinal: a set stored before the field existed may be updated.
    (raw(), stored(), []),
    (raw(), stored(groupIdentity="Hash"), [(GI, "Invalid", "groupIdentity is immutable")]),
    # The replacement policy is a live setting.
    (
        stored(groupIdentity="Hash"),
        stored(groupIdentity="Hash", groupReplacementPolicy="Immediate"),
        [],
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), UPDATES)
def test_updates(old: dict[str, Any], new: dict[str, Any], expected: list[tuple[str, str, str]]) -> None:
    assert triples(errors_of(new, old)) == expected


def test_the_immutability_error_shows_the_new_value() -> None:
    [error] = errors_of(stored(groupIdentity="Hash"), stored())
    assert str(error) == 'spec.groupIdentity: Invalid value: "Hash": groupIdentity is immutable'


# --- the name budget ---------------------------------------------------------------------------------------

BUDGETS = [
    # The worker StatefulSet is named after its leader pod "<name>-<8>" (its host name), whose pods carry
    # controller-revision-hash "<leader pod>-<10>": 63 - 9 - 11.
    (2, "Shared", 43, "the worker StatefulSet, named after its leader pod"),
    (100_000, "Shared", 43, "the worker StatefulSet, named after its leader pod"),
    # No workers: the leader's host name "<name>-<8>" is the limit.
    (1, "Shared", 54, "the leader's host name"),
    (
        1,
        "UniquePerReplica",
        54,
        'the leader\'s host name "<name>-<8 characters of the group key>" and its Service',
    ),
]


@pytest.mark.parametrize(("size", "policy", "max_length", "reason_start"), BUDGETS)
def test_hash_name_budget(size: int, policy: str, max_length: int, reason_start: str) -> None:
    budget = hash_name_budget(size=size, subdomain_policy=policy)
    assert (budget.max_length, budget.reason[: len(reason_start)]) == (max_length, reason_start)
    # The index plays no part: any number of groups share one shape of names.
    assert name_budget(highest_group_index=10**6, size=size, subdomain_policy=policy, hashed=True) == budget


def test_a_name_over_the_hash_budget_is_rejected_naming_it() -> None:
    name = "n" * 44
    [error] = errors_of(make_lws(metadata={"name": name}, spec={**HASH, "leaderWorkerTemplate": {"size": 2}}))
    assert (error.path, error.type) == ("metadata.name", "TooLong")
    assert error.detail.startswith("must be no more than 43 characters for groupIdentity Hash and size=2: ")
    # The same name is fine for an Ordinal set of that shape, and for a Hash set without workers.
    assert errors_of(make_lws(metadata={"name": name}, spec={"leaderWorkerTemplate": {"size": 2}})) == []
    assert errors_of(make_lws(metadata={"name": name}, spec=HASH)) == []


# --- lws validate and lws render ---------------------------------------------------------------------------


def test_lws_validate_reports_the_rules_as_error_lines() -> None:
    text = yaml.safe_dump(
        make_lws(spec={"groupReplacementPolicy": "Immediate", **rolling(partition=1), **HASH})
    )
    result = CliRunner().invoke(cli, ["validate", "-f", "-"], input=text)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        'error: <stdin>: LeaderWorkerSet default/demo: spec.groupIdentity: Invalid value: "Hash": '
        "rollingUpdateConfiguration.partition is not supported with groupIdentity Hash"
    ]


def test_lws_render_shows_the_defaults() -> None:
    result = CliRunner().invoke(cli, ["render", "-f", "-"], input=yaml.safe_dump(make_lws()))
    assert result.exit_code == 0, result.stderr
    spec = yaml.safe_load(result.stdout)["items"][0]["spec"]
    assert (spec["groupIdentity"], spec["groupReplacementPolicy"]) == ("Ordinal", "PostTermination")


# --- names, as upstream spells them ------------------------------------------------------------------------

NAMES = [
    (c.ROLE_LABEL, "leaderworkerset.sigs.k8s.io/role"),
    (c.ROLE_LEADER, "leader"),
    (c.ROLE_WORKER, "worker"),
    (c.GROUP_IDENTITY_ANNOTATION, "leaderworkerset.sigs.k8s.io/group-identity"),
    (c.LEADER_ADDRESS_ANNOTATION, "leaderworkerset.sigs.k8s.io/leader-address"),
    (c.GROUP_READY_CONDITION, "leaderworkerset.sigs.k8s.io/group-ready"),
    (c.GROUP_REPLACEMENT_GATE, "leaderworkerset.sigs.k8s.io/group-replacement"),
    (c.GROUP_IDENTITIES, ("Ordinal", "Hash")),
    (c.GROUP_REPLACEMENT_POLICIES, ("PostTermination", "Immediate")),
    (c.EVENT_GROUP_REPLACEMENT_DEFERRED, "GroupReplacementDeferred"),
    (c.EVENT_GROUP_REPLACEMENT_ADMITTED, "GroupReplacementAdmitted"),
    (c.HASH_HOST_KEY_LENGTH, 8),
]


@pytest.mark.parametrize(("ours", "upstream"), NAMES, ids=[str(u) for _, u in NAMES])
def test_names_are_upstreams(ours: object, upstream: object) -> None:
    assert ours == upstream
