"""DisaggregatedSet defaulting and validation, rule by rule: upstream's CRD schema (ranges, enums, the CEL
rule with its exact message), upstream's webhook rules with its texts and field paths, and upstream's
webhook unit and integration cases; never an exception on any input."""

from __future__ import annotations

from typing import Any

import pytest
from ds_api_testing import make_ds, role, sample_three_roles, sample_two_roles, triples, verdict_of
from hypothesis import given, settings
from hypothesis import strategies as st
from lws_api_testing import json_data

from lws.api import constants as c
from lws.api.disaggregated.defaulting import default_disaggregatedset, default_rolescaler
from lws.api.disaggregated.validation import replicas_rule_holds, service_name_length

CEL_MESSAGE = "replicas must be zero for all non-External roles or non-zero for all non-External roles"
RUC = "spec.roles[0].spec.rolloutStrategy.rollingUpdateConfiguration"
PARTITION_MSG = (
    "partition is not supported by DisaggregatedSet; rolling updates are managed across roles by the "
    "DisaggregatedSet controller"
)
PERCENT_MSG = (
    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex "
    "used for validation is '[0-9]+%')"
)


def external(name: str, replicas: int | None = None) -> dict[str, Any]:
    body = role(name, replicas)
    body["scaling"] = {"mode": "External"}
    return body


def with_rolling(body: dict[str, Any], **config: object) -> dict[str, Any]:
    body["spec"]["rolloutStrategy"] = {"rollingUpdateConfiguration": config}
    return body


# --- defaulting --------------------------------------------------------------------------------------------


def test_defaults_are_the_crds_and_nothing_more() -> None:
    ds = default_disaggregatedset(make_ds(role("prefill", None), with_rolling(role("decode"), maxSurge=2)))
    assert ds["metadata"]["namespace"] == "default"
    assert ds["spec"]["slices"] == 1
    prefill, decode = ds["spec"]["roles"]
    assert prefill["spec"]["replicas"] == 1
    assert prefill["spec"]["startupPolicy"] == "LeaderCreated"
    assert prefill["spec"]["leaderWorkerTemplate"]["size"] == 1
    assert prefill["spec"]["leaderWorkerTemplate"]["restartPolicy"] == "RecreateGroupOnPodRestart"
    # No webhook defaults: these are the child LeaderWorkerSet's to get when it is admitted.
    assert "rolloutStrategy" not in prefill["spec"]
    assert "networkConfig" not in prefill["spec"]
    assert "scaling" not in prefill
    assert decode["spec"]["rolloutStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdateConfiguration": {"maxSurge": 2, "maxUnavailable": 1, "partition": 0},
    }
    assert "placementPolicy" not in ds["spec"]


def test_written_scaling_and_placement_get_their_defaults() -> None:
    ds = default_disaggregatedset(make_ds(role("a"), {**role("b"), "scaling": {}}, placementPolicy={}))
    assert ds["spec"]["roles"][1]["scaling"] == {"mode": "Static"}
    assert ds["spec"]["placementPolicy"] == {"type": "None"}


def test_defaulting_is_idempotent_and_keeps_the_input() -> None:
    raw = sample_three_roles()
    once = default_disaggregatedset(raw)
    assert default_disaggregatedset(once) == once
    assert raw == sample_three_roles()


def test_rolescaler_replicas_defaults_to_zero() -> None:
    assert default_rolescaler({"spec": {}})["spec"] == {"replicas": 0}


# --- valid objects -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", [sample_two_roles, sample_three_roles, make_ds])
def test_upstream_shaped_samples_are_admitted(sample: Any) -> None:
    verdict = verdict_of(sample())
    assert (verdict.errors, verdict.warnings) == ([], [])


