"""Defaulting: upstream's CRD schema defaults and mutating webhook together, case by case."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lws_api_testing import MINIMAL, deep_merge, json_data, lws_like, make_lws

from lws.api.defaulting import default_lws

FULL_ROLLING = {
    "type": "RollingUpdate",
    "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0, "partition": 0},
}


def spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = default_lws(obj)["spec"]
    return spec


def test_minimal_object_gets_every_default() -> None:
    assert default_lws(MINIMAL) == deep_merge(
        MINIMAL,
        {
            "metadata": {"namespace": "default"},
            "spec": {
                "replicas": 1,
                "startupPolicy": "LeaderCreated",
                "rolloutStrategy": FULL_ROLLING,
                "networkConfig": {"subdomainPolicy": "Shared"},
                "groupIdentity": "Ordinal",
                "groupReplacementPolicy": "PostTermination",
                "leaderWorkerTemplate": {"size": 1, "restartPolicy": "RecreateGroupOnPodRestart"},
            },
        },
    )


@pytest.mark.parametrize(
    ("written", "defaulted"),
    [
        (..., "RecreateGroupOnPodRestart"),
        (None, "RecreateGroupOnPodRestart"),
        ("", "RecreateGroupOnPodRestart"),
        ("Default", "None"),
        ("None", "None"),
        ("RecreateGroupAfterStart", "RecreateGroupAfterStart"),
        ("SomePluginPolicy", "SomePluginPolicy"),
    ],
)
def test_restart_policy(written: object, defaulted: str) -> None:
    obj = make_lws(spec={"leaderWorkerTemplate": {"restartPolicy": written}})
    assert spec_of(obj)["leaderWorkerTemplate"]["restartPolicy"] == defaulted


@pytest.mark.parametrize(
    ("written", "defaulted"),
    [
        (..., FULL_ROLLING),
        (None, FULL_ROLLING),
        ({}, FULL_ROLLING),
        ({"type": ""}, FULL_ROLLING),
        ({"type": "RollingUpdate"}, FULL_ROLLING),
        ({"rollingUpdateConfiguration": None}, FULL_ROLLING),
        ({"rollingUpdateConfiguration": {}}, FULL_ROLLING),
        (
            {"rollingUpdateConfiguration": {"maxSurge": "50%"}},
            {
                "type": "RollingUpdate",
                "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": "50%", "partition": 0},
            },
        ),
        (
            {"rollingUpdateConfiguration": {"partition": 2, "maxUnavailable": 0}},
            {
                "type": "RollingUpdate",
                "rollingUpdateConfiguration": {"maxUnavailable": 0, "maxSurge": 0, "partition": 2},
            },
        ),
        # An unknown type is left for validation to reject, and gets no RollingUpdate configuration.
        ({"type": "Recreate"}, {"type": "Recreate"}),
        ("not-an-object", "not-an-object"),
    ],
)
def test_rollout_strategy(written: object, defaulted: object) -> None:
    assert spec_of(make_lws(spec={"rolloutStrategy": written}))["rolloutStrategy"] == defaulted


@pytest.mark.parametrize(
    ("written", "defaulted"),
    [
        (..., {"subdomainPolicy": "Shared"}),
        (None, {"subdomainPolicy": "Shared"}),
        ({}, {"subdomainPolicy": "Shared"}),
        ({"subdomainPolicy": None}, {"subdomainPolicy": "Shared"}),
        ({"subdomainPolicy": "UniquePerReplica"}, {"subdomainPolicy": "UniquePerReplica"}),
        ({"subdomainPolicy": ""}, {"subdomainPolicy": ""}),
        (["x"], ["x"]),
    ],
)
def test_network_config(written: object, defaulted: object) -> None:
    assert spec_of(make_lws(spec={"networkConfig": written}))["networkConfig"] == defaulted


@pytest.mark.parametrize(
    ("written", "defaulted"),
    [
        (..., None),
        (None, None),
        ({}, {"subGroupPolicyType": "LeaderWorker"}),
        ({"subGroupSize": 2}, {"subGroupSize": 2, "subGroupPolicyType": "LeaderWorker"}),
        (
            {"subGroupSize": 2, "subGroupPolicyType": "LeaderExcluded"},
            {"subGroupSize": 2, "subGroupPolicyType": "LeaderExcluded"},
        ),
    ],
)
def test_subgroup_policy_type(written: object, defaulted: object) -> None:
    template = spec_of(make_lws(spec={"leaderWorkerTemplate": {"subGroupPolicy": written}}))[
        "leaderWorkerTemplate"
    ]
    assert template.get("subGroupPolicy") == defaulted


@pytest.mark.parametrize(
    ("patch", "field", "value"),
    [
        ({"replicas": None}, "replicas", 1),
        ({"replicas": 0}, "replicas", 0),
        ({"replicas": 7}, "replicas", 7),
        ({"startupPolicy": None}, "startupPolicy", "LeaderCreated"),
        ({"startupPolicy": "LeaderReady"}, "startupPolicy", "LeaderReady"),
        ({"startupPolicy": ""}, "startupPolicy", ""),  # present: no schema default; the enum rejects it
    ],
)
def test_spec_scalars(patch: dict[str, Any], field: str, value: object) -> None:
    assert spec_of(make_lws(spec=patch))[field] == value


@pytest.mark.parametrize(("written", "defaulted"), [(..., 1), (None, 1), (3, 3), ("three", "three")])
def test_size(written: object, defaulted: object) -> None:
    obj = make_lws(spec={"leaderWorkerTemplate": {"size": written}})
    assert spec_of(obj)["leaderWorkerTemplate"]["size"] == defaulted


@pytest.mark.parametrize(
    ("written", "flag", "expected"),
    [
        ("team-a", None, "team-a"),
        ("team-a", "team-b", "team-a"),
        (..., "team-b", "team-b"),
        ("", "team-b", "team-b"),
        (..., None, "default"),
    ],
)
def test_namespace_rule(written: object, flag: str | None, expected: str) -> None:
    obj = make_lws(metadata={"namespace": written})
    assert default_lws(obj, namespace=flag)["metadata"]["namespace"] == expected


def test_missing_metadata_gets_a_namespace_only() -> None:
    assert default_lws({"kind": "LeaderWorkerSet"})["metadata"] == {"namespace": "default"}


def test_pod_templates_are_defaulted_by_the_embedded_pod_schema_as_the_api_server_does() -> None:
    template = {
        "metadata": {"creationTimestamp": None},
        "spec": {
            "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}], "env": None}],
            "weird": [None, {"a": None}],
        },
    }
    obj = make_lws(spec={"leaderWorkerTemplate": {"workerTemplate": template, "leaderTemplate": template}})
    defaulted = spec_of(obj)["leaderWorkerTemplate"]
    for name in ("workerTemplate", "leaderTemplate"):
        spec = defaulted[name]["spec"]
        [container] = spec["containers"]
        assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}], "upstream's +default marker"
        assert "env" not in container, "a null known field is dropped"
        assert spec["weird"] == [None, {"a": None}], "unknown fields are left for validation to report"


def test_null_known_fields_are_dropped_as_the_api_server_does() -> None:
    obj = make_lws(spec={"leaderWorkerTemplate": {"leaderTemplate": None, "volumeClaimTemplates": None}})
    template = spec_of(obj)["leaderWorkerTemplate"]
    assert "leaderTemplate" not in template
    assert "volumeClaimTemplates" not in template


@pytest.mark.parametrize("spec", ["a string", 3, ["a", "list"], {"leaderWorkerTemplate": "x"}])
def test_wrong_types_are_left_for_validation(spec: object) -> None:
    defaulted = default_lws(make_lws(spec=spec))["spec"]
    if isinstance(spec, dict):
        assert defaulted["leaderWorkerTemplate"] == "x"
    else:
        assert defaulted == spec


def test_no_spec_stays_without_spec() -> None:
    assert "spec" not in default_lws(
        {"apiVersion": "x", "kind": "LeaderWorkerSet", "metadata": {"name": "a"}}
    )


def test_input_is_never_changed() -> None:
    obj = make_lws(
        spec={"rolloutStrategy": {"rollingUpdateConfiguration": {"maxSurge": 1}}, "networkConfig": {}}
    )
    before = copy.deepcopy(obj)
    defaulted = default_lws(obj)
    assert obj == before
    defaulted["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"].append({"name": "x"})
    assert obj == before


@settings(max_examples=300, deadline=None)
@given(lws_like)
def test_defaulting_is_idempotent(obj: dict[str, Any]) -> None:
    once = default_lws(obj)
    assert default_lws(once) == once


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=10), json_data, max_size=5))
def test_defaulting_never_raises_on_arbitrary_objects(obj: dict[str, Any]) -> None:
    once = default_lws(obj)
    assert default_lws(once) == once
