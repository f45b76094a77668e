"""fieldValidation=Strict|Warn|Ignore for custom resources (lws.sim.fieldvalidation), and client warnings."""

from __future__ import annotations

from typing import Any

import pytest

from lws.sim.clientwarnings import collecting_warnings, header_value, warn
from lws.sim.errors import APIError
from lws.sim.fieldvalidation import check_fields
from lws.sim.resources import ResourceRegistry, ResourceType

SCHEMA = {
    "type": "object",
    "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}},
}
WIDGET = ResourceType(
    group="example.com",
    version="v1",
    kind="Widget",
    plural="widgets",
    singular="widget",
    namespaced=True,
    custom=True,
    schema=SCHEMA,
)
BODY: dict[str, Any] = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {"name": "w"},
    "spec": {"size": 1, "colour": "red", "shape": "round"},
}


def test_strict_refuses_unknown_fields_like_kubernetes() -> None:
    with pytest.raises(APIError) as raised:
        check_fields("Strict", WIDGET, BODY)
    assert raised.value.code == 400
    assert raised.value.reason == "BadRequest"
    assert raised.value.status["message"] == (
        'Widget in version "v1" cannot be handled as a Widget: strict decoding error: '
        'unknown field "spec.colour", unknown field "spec.shape"'
    )


@pytest.mark.parametrize("directive", ["Warn", None])
def test_warn_is_the_default_and_lists_each_field(directive: str | None) -> None:
    assert check_fields(directive, WIDGET, BODY) == [
        'unknown field "spec.colour"',
        'unknown field "spec.shape"',
    ]


@pytest.mark.parametrize(
    ("directive", "resource", "body", "patch_type"),
    [
        ("Ignore", WIDGET, BODY, None),
        ("Strict", WIDGET, {"spec": {"size": 2}}, None),
        (
            "Strict",
            WIDGET,
            [{"op": "add", "path": "/spec/colour", "value": "x"}],
            "application/json-patch+json",
        ),
        (
            "Strict",
            ResourceRegistry.with_builtins().by_kind("", "Pod"),
            [{"op": "add", "path": "/spec/nonsense", "value": 1}],
            "application/json-patch+json",
        ),
    ],
)
def test_nothing_to_report(
    directive: str, resource: ResourceType | None, body: Any, patch_type: str | None
) -> None:
    assert resource is not None
    assert check_fields(directive, resource, body, patch_type=patch_type) == []


def test_merge_patches_and_applies_are_checked_as_partial_objects() -> None:
    for patch_type in ("application/merge-patch+json", "application/apply-patch+yaml"):
        with pytest.raises(APIError, match=r"spec\.colour"):
            check_fields("Strict", WIDGET, {"spec": {"colour": "red"}}, patch_type=patch_type)


def test_an_unknown_directive_is_a_bad_request() -> None:
    with pytest.raises(APIError, match='Unsupported value: "Loose"') as raised:
        check_fields("Loose", WIDGET, BODY)
    assert raised.value.code == 400


def test_warnings_are_collected_once_and_only_inside_a_collection() -> None:
    warn("dropped on the floor")
    with collecting_warnings() as warnings:
        warn('unknown field "spec.a"')
        warn('unknown field "spec.a"')
        warn("second")
    assert warnings == ['unknown field "spec.a"', "second"]
    assert header_value('unknown field "spec.a"') == '299 - "unknown field \\"spec.a\\""'


def test_built_in_kinds_are_checked_against_their_go_types() -> None:
    pod = ResourceRegistry.with_builtins().by_kind("", "Pod")
    assert pod is not None
    body = {"metadata": {"name": "p"}, "spec": {"nonsense": 1, "containers": [{"name": "c", "sizes": 2}]}}
    assert check_fields("Warn", pod, body) == [
        'unknown field "spec.nonsense"',
        'unknown field "spec.containers[0].sizes"',
    ]
    with pytest.raises(
        APIError, match=r'Pod in version "v1" cannot be handled as a Pod: strict decoding error'
    ):
        check_fields("Strict", pod, body)