# --- stage 1: the schema, its ranges and the CEL rule ------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"roles": [role("solo")]},
            [("spec.roles", "Invalid", "should have at least 2 items")],
        ),
        (
            {"roles": [role(f"r{i}") for i in range(11)]},
            [("spec.roles", "Invalid", "should have at most 10 items")],
        ),
        (
            {"roles": [role("a"), role("b")], "slices": 0},
            [("spec.slices", "Invalid", "spec.slices in body should be greater than or equal to 1")],
        ),
        (
            {"roles": [role("a"), role("b")], "slices": 101},
            [("spec.slices", "Invalid", "spec.slices in body should be less than or equal to 100")],
        ),
        (
            {"roles": [role("a", 1_000_001), role("b")]},
            [
                (
                    "spec.roles[0].spec.replicas",
                    "Invalid",
                    "spec.roles[0].spec.replicas in body should be less than or equal to 1000000",
                )
            ],
        ),
        (
            {"roles": [role("Prefill"), role("b")]},
            [("spec.roles[0].name", "Invalid", "should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'")],
        ),
        (
            {"roles": [role("a" * 64), role("b")]},
            [("spec.roles[0].name", "TooLong", "may not be more than 63 bytes")],
        ),
        (
            {"roles": [role("a"), role("a")]},
            [("spec.roles[1]", "Duplicate", "duplicate entry with name='a'")],
        ),
        (
            {"roles": [{**role("a"), "scaling": {"mode": "Auto"}}, role("b")]},
            [("spec.roles[0].scaling.mode", "NotSupported", 'supported values: "Static", "External"')],
        ),
        (
            {"roles": [role("a"), role("b")], "placementPolicy": {"type": "Spread"}},
            [
                (
                    "spec.placementPolicy.type",
                    "NotSupported",
                    'supported values: "None", "ExclusiveSlice", "ExclusiveTopology"',
                )
            ],
        ),
        (
            # The CRD enum rejects a rollout type before upstream's webhook could say it differently.
            {
                "roles": [
                    {**role("a"), "spec": {**role("a")["spec"], "rolloutStrategy": {"type": "Recreate"}}},
                    role("b"),
                ]
            },
            [
                (
                    "spec.roles[0].spec.rolloutStrategy.type",
                    "NotSupported",
                    'supported values: "RollingUpdate"',
                )
            ],
        ),
    ],
    ids=[
        "one-role",
        "eleven-roles",
        "zero-slices",
        "too-many-slices",
        "replicas-range",
        "role-name-pattern",
        "role-name-length",
        "duplicate-role",
        "scaling-mode",
        "placement-type",
        "rollout-type",
    ],
)
def test_schema_rules(spec: dict[str, Any], expected: list[tuple[str, str, str]]) -> None:
    ds = make_ds()
    ds["spec"] = spec
    assert triples(verdict_of(ds).errors) == expected


def test_unknown_fields_are_reported_with_a_suggestion() -> None:
    ds = make_ds(role("a"), {**role("b"), "replica": 2})
    [error] = verdict_of(ds).errors
    assert (error.path, error.type) == ("spec.roles[1].replica", "Forbidden")
    assert "unknown field" in error.detail


def test_schema_errors_stop_before_the_webhook_rules() -> None:
    # Both a schema error and a webhook error: the API server never calls the webhook.
    ds = make_ds(with_rolling(role("a"), partition=2), role("B"))
    assert [e.path for e in verdict_of(ds).errors] == ["spec.roles[1].name"]


def test_metadata_name_must_be_a_dns_subdomain() -> None:
    [error] = verdict_of(make_ds(name="Bad_Name")).errors
    assert error.path == "metadata.name"


