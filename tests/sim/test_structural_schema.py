"""CRD structural schemas: defaulting, pruning and validation with the apiextensions server's messages."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from lws.sim.schema import StructuralSchema

INT_OR_STRING = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "replicas": {"type": "integer", "format": "int32", "default": 1, "minimum": 0},
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "ratio": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "multipleOf": 0.5},
                "policy": {
                    "type": "string",
                    "enum": ["LeaderCreated", "LeaderReady"],
                    "default": "LeaderCreated",
                },
                "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
                "when": {"type": "string", "format": "date-time"},
                "surge": {**INT_OR_STRING, "default": "25%"},
                "nullableText": {"type": "string", "nullable": True},
                "strategy": {
                    "type": "object",
                    "default": {},
                    "properties": {
                        "type": {"type": "string", "default": "RollingUpdate"},
                        "rolling": {
                            "type": "object",
                            "properties": {"maxUnavailable": {**INT_OR_STRING, "default": 1}},
                        },
                    },
                },
                "tags": {"type": "array", "maxItems": 3, "minItems": 1, "items": {"type": "string"}},
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["port"],
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "integer"},
                            "protocol": {"type": "string", "default": "TCP"},
                        },
                    },
                },
                "labels": {
                    "type": "object",
                    "additionalProperties": {"type": "string", "maxLength": 3},
                },
                "groups": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {"size": {"type": "integer", "default": 2}},
                    },
                },
                "set": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "template": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "partial": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}},
                },
                "embedded": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}},
                },
            },
        },
    },
}

schema = StructuralSchema(SCHEMA)


def _obj(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 1, **spec},
    }


# --- defaulting ---------------------------------------------------------------------------------------------


def test_defaults_fill_missing_fields_and_nested_defaults() -> None:
    spec = schema.default(_obj())["spec"]
    assert spec["replicas"] == 1
    assert spec["policy"] == "LeaderCreated"
    assert spec["surge"] == "25%"
    # strategy defaults to {} and the defaults inside the default apply too
    assert spec["strategy"] == {"type": "RollingUpdate"}


def test_defaults_apply_only_inside_present_objects() -> None:
    spec = schema.default(_obj())["spec"]
    assert "rolling" not in spec["strategy"]
    spec = schema.default(_obj(strategy={"rolling": {}}))["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rolling": {"maxUnavailable": 1}}


def test_defaults_do_not_override_values() -> None:
    spec = schema.default(_obj(replicas=0, policy="LeaderReady", strategy={"type": "X"}))["spec"]
    assert (spec["replicas"], spec["policy"], spec["strategy"]) == (0, "LeaderReady", {"type": "X"})


def test_defaults_inside_arrays_and_maps() -> None:
    spec = schema.default(_obj(ports=[{"port": 80}, {"port": 81, "protocol": "UDP"}], groups={"a": {}}))[
        "spec"
    ]
    assert spec["ports"] == [{"port": 80, "protocol": "TCP"}, {"port": 81, "protocol": "UDP"}]
    assert spec["groups"] == {"a": {"size": 2}}


def test_null_in_a_non_nullable_field_with_a_default_is_defaulted() -> None:
    assert schema.default(_obj(replicas=None))["spec"]["replicas"] == 1


def test_default_does_not_touch_its_input() -> None:
    obj = _obj()
    before = copy.deepcopy(obj)
    schema.default(obj)
    assert obj == before


def test_default_values_are_copies() -> None:
    first = schema.default(_obj())
    first["spec"]["strategy"]["type"] = "changed"
    assert schema.default(_obj())["spec"]["strategy"]["type"] == "RollingUpdate"


# --- pruning ------------------------------------------------------------------------------------------------


def test_prune_drops_unknown_fields_and_keeps_root_meta() -> None:
    obj = _obj(bogus=1, strategy={"type": "X", "extra": True}, ports=[{"port": 1, "junk": 2}])
    obj["status"] = {"anything": 1}
    obj["metadata"]["labels"] = {"a": "b"}
    pruned = schema.prune(obj)
    assert pruned["spec"] == {"size": 1, "strategy": {"type": "X"}, "ports": [{"port": 1}]}
    assert "status" not in pruned
    assert pruned["metadata"] == {"name": "w", "labels": {"a": "b"}}
    assert pruned["apiVersion"] == "example.com/v1"
    assert schema.unknown_fields(obj) == ["spec.bogus", "spec.strategy.extra", "spec.ports[0].junk", "status"]


def test_prune_respects_preserve_unknown_fields() -> None:
    obj = _obj(template={"spec": {"containers": [{"name": "c", "anything": 1}]}})
    assert schema.prune(obj)["spec"]["template"] == obj["spec"]["template"]


def test_prune_still_prunes_known_properties_under_preserve_unknown_fields() -> None:
    obj = _obj(partial={"unknown": {"x": 1}, "known": {"a": "1", "b": "2"}})
    assert schema.prune(obj)["spec"]["partial"] == {"unknown": {"x": 1}, "known": {"a": "1"}}


def test_prune_keeps_meta_of_embedded_resources() -> None:
    embedded = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"x": "1", "y": 2},
        "z": 3,
    }
    result = schema.prune(_obj(embedded=embedded))["spec"]["embedded"]
    assert result == {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": "1"}}


def test_prune_keeps_additional_properties() -> None:
    obj = _obj(labels={"a": "x", "b": "y"}, groups={"g": {"size": 3, "junk": 1}})
    pruned = schema.prune(obj)["spec"]
    assert pruned["labels"] == {"a": "x", "b": "y"}
    assert pruned["groups"] == {"g": {"size": 3}}


def test_prune_drops_nulls_of_non_nullable_fields_without_default() -> None:
    pruned = schema.prune(_obj(name=None, nullableText=None, replicas=None))["spec"]
    assert "name" not in pruned
    assert pruned["nullableText"] is None
    assert pruned["replicas"] is None  # left for defaulting to fill


# --- validation ---------------------------------------------------------------------------------------------


def test_a_defaulted_valid_object_has_no_causes() -> None:
    obj = schema.default(_obj(name="abc", when="2024-01-02T03:04:05Z", ports=[{"port": 1}], tags=["a"]))
    assert schema.validate(obj) == []


@pytest.mark.parametrize(
    ("spec", "field", "reason", "message"),
    [
        (
            {"replicas": "3"},
            "spec.replicas",
            "FieldValueTypeInvalid",
            'Invalid value: "string": spec.replicas in body must be of type integer: "string"',
        ),
        (
            {"replicas": True},
            "spec.replicas",
            "FieldValueTypeInvalid",
            'Invalid value: "boolean": spec.replicas in body must be of type integer: "boolean"',
        ),
        (
            {"replicas": 1.5},
            "spec.replicas",
            "FieldValueTypeInvalid",
            'Invalid value: "number": spec.replicas in body must be of type integer: "number"',
        ),
        (
            {"replicas": -1},
            "spec.replicas",
            "FieldValueInvalid",
            "Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
        ),
        (
            {"size": 11},
            "spec.size",
            "FieldValueInvalid",
            "Invalid value: 11: spec.size in body should be less than or equal to 10",
        ),
        (
            {"ratio": 0},
            "spec.ratio",
            "FieldValueInvalid",
            "Invalid value: 0: spec.ratio in body should be greater than 0",
        ),
        (
            {"ratio": 0.7},
            "spec.ratio",
            "FieldValueInvalid",
            "Invalid value: 0.7: spec.ratio in body should be a multiple of 0.5",
        ),
        (
            {"policy": "Bogus"},
            "spec.policy",
            "FieldValueNotSupported",
            'Unsupported value: "Bogus": supported values: "LeaderCreated", "LeaderReady"',
        ),
        ({"name": "abcdefg"}, "spec.name", "FieldValueTooLong", "Too long: may not be more than 5 bytes"),
        (
            {"name": "a"},
            "spec.name",
            "FieldValueInvalid",
            'Invalid value: "a": spec.name in body should be at least 2 chars long',
        ),
        (
            {"name": "AB"},
            "spec.name",
            "FieldValueInvalid",
            "Invalid value: \"AB\": spec.name in body should match '^[a-z]+$'",
        ),
        (
            {"when": "yesterday"},
            "spec.when",
            "FieldValueTypeInvalid",
            'Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday"',
        ),
        (
            {"surge": 1.5},
            "spec.surge",
            "FieldValueTypeInvalid",
            'Invalid value: "number": spec.surge in body must be of type integer,string: "number"',
        ),
        (
            {"tags": ["a", "b", "c", "d"]},
            "spec.tags",
            "FieldValueTooMany",
            "Too many: 4: must have at most 3 items",
        ),
        (
            {"tags": []},
            "spec.tags",
            "FieldValueInvalid",
            "Invalid value: 0: spec.tags in body should have at least 1 items",
        ),
        (
            {"tags": ["a", 1]},
            "spec.tags[1]",
            "FieldValueTypeInvalid",
            'Invalid value: "integer": spec.tags[1] in body must be of type string: "integer"',
        ),
        (
            {"ports": [{"port": 1}, {"port": 1}]},
            "spec.ports[1]",
            "FieldValueDuplicate",
            'Duplicate value: {"port":1}',
        ),
        ({"ports": [{"protocol": "TCP"}]}, "spec.ports[0].port", "FieldValueRequired", "Required value"),
        ({"set": ["a", "b", "a"]}, "spec.set[2]", "FieldValueDuplicate", 'Duplicate value: "a"'),
        (
            {"labels": {"k": "long"}},
            "spec.labels.k",
            "FieldValueTooLong",
            "Too long: may not be more than 3 bytes",
        ),
        (
            {"name": None},
            "spec.name",
            "FieldValueTypeInvalid",
            'Invalid value: "null": spec.name in body must be of type string: "null"',
        ),
    ],
)
def test_validation_causes(spec: dict[str, Any], field: str, reason: str, message: str) -> None:
    found = [c for c in schema.validate(_obj(**spec)) if c.field == field]
    assert [(c.reason, c.message) for c in found] == [(reason, message)]


def test_required_fields() -> None:
    obj = _obj()
    del obj["spec"]["size"]
    causes = schema.validate(obj)
    assert [(c.field, c.reason, str(c)) for c in causes] == [
        ("spec.size", "FieldValueRequired", "spec.size: Required value")
    ]
    assert causes[0].to_status_cause() == {
        "reason": "FieldValueRequired",
        "message": "Required value",
        "field": "spec.size",
    }


@pytest.mark.parametrize("value", [3, "25%", 2.0])
def test_int_or_string_accepts_integers_and_strings(value: Any) -> None:
    assert schema.validate(_obj(surge=value)) == []


def test_nullable_and_preserved_fields_accept_anything_fitting() -> None:
    assert schema.validate(_obj(nullableText=None, template={"x": [1, {"y": None}]})) == []


@pytest.mark.parametrize(
    ("sub", "value", "valid"),
    [
        ({"anyOf": [{"minimum": 5}, {"maximum": 1}]}, 0, True),
        ({"anyOf": [{"minimum": 5}, {"maximum": 1}]}, 3, False),
        ({"allOf": [{"minimum": 1}, {"maximum": 5}]}, 3, True),
        ({"allOf": [{"minimum": 1}, {"maximum": 5}]}, 6, False),
        ({"oneOf": [{"minimum": 1}, {"minimum": 2}]}, 1, True),
        ({"oneOf": [{"minimum": 1}, {"minimum": 2}]}, 3, False),
        ({"not": {"maximum": 0}}, 1, True),
        ({"not": {"maximum": 0}}, 0, False),
    ],
)
def test_combinators(sub: dict[str, Any], value: Any, valid: bool) -> None:
    s = StructuralSchema({"type": "object", "properties": {"n": {"type": "integer", **sub}}})
    causes = s.validate({"n": value})
    assert (causes == []) is valid
    assert all(c.field == "n" for c in causes)


def test_cel_rules_are_ignored() -> None:
    s = StructuralSchema(
        {"type": "object", "x-kubernetes-validations": [{"rule": "false", "message": "never"}]}
    )
    assert s.validate({}) == []


# --- the project's own CRD, as any CRD ---------------------------------------------------------------------

CRD_PATH = Path(__file__).resolve().parents[2] / "crds" / "leaderworkerset.x-k8s.io_leaderworkersets.yaml"


def _crd_schema() -> StructuralSchema:
    crd = yaml.safe_load(CRD_PATH.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    return StructuralSchema(version["schema"]["openAPIV3Schema"])


def test_a_real_crd_defaults_prunes_and_validates() -> None:
    crd = _crd_schema()
    minimal = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "x"},
        "spec": {
            "leaderWorkerTemplate": {
                "workerTemplate": {"spec": {"containers": [{"name": "c", "image": "i"}]}}
            },
            "unknownField": True,
        },
    }
    assert crd.unknown_fields(minimal) == ["spec.unknownField"]
    obj = crd.default(crd.prune(minimal))
    assert obj["spec"]["replicas"] == 1
    assert obj["spec"]["leaderWorkerTemplate"]["size"] == 1
    assert crd.validate(obj) == []
    # defaulting and pruning are idempotent
    assert crd.default(crd.prune(obj)) == obj
    obj["spec"]["replicas"] = "two"
    assert [c.field for c in crd.validate(obj)] == ["spec.replicas"]


# --- properties --------------------------------------------------------------------------------------------

_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 20) | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["port", "type", "x"]), inner, max_size=3)
    ),
    max_leaves=6,
)
_specs = st.dictionaries(
    st.sampled_from(["replicas", "size", "strategy", "ports", "groups", "labels", "junk", "template"]),
    _values,
    max_size=5,
)


@given(_specs)
def test_prune_and_default_are_idempotent(spec: dict[str, Any]) -> None:
    obj = {"apiVersion": "v", "kind": "K", "metadata": {}, "spec": spec}
    once = schema.default(schema.prune(obj))
    assert schema.default(schema.prune(once)) == once
    assert schema.unknown_fields(schema.prune(obj)) == []


@given(_specs)
def test_validate_never_raises(spec: dict[str, Any]) -> None:
    for cause in schema.validate({"spec": spec}):
        assert cause.field.startswith("spec")
        assert cause.reason.startswith("FieldValue")
