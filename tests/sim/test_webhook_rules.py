"""Which requests a webhook configuration covers, and how its answers are read (lws.sim.webhooks)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from lws.sim.webhooks import (
    Request,
    WebhookCallError,
    denial_status,
    interpret_response,
    matching_version,
    ordered_webhooks,
    review_request,
    rule_matches,
    selectors_match,
)


def rule(resources: list[str], operations: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "apiGroups": extra.pop("groups", [""]),
        "apiVersions": extra.pop("versions", ["v1"]),
        "resources": resources,
        "operations": operations or ["*"],
        **extra,
    }


@pytest.mark.parametrize(
    ("resources", "resource", "subresource", "expected"),
    [
        (["pods"], "pods", "", True),
        (["pods"], "pods", "status", False),
        (["pods/status"], "pods", "status", True),
        (["pods/status"], "pods", "", False),
        (["pods/*"], "pods", "status", True),
        (["pods/*"], "pods", "", False),
        (["*"], "configmaps", "", True),
        (["*"], "pods", "status", False),
        (["*/scale"], "statefulsets", "scale", True),
        (["*/scale"], "statefulsets", "status", False),
        (["*/*"], "pods", "status", True),
        (["*/*"], "pods", "", True),
        (["services", "pods"], "pods", "", True),
        ([], "pods", "", False),
    ],
)
def test_resource_patterns(resources: list[str], resource: str, subresource: str, expected: bool) -> None:
    assert (
        rule_matches(
            rule(resources),
            operation="CREATE",
            group="",
            version="v1",
            resource=resource,
            subresource=subresource,
            namespaced=True,
        )
        is expected
    )


@pytest.mark.parametrize(
    ("changes", "request_fields", "expected"),
    [
        ({"operations": ["CREATE"]}, {"operation": "UPDATE"}, False),
        ({"operations": ["*"]}, {"operation": "DELETE"}, True),
        ({"operations": ["CONNECT"]}, {"operation": "CONNECT"}, True),
        ({"groups": ["apps"]}, {"group": ""}, False),
        ({"groups": ["*"]}, {"group": "apps"}, True),
        ({"versions": ["v1beta1"]}, {"version": "v1"}, False),
        ({"scope": "Cluster"}, {"namespaced": True}, False),
        ({"scope": "Cluster"}, {"namespaced": False}, True),
        ({"scope": "Namespaced"}, {"namespaced": False}, False),
        ({"scope": "*"}, {"namespaced": False}, True),
    ],
)
def test_operations_groups_versions_and_scope(
    changes: dict[str, Any], request_fields: dict[str, Any], expected: bool
) -> None:
    request = {
        "operation": "CREATE",
        "group": "",
        "version": "v1",
        "resource": "pods",
        "subresource": "",
        "namespaced": True,
        **request_fields,
    }
    assert rule_matches(rule(["*"], **changes), **request) is expected


def request(**fields: Any) -> Request:
    base: dict[str, Any] = {
        "operation": "CREATE",
        "group": "example.com",
        "version": "v2",
        "kind": "Widget",
        "resource": "widgets",
        "subresource": "",
        "namespaced": True,
        "namespace": "team",
        "name": "w",
        "object": {
            "apiVersion": "example.com/v2",
            "kind": "Widget",
            "metadata": {"name": "w", "labels": {"a": "1"}},
        },
        "old_object": None,
    }
    base.update(fields)
    return Request(**base)


def test_equivalent_match_policy_sends_the_version_the_rule_names() -> None:
    webhook = {"rules": [rule(["widgets"], groups=["example.com"], versions=["v1"])]}
    served = [("v2", "Widget"), ("v1", "Widget")]
    assert matching_version(webhook, request(), served) == ("v1", "Widget")
    assert matching_version({**webhook, "matchPolicy": "Exact"}, request(), served) is None
    assert matching_version(webhook, request(), [("v2", "Widget")]) is None

    review = review_request(request(), uid="u", version="v1", kind="Widget", user={"username": "me"})[
        "request"
    ]
    assert review["kind"] == {"group": "example.com", "version": "v1", "kind": "Widget"}
    assert review["requestKind"] == {"group": "example.com", "version": "v2", "kind": "Widget"}
    assert review["resource"]["version"] == "v1"
    assert review["object"]["apiVersion"] == "example.com/v1"


@pytest.mark.parametrize(
    ("webhook", "namespace_labels", "fields", "expected"),
    [
        ({}, None, {}, True),
        ({"namespaceSelector": {"matchLabels": {"env": "prod"}}}, {"env": "prod"}, {}, True),
        ({"namespaceSelector": {"matchLabels": {"env": "prod"}}}, {"env": "dev"}, {}, False),
        ({"namespaceSelector": {"matchLabels": {"env": "prod"}}}, None, {"namespaced": False}, True),
        (
            {"namespaceSelector": {"matchLabels": {"env": "prod"}}},
            None,
            {
                "group": "",
                "resource": "namespaces",
                "namespaced": False,
                "object": {"metadata": {"name": "n", "labels": {"env": "prod"}}},
            },
            True,
        ),
        ({"objectSelector": {"matchLabels": {"a": "1"}}}, None, {}, True),
        ({"objectSelector": {"matchLabels": {"a": "2"}}}, None, {}, False),
        (
            {"objectSelector": {"matchLabels": {"a": "2"}}},
            None,
            {"operation": "UPDATE", "old_object": {"metadata": {"labels": {"a": "2"}}}},
            True,
        ),
        (
            {"objectSelector": {"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}},
            None,
            {},
            False,
        ),
    ],
)
def test_selectors(
    webhook: dict[str, Any], namespace_labels: dict[str, str] | None, fields: dict[str, Any], expected: bool
) -> None:
    assert selectors_match(webhook, request(**fields), namespace_labels) is expected


def test_a_malformed_selector_is_a_failed_call() -> None:
    with pytest.raises(WebhookCallError, match="invalid selector"):
        selectors_match(
            {"objectSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}, request(), {}
        )


def review_answer(**response: Any) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "u", **response},
    }


def test_responses_are_read_with_their_patch_and_warnings() -> None:
    patch = [{"op": "add", "path": "/metadata/labels/x", "value": "y"}]
    encoded = base64.b64encode(json.dumps(patch).encode()).decode()
    verdict = interpret_response(
        review_answer(allowed=True, patchType="JSONPatch", patch=encoded, warnings=["careful"]), "u"
    )
    assert (verdict.allowed, verdict.patch, verdict.warnings) == (True, patch, ("careful",))


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ([], "other than a JSON object"),
        ({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}, "expected webhook response"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}, "response was absent"),
        (review_answer(allowed=True, patch="e30=", patchType="Merge"), 'only "JSONPatch"'),
        (review_answer(allowed=True, patch="not base64!", patchType="JSONPatch"), "not base64 JSON"),
        (review_answer(allowed=True, patch="e30=", patchType="JSONPatch"), "not a list of operations"),
    ],
)
def test_nonsense_answers_are_failed_calls(answer: Any, fragment: str) -> None:
    with pytest.raises(WebhookCallError) as raised:
        interpret_response(answer, "u")
    assert fragment in str(raised.value)


def test_denial_keeps_details_and_reason() -> None:
    status = denial_status(
        "v.example.com",
        {
            "code": 422,
            "reason": "Invalid",
            "message": "spec.size: must be >= 1",
            "details": {"causes": [{"field": "spec.size"}]},
        },
    )
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'admission webhook "v.example.com" denied the request: spec.size: must be >= 1',
        "code": 422,
        "reason": "Invalid",
        "details": {"causes": [{"field": "spec.size"}]},
    }


def test_webhooks_are_called_by_configuration_name_then_in_their_order() -> None:
    configurations = [
        {"metadata": {"name": "b"}, "webhooks": [{"name": "b1"}, {"name": "b2"}]},
        {"metadata": {"name": "a"}, "webhooks": [{"name": "a1"}]},
    ]
    assert [name for name, _ in ordered_webhooks(configurations)] == ["a1", "b1", "b2"]