@pytest.mark.parametrize(
    ("roles", "admitted"),
    [
        ([role("a", 0), role("b", 0)], True),
        ([role("a", 2), role("b", 3)], True),
        ([role("a", 1), role("b", 0)], False),
        ([role("a", 0), role("b", 5)], False),
        # External roles are exempt: their replicas live in the RoleScaler.
        ([role("a", 0), external("b", 3)], True),
        ([role("a", 2), external("b", 0)], True),
        ([external("a"), external("b")], True),
        ([role("a", 1), role("b", 0), external("c", 4)], False),
    ],
)
def test_the_cel_rule_with_upstreams_message(roles: list[dict[str, Any]], admitted: bool) -> None:
    errors = verdict_of(make_ds(*roles)).errors
    if admitted:
        assert errors == []
    else:
        assert triples(errors) == [("spec", "Invalid", CEL_MESSAGE)]
        assert str(errors[0]) == f'spec: Invalid value: "object": {CEL_MESSAGE}'


def test_replicas_rule_treats_unset_replicas_as_zero() -> None:
    # Without CRD defaulting (replicas: 1), an unset value counts as zero, as CEL's !has() does.
    assert replicas_rule_holds([{"name": "a", "spec": {}}, {"name": "b", "spec": {"replicas": 0}}])
    assert not replicas_rule_holds([{"name": "a", "spec": {}}, {"name": "b", "spec": {"replicas": 2}}])


# --- stage 2: upstream's webhook (cases of disaggregatedset_webhook_test.go) -----------------------------


@pytest.mark.parametrize(
    ("config", "replicas", "expected"),
    [
        ({"partition": 0}, 2, []),
        ({"partition": 1}, 2, [(f"{RUC}.partition", "Forbidden", PARTITION_MSG)]),
        (
            {"maxSurge": 0, "maxUnavailable": 0},
            2,
            [(f"{RUC}.maxUnavailable", "Invalid", "must not be 0 when `maxSurge` is 0")],
        ),
        (
            {"maxSurge": "0%", "maxUnavailable": "0%"},
            2,
            [(f"{RUC}.maxUnavailable", "Invalid", "must not be 0 when `maxSurge` is 0")],
        ),
        # 10% of 2 rounds down to 0 for maxUnavailable; maxSurge 0: both resolve to 0.
        (
            {"maxSurge": 0, "maxUnavailable": "10%"},
            2,
            [(f"{RUC}.maxUnavailable", "Invalid", "must not be 0 when `maxSurge` is 0")],
        ),
        ({"maxSurge": "10%", "maxUnavailable": 0}, 2, []),
        ({"maxSurge": 0, "maxUnavailable": 1}, 2, []),
        ({"maxSurge": 0, "maxUnavailable": 0}, 0, []),
        ({"maxSurge": -1}, 2, [(f"{RUC}.maxSurge", "Invalid", "must be greater than or equal to 0")]),
        (
            {"maxUnavailable": "101%"},
            2,
            [(f"{RUC}.maxUnavailable", "Invalid", "must not be greater than 100%")],
        ),
        ({"maxSurge": "2"}, 2, [(f"{RUC}.maxSurge", "Invalid", PERCENT_MSG)]),
        (
            {"partition": 3, "maxSurge": 0, "maxUnavailable": 0},
            2,
            [
                (f"{RUC}.partition", "Forbidden", PARTITION_MSG),
                (f"{RUC}.maxUnavailable", "Invalid", "must not be 0 when `maxSurge` is 0"),
            ],
        ),
    ],
    ids=[
        "partition-0",
        "partition-1",
        "both-zero",
        "both-zero-percent",
        "unavailable-rounds-to-zero",
        "surge-rounds-up",
        "only-one-zero",
        "zero-replica-exemption",
        "negative-surge",
        "over-100-percent",
        "digit-string",
        "multiple-errors",
    ],
)
def test_rollout_strategy_rules(
    config: dict[str, Any], replicas: int, expected: list[tuple[str, str, str]]
) -> None:
    ds = make_ds(with_rolling(role("prefill", replicas), **config), role("decode", replicas))
    assert triples(verdict_of(ds).errors) == expected


def test_partition_error_mentions_partition_as_upstreams_e2e_expects() -> None:
    ds = make_ds(with_rolling(role("prefill", 2), partition=1), role("decode", 2))
    assert "partition" in str(verdict_of(ds).errors[0])


