"""The shared structural-schema engine: one pruning rule for unknown fields, and the options that make the
API layer stricter than the server."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lws.api.crd import build_crd
from lws.api.structural import check
from lws.k8s.structural import Options, apply_defaults, drop_nulls, prune, violations
from lws.sim.schema import StructuralSchema

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
                "size": {"type": "integer", "format": "int32", "default": 1},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "anything": {"type": "object", "additionalProperties": True},
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}},
                },
                "items": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                },
            },
        },
    },
}

DOCS: list[dict[str, Any]] = [
    {"metadata": {"name": "a", "whatever": 1}, "spec": {"size": 1, "bogus": True}},
    {"spec": {"size": 1, "labels": {"a": "b"}, "open": {"free": {"deep": 1}}, "anything": {"k": [1]}}},
    {
        "spec": {
            "size": 1,
            "template": {"metadata": {"anything": 1}, "kind": "Pod", "spec": {"x": "1", "y": 2}},
        }
    },
    {"spec": {"size": 1, "items": [{"name": "a", "extra": 1}, {"name": "b"}]}, "top": 1},
]


@pytest.mark.parametrize("doc", DOCS)
def test_unknown_fields_are_exactly_what_pruning_drops(doc: dict[str, Any]) -> None:
    reported = [v.path for v in violations(SCHEMA, doc, Options(unknown_fields=True)) if v.kind == "unknown"]
    assert reported == prune(SCHEMA, copy.deepcopy(doc))


def test_the_api_layer_and_the_embedded_cluster_agree_on_the_crd_unknown_fields() -> None:
    crd = build_crd(startup_policies=["LeaderCreated"], restart_policies=["None"])
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    manifest = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "x"},
        "spec": {
            "replica": 2,
            "leaderWorkerTemplate": {
                "size": 2,
                "workerTemplate": {"metadata": {"labelz": {}}, "spec": {"containers": []}},
            },
        },
    }
    api = sorted(e.path for e in check(schema, manifest) if e.type == "Forbidden")
    server = sorted(StructuralSchema(schema).unknown_fields(manifest))
    assert api == server == ["spec.leaderWorkerTemplate.workerTemplate.metadata.labelz", "spec.replica"]


@pytest.mark.parametrize(
    ("options", "value", "kinds"),
    [
        (Options(), {"spec": {"size": 2.0}}, []),
        (Options(whole_floats_are_integers=False), {"spec": {"size": 2.0}}, ["type"]),
        (Options(), {"spec": {"size": 2**40}}, []),
        (Options(integer_formats=True), {"spec": {"size": 2**40}}, ["int_range"]),
        (Options(), {"spec": {"size": None}}, ["type"]),
        (Options(null_is_absent=True), {"spec": {"size": None}}, ["required"]),
        (Options(), {"spec": {}}, ["required"]),
    ],
)
def test_options_make_the_check_stricter_than_the_server(
    options: Options, value: dict[str, Any], kinds: list[str]
) -> None:
    assert [v.kind for v in violations(SCHEMA, value, options)] == kinds


def test_defaults_fill_nulls_and_missing_fields_then_nulls_without_default_go() -> None:
    value: dict[str, Any] = {"spec": {"size": None, "labels": {"a": None}, "template": None}}
    apply_defaults(SCHEMA, value)
    drop_nulls(SCHEMA, value)
    assert value == {"spec": {"size": 1, "labels": {}}}
