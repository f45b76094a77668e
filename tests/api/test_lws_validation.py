"""Validation, rule by rule: upstream's webhook texts and paths, the CRD schema checks the API server makes,
object metadata, the update rules; every upstream sample admitted; never an exception on any input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lws_api_testing import (
    UPSTREAM_RESTART,
    UPSTREAM_STARTUP,
    errors_of,
    json_data,
    lws_like,
    make_lws,
    triples,
)

from lws.api import constants as c
from lws.api.defaulting import default_lws
from lws.api.errors import FieldError
from lws.api.validation import scaled, validate_lws
from lws.hooks.manager import make_hooks
from tests import upstream_samples

PERCENT_MSG = (
    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex "
    "used for validation is '[0-9]+%')"
)
MU = "spec.rolloutStrategy.rollingUpdateConfiguration.maxUnavailable"
MS = "spec.rolloutStrategy.rollingUpdateConfiguration.maxSurge"
PARTITION = "spec.rolloutStrategy.rollingUpdateConfiguration.partition"
SGS = "spec.leaderWorkerTemplate.subGroupPolicy.subGroupSize"
SIZE = "spec.leaderWorkerTemplate.size"
SUBGROUP_ANNOTATION = f"metadata.annotations.{c.SUBGROUP_EXCLUSIVE_KEY_ANNOTATION}"


def rolling(**config: object) -> dict[str, Any]:
    return {"rolloutStrategy": {"rollingUpdateConfiguration": config}}


def template(**fields: object) -> dict[str, Any]:
    return {"leaderWorkerTemplate": fields}


# --- upstream's webhook rules ------------------------------------------------------------------------------

WEBHOOK_RULES = [
    ({"replicas": -1}, [("spec.replicas", "Invalid", "replicas must be equal or greater than 0")]),
    ({"replicas": 1_000_001}, [("spec.replicas", "Invalid", "replicas must be equal or less than 1000000")]),
    ({"replicas": 1_000_000}, []),
    ({"replicas": 0}, []),
    (template(size=0), [(SIZE, "Invalid", "size must be equal or greater than 1")]),
    (template(size=-4), [(SIZE, "Invalid", "size must be equal or greater than 1")]),
    (
        {"replicas": 1_000_000, **template(size=2148)},
        [
            (
                "spec.replicas",
                "Invalid",
                "the product of replicas and worker replicas must not exceed 2147483647",
            )
        ],
    ),
    ({"replicas": 1_000_000, **template(size=2147)}, []),
    (rolling(maxUnavailable=-1), [(MU, "Invalid", "must be greater than or equal to 0")]),
    (rolling(maxSurge=-1), [(MS, "Invalid", "must be greater than or equal to 0")]),
    (
        rolling(maxUnavailable="abc", maxSurge=1),
        [(MU, "Invalid", PERCENT_MSG), (MU, "Invalid", "invalid value")],
    ),
    # A digit string is not an integer in an IntOrString: it is an invalid percentage, as upstream.
    (rolling(maxSurge="2"), [(MS, "Invalid", PERCENT_MSG), (MS, "Invalid", "invalid value")]),
    # "-5%" can be scaled but is no valid percentage.
    (rolling(maxSurge="-5%"), [(MS, "Invalid", PERCENT_MSG)]),
    (rolling(maxUnavailable="101%"), [(MU, "Invalid", "must not be greater than 100%")]),
    (rolling(maxSurge="150%"), [(MS, "Invalid", "must not be greater than 100%")]),
    (rolling(maxUnavailable="100%", maxSurge="100%"), []),
    (rolling(maxUnavailable=500), []),  # absolute numbers have no upper bound
    (rolling(partition=-1), [(PARTITION, "Invalid", "must be greater than or equal to 0")]),
    (rolling(partition=99), []),
    (rolling(maxUnavailable=0, maxSurge=0), [(MU, "Invalid", "must not be 0 when `maxSurge` is 0")]),
    (rolling(maxUnavailable=0, maxSurge=1), []),
    ({"replicas": 0, **rolling(maxUnavailable=0, maxSurge=0)}, []),
    # 10% of 3 rounds down to 0 for maxUnavailable, up to 1 for maxSurge.
    (
        {"replicas": 3, **rolling(maxUnavailable="10%", maxSurge=0)},
        [(MU, "Invalid", "must not be 0 when `maxSurge` is 0")],
    ),
    ({"replicas": 3, **rolling(maxUnavailable=0, maxSurge="10%")}, []),
    # As upstream, a value that cannot be scaled counts as 0 for the both-zero rule.
    (
        rolling(maxUnavailable="x", maxSurge=0),
        [
            (MU, "Invalid", PERCENT_MSG),
            (MU, "Invalid", "invalid value"),
            (MU, "Invalid", "must not be 0 when `maxSurge` is 0"),
        ],
    ),
    (template(size=4, subGroupPolicy={"subGroupSize": 2}), []),
    (template(size=5, subGroupPolicy={"subGroupSize": 2}), []),  # size-1 divisible: the leader is extra
    (template(size=5, subGroupPolicy={"subGroupSize": 4, "subGroupPolicyType": "LeaderExcluded"}), []),
    (
        template(size=4, subGroupPolicy={"subGroupSize": 0}),
        [(SGS, "Invalid", "subGroupSize must be equal or greater than 1")],
    ),
    # size-1 = 3 is divisible by -3, in Go as in Python.
    (
        template(size=4, subGroupPolicy={"subGroupSize": -3}),
        [(SGS, "Invalid", "subGroupSize must be equal or greater than 1")],
    ),
    (
        template(size=5, subGroupPolicy={"subGroupSize": -3}),
        [
            (SGS, "Invalid", "subGroupSize must be equal or greater than 1"),
            (SGS, "Invalid", "size or size - 1 must be divisible by subGroupSize"),
        ],
    ),
    (
        template(size=5, subGroupPolicy={"subGroupSize": 3}),
        [(SGS, "Invalid", "size or size - 1 must be divisible by subGroupSize")],
    ),
    (
        template(size=2, subGroupPolicy={"subGroupSize": 4}),
        [
            (SGS, "Invalid", "size or size - 1 must be divisible by subGroupSize"),
            (SGS, "Invalid", "subGroupSize cannot be larger than size"),
        ],
    ),
    (
        template(size=4, subGroupPolicy={"subGroupSize": 2, "subGroupPolicyType": "LeaderExcluded"}),
        [(SGS, "Invalid", "size-1 must be divisible by subGroupSize when using LeaderExcluded")],
    ),
    (
        template(size=4, subGroupPolicy={}),
        [(SGS, "Required", "must be set when subGroupPolicy is set")],
    ),
]


@pytest.mark.parametrize(("spec", "expected"), WEBHOOK_RULES)
def test_upstream_webhook_rules(spec: dict[str, Any], expected: list[tuple[str, str, str]]) -> None:
    assert triples(errors_of(make_lws(spec=spec))) == expected


def test_upstream_messages_carry_the_value() -> None:
    [error] = errors_of(make_lws(spec={"replicas": -1}))
    assert str(error) == "spec.replicas: Invalid value: -1: replicas must be equal or greater than 0"
    [error] = errors_of(make_lws(spec=rolling(maxUnavailable="101%")))
    assert str(error) == f'{MU}: Invalid value: "101%": must not be greater than 100%'


def test_subgroup_exclusive_topology_needs_a_subgroup_policy() -> None:
    annotations = {c.SUBGROUP_EXCLUSIVE_KEY_ANNOTATION: "cloud.google.com/gke-nodepool"}
    errors = errors_of(make_lws(metadata={"annotations": annotations}))
    assert triples(errors) == [
        (SUBGROUP_ANNOTATION, "Invalid", "cannot have subgroup-exclusive-topology without subGroupSize set")
    ]
    assert errors[0].value == "cloud.google.com/gke-nodepool"
    with_policy = make_lws(
        metadata={"annotations": annotations}, spec=template(size=2, subGroupPolicy={"subGroupSize": 2})
    )
    assert errors_of(with_policy) == []


# --- what the API server's CRD schema rejects ---------------------------------------------------------------

SCHEMA_RULES = [
    ({"replicas": "three"}, [("spec.replicas", "Invalid", "must be of type integer, not string")]),
    ({"replicas": 2.0}, [("spec.replicas", "Invalid", "must be of type integer, not number")]),
    ({"replicas": True}, [("spec.replicas", "Invalid", "must be of type integer, not boolean")]),
    (
        {"replicas": 2**31},
        [("spec.replicas", "Invalid", "must be a 32-bit integer, between -2147483648 and 2147483647")],
    ),
    (template(size=2.5), [(SIZE, "Invalid", "must be of type integer, not number")]),
    (
        template(leaderTemplate="x"),
        [("spec.leaderWorkerTemplate.leaderTemplate", "Invalid", "must be of type object, not string")],
    ),
    (
        template(workerTemplate=...),
        [("spec.leaderWorkerTemplate.workerTemplate", "Required", "must be set")],
    ),
    (
        template(workerTemplate={"spec": []}),
        [("spec.leaderWorkerTemplate.workerTemplate.spec", "Invalid", "must be of type object, not array")],
    ),
    (
        template(workerTemplate={"metadata": {"labels": {"a": 1}}}),
        [
            (
                "spec.leaderWorkerTemplate.workerTemplate.metadata.labels.a",
                "Invalid",
                "must be of type string, not integer",
            )
        ],
    ),
    (
        template(subGroupPolicy={"subGroupSize": "2"}),
        [(SGS, "Invalid", "must be of type integer, not string")],
    ),
    (
        template(volumeClaimTemplates={}),
        [("spec.leaderWorkerTemplate.volumeClaimTemplates", "Invalid", "must be of type array, not object")],
    ),
    (
        template(volumeClaimTemplates=[3]),
        [
            (
                "spec.leaderWorkerTemplate.volumeClaimTemplates[0]",
                "Invalid",
                "must be of type object, not integer",
            )
        ],
    ),
    (
        rolling(maxSurge=[1]),
        [
            (
                MS,
                "Invalid",
                'must be of type integer or string (a number such as 1, or a percentage such as "25%"), not array',
            )
        ],
    ),
    (
        rolling(maxSurge=True),
        [
            (
                MS,
                "Invalid",
                'must be of type integer or string (a number such as 1, or a percentage such as "25%"), not boolean',
            )
        ],
    ),
    ({"startupPolicy": 3}, [("spec.startupPolicy", "Invalid", "must be of type string, not integer")]),
    ({"networkConfig": "x"}, [("spec.networkConfig", "Invalid", "must be of type object, not string")]),
    (
        {"leaderWorkerTemplate": []},
        [("spec.leaderWorkerTemplate", "Invalid", "must be of type object, not array")],
    ),
    ({"leaderWorkerTemplate": ...}, [("spec.leaderWorkerTemplate", "Required", "must be set")]),
    (
        {"startupPolicy": "Foo"},
        [("spec.startupPolicy", "NotSupported", 'supported values: "LeaderCreated", "LeaderReady"')],
    ),
    (
        {"startupPolicy": ""},
        [("spec.startupPolicy", "NotSupported", 'supported values: "LeaderCreated", "LeaderReady"')],
    ),
    (
        template(restartPolicy="Always"),
        [
            (
                "spec.leaderWorkerTemplate.restartPolicy",
                "NotSupported",
                'supported values: "RecreateGroupOnPodRestart", "RecreateGroupAfterStart", "None", "Default"',
            )
        ],
    ),
    (
        {"rolloutStrategy": {"type": "Recreate"}},
        [("spec.rolloutStrategy.type", "NotSupported", 'supported values: "RollingUpdate"')],
    ),
    (
        template(size=2, subGroupPolicy={"subGroupSize": 2, "subGroupPolicyType": "Leader"}),
        [
            (
                "spec.leaderWorkerTemplate.subGroupPolicy.subGroupPolicyType",
                "NotSupported",
                'supported values: "LeaderWorker", "LeaderExcluded"',
            )
        ],
    ),
    (
        {"networkConfig": {"subdomainPolicy": "Unique"}},
        [
            (
                "spec.networkConfig.subdomainPolicy",
                "NotSupported",
                'supported values: "Shared", "UniquePerReplica"',
            )
        ],
    ),
    (
        {"replica": 3},
        [
            (
                "spec.replica",
                "Forbidden",
                'unknown field: the API server drops it, or rejects the object under kubectl\'s strict validation; did you mean "replicas"?',
            )
        ],
    ),
    (
        {"networkConfig": {"subdomainpolicy": "Shared"}},
        [
            (
                "spec.networkConfig.subdomainpolicy",
                "Forbidden",
                "unknown field: the API server drops it, or rejects the object under kubectl's strict validation; "
                'did you mean "subdomainPolicy"?',
            )
        ],
    ),
    # A null carries nothing, and Go-generated manifests write creationTimestamp: null in templates.
    (template(workerTemplate={"metadata": {"creationTimestamp": None}}), []),
]


@pytest.mark.parametrize(("spec", "expected"), SCHEMA_RULES)
def test_crd_schema_rules(spec: dict[str, Any], expected: list[tuple[str, str, str]]) -> None:
    assert triples(errors_of(make_lws(spec=spec))) == expected


def test_unknown_field_without_a_close_match_lists_the_known_ones() -> None:
    [error] = errors_of(make_lws(spec={"networkConfig": {"zzz": 1}}))
    assert error.detail.endswith('known fields here: "subdomainPolicy"')


def test_unknown_top_level_field() -> None:
    [error] = errors_of({**make_lws(), "sepc": {}})
    assert (error.path, error.type) == ("sepc", "Forbidden")
    assert error.detail.endswith('did you mean "spec"?')


def test_status_is_ignored_as_the_status_subresource_does() -> None:
    assert errors_of({**make_lws(), "status": {"replicas": "many", "bogus": []}}) == []


def test_missing_spec_is_required() -> None:
    obj = make_lws(spec=...)
    assert triples(errors_of(obj)) == [("spec", "Required", "must be set: a LeaderWorkerSet needs a spec")]


# --- policy values come from the enabled plugins -------------------------------------------------------------


def test_startup_policy_must_be_a_registered_value() -> None:
    obj = make_lws(spec={"startupPolicy": "LeaderReady"})
    [error] = errors_of(obj, startup=["LeaderCreated"])
    assert (
        str(error)
        == 'spec.startupPolicy: Unsupported value: "LeaderReady": supported values: "LeaderCreated"'
    )


def test_restart_policy_accepts_a_value_a_plugin_registered() -> None:
    obj = make_lws(spec=template(restartPolicy="RecreateGroupWithBackoff"))
    assert errors_of(obj, restart=[*UPSTREAM_RESTART, "RecreateGroupWithBackoff"]) == []
    [error] = errors_of(obj)
    assert error.type == "NotSupported"


@pytest.mark.parametrize(
    ("registered", "accepted"), [(["None"], True), (["RecreateGroupOnPodRestart"], False)]
)
def test_default_alias_is_accepted_wherever_none_is(registered: list[str], accepted: bool) -> None:
    raw = make_lws(metadata={"namespace": "default"}, spec=template(restartPolicy="Default"))
    assert (errors_of(raw, restart=registered, default=False) == []) is accepted


def test_no_registered_value_says_why() -> None:
    [error] = errors_of(make_lws(), startup=[])
    assert error.path == "spec.startupPolicy"
    assert (
        error.detail == "supported values: none (no enabled plugin implements any value; see `lws plugins`)"
    )


def test_builtin_plugins_register_upstream_values() -> None:
    hooks = make_hooks()
    assert set(hooks.startup_values) >= set(UPSTREAM_STARTUP)
    assert set(hooks.restart_values) >= set(UPSTREAM_RESTART)


# --- metadata ---------------------------------------------------------------------------------------------

DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)

METADATA_RULES = [
    ({"name": ...}, [("metadata.name", "Required", "name or generateName is required")]),
    ({"name": ""}, [("metadata.name", "Required", "name or generateName is required")]),
    ({"name": "Demo"}, [("metadata.name", "Invalid", DNS1035_MSG)]),
    ({"name": "1demo"}, [("metadata.name", "Invalid", DNS1035_MSG)]),
    ({"name": 7}, [("metadata.name", "Invalid", "must be of type string, not integer")]),
    ({"name": ..., "generateName": "demo-"}, []),
    ({"name": ..., "generateName": "Demo-"}, [("metadata.generateName", "Invalid", DNS1035_MSG)]),
    (
        {"namespace": "Team_A"},
        [
            (
                "metadata.namespace",
                "Invalid",
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
                "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            )
        ],
    ),
    ({"labels": {"app": "x", "example.com/role": ""}}, []),
    ({"labels": {"app": 1}}, [("metadata.labels.app", "Invalid", "must be of type string, not integer")]),
    ({"labels": "app=x"}, [("metadata.labels", "Invalid", "must be of type object, not string")]),
    ({"annotations": {"Example.com/Note": "fine: keys are checked in lower case"}}, []),
    (
        {"annotations": {"note": 3}},
        [("metadata.annotations.note", "Invalid", "must be of type string, not integer")],
    ),
    ({"finalizers": ["example.com/keep"]}, []),
    ({"finalizers": "x"}, [("metadata.finalizers", "Invalid", "must be of type array, not string")]),
    ({"uid": "123", "resourceVersion": "9", "creationTimestamp": "2026-01-01T00:00:00Z"}, []),
    ({"nmae": "x"}, [("metadata.nmae", "Forbidden", "unknown field in object metadata")]),
]


@pytest.mark.parametrize(("metadata", "expected"), METADATA_RULES)
def test_metadata_rules(metadata: dict[str, Any], expected: list[tuple[str, str, str]]) -> None:
    assert triples(errors_of(make_lws(metadata=metadata))) == expected


def test_label_key_and_value_errors_are_reported_on_the_labels_map() -> None:
    errors = errors_of(make_lws(metadata={"labels": {"a/b/c": "-x"}}))
    assert [(e.path, e.value) for e in errors] == [("metadata.labels", "a/b/c"), ("metadata.labels", "-x")]


def test_annotations_may_not_exceed_256_kib() -> None:
    assert errors_of(make_lws(metadata={"annotations": {"a": "x" * (256 * 1024 - 1)}})) == []
    [error] = errors_of(make_lws(metadata={"annotations": {"a": "x" * (256 * 1024)}}))
    assert (error.path, error.type) == ("metadata.annotations", "TooLong")


def test_metadata_of_the_wrong_type() -> None:
    assert triples(errors_of({**make_lws(), "metadata": ["x"]})) == [
        ("metadata", "Invalid", "must be of type object, not array")
    ]


# --- UPDATE ----------------------------------------------------------------------------------------------


def with_subgroup(size: int, sgs: int | None) -> dict[str, Any]:
    policy = None if sgs is None else {"subGroupSize": sgs}
    return default_lws(make_lws(spec=template(size=size, subGroupPolicy=policy)))


UPDATE_RULES = [
    (with_subgroup(4, 2), with_subgroup(4, 2), []),
    (with_subgroup(4, 2), with_subgroup(4, 4), [(SGS, "Invalid", "field is immutable")]),
    (
        with_subgroup(4, None),
        with_subgroup(4, 2),
        [(SGS, "Invalid", "cannot enable subGroupSize after the lws is already created")],
    ),
    (
        with_subgroup(4, 2),
        with_subgroup(4, None),
        [(SGS, "Invalid", "cannot remove subGroupSize after enabled")],
    ),
    # size stays mutable...
    (with_subgroup(4, 2), with_subgroup(8, 2), []),
    (with_subgroup(2, None), with_subgroup(5, None), []),
    # ... but a resize must keep size or size-1 divisible by the immutable subGroupSize.
    (with_subgroup(4, 2), with_subgroup(8, 4), [(SGS, "Invalid", "field is immutable")]),
    (
        with_subgroup(4, 4),
        with_subgroup(6, 4),
        [(SGS, "Invalid", "size or size - 1 must be divisible by subGroupSize")],
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), UPDATE_RULES)
def test_update_rules(old: dict[str, Any], new: dict[str, Any], expected: list[tuple[str, str, str]]) -> None:
    assert triples(errors_of(new, old)) == expected


def test_update_reports_the_old_and_new_values() -> None:
    [immutable] = errors_of(with_subgroup(4, 4), with_subgroup(4, 2))
    assert immutable.value == 4
    [removed] = errors_of(with_subgroup(4, None), with_subgroup(4, 2))
    assert removed.value == 2


def test_subdomain_policy_cannot_be_set_to_null_on_update() -> None:
    old = default_lws(make_lws(spec={"networkConfig": {"subdomainPolicy": "UniquePerReplica"}}))
    new = make_lws(metadata={"namespace": "default"}, spec={"networkConfig": {"subdomainPolicy": None}})
    # Undefaulted, so the schema's required rule speaks too; admission defaults it to Shared first.
    required, update = errors_of(new, old, default=False)
    assert (required.path, required.type) == ("spec.networkConfig.subdomainPolicy", "Required")
    assert (update.path, update.detail, update.value) == (
        "spec.networkConfig.subdomainPolicy",
        "cannot set subdomainPolicy as null",
        "UniquePerReplica",
    )


def test_other_changes_are_allowed_on_update() -> None:
    old = default_lws(make_lws())
    new = default_lws(
        make_lws(
            spec={
                "replicas": 5,
                "startupPolicy": "LeaderReady",
                "networkConfig": {"subdomainPolicy": "UniquePerReplica"},
            }
        )
    )
    new["spec"]["leaderWorkerTemplate"]["restartPolicy"] = "None"
    assert errors_of(new, old) == []


# --- upstream samples -----------------------------------------------------------------------------------


def sample_lws() -> list[tuple[str, dict[str, Any]]]:
    return upstream_samples.leaderworkersets()


def test_every_upstream_sample_is_exercised() -> None:
    assert len(sample_lws()) == upstream_samples.LEADERWORKERSETS == 16


@pytest.mark.parametrize(("label", "doc"), sample_lws(), ids=[label for label, _ in sample_lws()])
def test_every_upstream_sample_is_admitted(label: str, doc: dict[str, Any]) -> None:
    hooks = make_hooks()
    errors = validate_lws(
        default_lws(doc), startup_policies=hooks.startup_values, restart_policies=hooks.restart_values
    )
    assert [str(e) for e in errors] == []


# --- IntOrString scaling ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "total", "round_up", "expected"),
    [
        (3, 10, False, 3),
        ("25%", 10, False, 2),
        ("25%", 10, True, 3),
        ("0%", 10, True, 0),
        ("100%", 7, False, 7),
        ("+10%", 10, True, 1),
        ("-10%", 10, False, -1),
        ("5", 10, False, None),
        ("%", 10, False, None),
        ("1_0%", 10, False, None),
        ("\u0661\u0660%", 10, False, None),  # Arabic-Indic digits: Go's Atoi takes ASCII only
    ],
)
def test_scaled(value: int | str, total: int, round_up: bool, expected: int | None) -> None:
    assert scaled(value, total, round_up=round_up) == expected


# --- robustness -------------------------------------------------------------------------------------------


def assert_well_formed(errors: list[FieldError]) -> None:
    assert isinstance(errors, list)
    for error in errors:
        assert isinstance(error, FieldError)
        assert error.path
        assert str(error).startswith(error.path)


@settings(max_examples=400, deadline=None)
@given(lws_like, st.none() | lws_like)
def test_validation_never_raises_on_lws_shaped_data(obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    assert_well_formed(errors_of(obj, old))
    assert_well_formed(errors_of(obj, old, default=False))


@settings(max_examples=200, deadline=None)
@given(json_data, json_data)
def test_validation_never_raises_on_arbitrary_data(obj: Any, old: Any) -> None:
    assert_well_formed(
        validate_lws(obj, old, startup_policies=UPSTREAM_STARTUP, restart_policies=UPSTREAM_RESTART)
    )


@settings(max_examples=200, deadline=None)
@given(lws_like)
def test_defaulted_then_valid_objects_stay_valid_when_defaulted_again(obj: dict[str, Any]) -> None:
    defaulted = default_lws(obj)
    if not errors_of(defaulted, default=False):
        assert errors_of(default_lws(defaulted), default=False) == []