def test_external_role_with_replicas_warns_but_is_admitted() -> None:
    verdict = verdict_of(make_ds(external("prefill", 3), role("decode", 0), name="ds"))
    assert verdict.errors == []
    assert verdict.warnings == [
        'role "prefill" sets scaling.mode: External and spec.replicas: 3 — spec.replicas is ignored; drive '
        'replicas via DisaggregatedSetRoleScaler "ds-prefill" instead'
    ]


def test_external_role_with_the_defaulted_single_replica_does_not_warn() -> None:
    assert verdict_of(make_ds(external("prefill"), role("decode"))).warnings == []


def test_external_roles_forbid_more_than_one_slice() -> None:
    verdict = verdict_of(make_ds(external("prefill"), role("decode"), slices=2))
    assert triples(verdict.errors) == [
        (
            "spec.slices",
            "Forbidden",
            "spec.slices > 1 is not supported while any role has scaling.mode: External (alpha restriction)",
        )
    ]


def test_external_scaler_name_must_fit_253_characters() -> None:
    verdict = verdict_of(make_ds(external("prefill"), role("decode"), name="a" * 250))
    scaler = [e for e in verdict.errors if "253 characters" in e.detail]
    assert [(e.path, e.value) for e in scaler] == [("spec.roles[0].name", "prefill")]
    assert scaler[0].detail == f'would produce scaler name "{"a" * 250}-prefill" exceeding 253 characters'


@pytest.mark.parametrize(
    ("name", "roles", "slices", "rejected"),
    [
        ("a" * 40, ("b" * 7, "b"), 1, []),
        ("a" * 40, ("b" * 8, "b"), 1, [0]),
        ("x" * 50, ("abc", "de"), 1, [0, 1]),
        ("a" * 40, ("b" * 7, "b"), 100, [0]),
        ("a" * 40, ("b" * 7, "b"), 10, []),
        ("a" * 40, ("b" * 7, "b"), 11, [0]),
    ],
    ids=["exact-limit", "one-over", "long-set-name", "multi-slice", "slice-9", "slice-10"],
)
def test_name_budget(name: str, roles: tuple[str, ...], slices: int, rejected: list[int]) -> None:
    verdict = verdict_of(make_ds(*(role(r) for r in roles), name=name, slices=slices))
    assert [e.path for e in verdict.errors] == [f"spec.roles[{i}].name" for i in rejected]
    for error in verdict.errors:
        index = int(error.path.split("[")[1].split("]")[0])
        length = service_name_length(len(name), roles[index], slices)
        digits = len(str(slices - 1))
        assert error.detail == (
            f"the generated service name ({length} chars) would exceed the DNS-1035 limit of 63 characters; "
            f"reduce the DisaggregatedSet name and/or role name (combined limit: {63 - 3 - digits - 8 - 4} "
            "characters)"
        )


def test_name_budget_counts_the_generated_suffix_of_generate_name() -> None:
    ds = make_ds(role("b" * 7), role("b"))
    ds["metadata"] = {"generateName": "a" * 35}
    assert verdict_of(ds).errors == []
    ds["metadata"] = {"generateName": "a" * 36}
    assert [e.path for e in verdict_of(ds).errors] == ["spec.roles[0].name"]


@pytest.mark.parametrize(
    ("role_name", "size", "policy", "rejected"),
    [
        ("b" * 11, 2, None, False),  # 20 + 3 + 1 + 8 + 11 = 43: the Hash budget of a group of 2
        ("b" * 12, 2, None, True),
        ("b" * 12, 1, None, False),  # no worker StatefulSet: the leader's host name (54) is the limit
        ("b" * 23, 1, "UniquePerReplica", True),
    ],
    ids=["exact-limit", "one-over", "size-1", "size-1-over"],
)
def test_a_hash_roles_child_name_must_fit_the_hash_budget(
    role_name: str, size: int, policy: str | None, rejected: bool
) -> None:
    spec: dict[str, Any] = {"groupIdentity": "Hash"}
    if policy is not None:
        spec["networkConfig"] = {"subdomainPolicy": policy}
    hashed = role(role_name, **spec)
    hashed["spec"]["leaderWorkerTemplate"]["size"] = size
    errors = verdict_of(make_ds(hashed, role("d"), name="a" * 20)).errors
    assert [e.path for e in errors] == (["spec.roles[0].name"] if rejected else [])
    if rejected:
        length = 20 + 3 + 1 + 8 + len(role_name)
        assert errors[0].detail.startswith(
            f"the child LeaderWorkerSet name <name>-<slice>-<revision>-<role> ({length} chars) would exceed "
        )
        assert errors[0].detail.endswith(
            f"shorten the DisaggregatedSet name and/or role name by {length - (43 if size == 2 else 54)}"
        )
    # The same names in Ordinal roles are left to the Service budget, which they fit.
    assert verdict_of(make_ds(role(role_name), role("d"), name="a" * 20)).errors == []


# --- placement (webhook unit cases and test/integration/webhooks/disaggregatedset_test.go) ---------------


HOST = "kubernetes.io/hostname"


def with_annotation(body: dict[str, Any], where: str, key: str) -> dict[str, Any]:
    template = body["spec"]["leaderWorkerTemplate"]
    if where == "role":
        target = body.setdefault("metadata", {})
    elif where == "leader":
        template["leaderTemplate"] = {"spec": {"containers": [{"name": "main", "image": "nginx"}]}}
        target = template["leaderTemplate"].setdefault("metadata", {})
    else:
        target = template["workerTemplate"].setdefault("metadata", {})
    target.setdefault("annotations", {})[key] = HOST
    return body


def test_placement_policy_alone_is_allowed() -> None:
    for kind in ("ExclusiveSlice", "ExclusiveTopology", "None"):
        ds = make_ds(placementPolicy={"type": kind, "topology": HOST})
        assert verdict_of(ds).errors == []


def test_exclusive_annotation_alone_is_allowed() -> None:
    ds = make_ds(with_annotation(role("prefill"), "role", c.EXCLUSIVE_KEY_ANNOTATION), role("decode"))
    assert verdict_of(ds).errors == []


def test_placement_needs_a_topology() -> None:
    ds = make_ds(placementPolicy={"type": "ExclusiveSlice"})
    assert triples(verdict_of(ds).errors) == [
        ("spec.placementPolicy.topology", "Required", "topology is required when type is not None")
    ]


def test_placement_none_needs_no_topology() -> None:
    assert verdict_of(make_ds(placementPolicy={"type": "None"})).errors == []


@pytest.mark.parametrize(
    ("index", "where", "key", "kind"),
    [
        (0, "role", c.EXCLUSIVE_KEY_ANNOTATION, "ExclusiveSlice"),
        (1, "worker", c.EXCLUSIVE_KEY_ANNOTATION, "ExclusiveTopology"),
        (1, "role", c.SUBGROUP_EXCLUSIVE_KEY_ANNOTATION, "ExclusiveSlice"),
        (0, "leader", c.SUBGROUP_EXCLUSIVE_KEY_ANNOTATION, "ExclusiveSlice"),
        (0, "worker", c.SUBGROUP_EXCLUSIVE_KEY_ANNOTATION, "ExclusiveTopology"),
    ],
    ids=["role-metadata", "worker-template", "subgroup-role", "subgroup-leader", "subgroup-worker"],
)
def test_placement_with_an_exclusive_annotation_is_forbidden(
    index: int, where: str, key: str, kind: str
) -> None:
    roles = [role("prefill"), role("decode")]
    with_annotation(roles[index], where, key)
    ds = make_ds(*roles, placementPolicy={"type": kind, "topology": HOST})
    errors = verdict_of(ds).errors
    assert triples(errors) == [
        (
            f"spec.roles[{index}]",
            "Forbidden",
            f'the "{key}" annotation must not be combined with a non-None spec.placementPolicy.type ({kind})',
        )
    ]
    assert key in str(errors[0])


def test_adding_either_placement_or_annotation_to_an_object_with_the_other_is_rejected_on_update() -> None:
    # Upstream's webhook judges the new object alone on UPDATE, so either order of arrival is rejected.
    with_policy = make_ds(placementPolicy={"type": "ExclusiveSlice", "topology": HOST})
    assert verdict_of(with_policy).errors == []
    updated = make_ds(
        with_annotation(role("prefill"), "role", c.EXCLUSIVE_KEY_ANNOTATION),
        role("decode"),
        placementPolicy={"type": "ExclusiveSlice", "topology": HOST},
    )
    assert [e.path for e in verdict_of(updated).errors] == ["spec.roles[0]"]


# --- robustness --------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {"apiVersion": st.just("disaggregatedset.x-k8s.io/v1"), "kind": st.just("DisaggregatedSet")},
        optional={
            "metadata": st.one_of(json_data, st.fixed_dictionaries({"name": st.text(max_size=70)})),
            "spec": st.one_of(
                json_data,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "roles": st.lists(
                            st.one_of(
                                json_data, st.builds(role, st.sampled_from(["a", "b", "A", ""]), json_data)
                            ),
                            max_size=4,
                        ),
                        "slices": json_data,
                        "placementPolicy": json_data,
                    },
                ),
            ),
        },
    )
)
def test_never_raises_on_any_input(obj: dict[str, Any]) -> None:
    verdict = verdict_of(obj)
    assert all(isinstance(e.detail, str) for e in verdict.errors)


def _nested(depth: int) -> dict[str, Any]:
    """``depth`` objects, each the only value of the one before (built in a loop: a literal recurses)."""
    deep: dict[str, Any] = {}
    tip = deep
    for _ in range(depth - 1):
        tip["a"] = {}
        tip = tip["a"]
    return deep


@pytest.mark.parametrize("depth", [150, 20_000])
def test_deep_nesting_is_refused_naming_the_field_before_anything_recurses(depth: int) -> None:
    """As LeaderWorkerSet admission does: defaulting and the child's admission recurse, and at 20,000 levels
    raised RecursionError (a 500 from the webhook, a traceback from ``lws validate``)."""
    from lws.controller.admission import Denied, validate_disaggregated_set
    from lws.core.disaggregated.admission import admit
    from lws.hooks.manager import make_hooks

    obj = make_ds()
    obj["spec"]["roles"][1]["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["x"] = _nested(depth)
    _, verdict = admit(obj, make_hooks())
    [error] = verdict.errors
    assert error.path.startswith("spec.roles[1].spec.leaderWorkerTemplate.workerTemplate.spec.x.a.a")
    assert error.detail == (
        "nests more than 100 objects and arrays deep; no DisaggregatedSet field goes that deep: remove what "
        "is nested under it"
    )
    with pytest.raises(Denied, match=r"spec\.roles\[1\]\..*nests more than 100") as denied:
        validate_disaggregated_set(obj, make_hooks(), namespace="default")
    assert denied.value.code == 403


@pytest.mark.parametrize(("depth", "refused"), [(92, False), (93, True)])
def test_the_limit_is_100_levels_from_the_root(depth: int, refused: bool) -> None:
    """The object, spec, roles, the role, its spec, leaderWorkerTemplate, workerTemplate and the pod spec
    are 8 levels: 92 more reach 100, which the rules then see (here: ``x`` is an unknown field)."""
    from lws.core.disaggregated.admission import admit
    from lws.hooks.manager import make_hooks

    obj = make_ds()
    obj["spec"]["roles"][0]["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["x"] = _nested(depth)
    _, verdict = admit(obj, make_hooks())
    [error] = verdict.errors
    assert ("nests more than 100" in error.detail) is refused, error
    assert ("unknown field" in error.detail) is not refused, error
