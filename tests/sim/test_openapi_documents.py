"""The OpenAPI documents kubectl reads (lws.sim.openapi): structure, markers and the schemas they carry."""

from __future__ import annotations

import json
from typing import Any

from lws.sim.openapi import (
    V2_PROTOBUF,
    OpenAPIDocuments,
    definition_name,
    group_version_document,
    v2_document,
)
from lws.sim.resources import ResourceRegistry, ResourceType, ScaleSpec

WIDGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {"replicas": {"type": "integer", "description": "How many."}},
        }
    },
}


def widget(schema: dict[str, Any] | None = None, version: str = "v1") -> ResourceType:
    return ResourceType(
        group="example.com",
        version=version,
        kind="Widget",
        plural="widgets",
        singular="widget",
        namespaced=True,
        subresources=("status", "scale"),
        scale=ScaleSpec(),
        custom=True,
        schema=schema or WIDGET_SCHEMA,
        crd_name="widgets.example.com",
    )


def registry_with(*extra: ResourceType) -> ResourceRegistry:
    registry = ResourceRegistry.with_builtins()
    for resource in extra:
        registry.add(resource)
    return registry


def apps() -> dict[str, Any]:
    registry = registry_with()
    return group_version_document(registry.in_group_version("apps", "v1"))


def test_index_lists_every_group_version_with_a_hashed_url() -> None:
    documents = OpenAPIDocuments(registry_with(widget()))
    index = documents("/openapi/v3")
    assert index is not None
    paths = index["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/example.com/v1", "apis/apiextensions.k8s.io/v1"} <= set(paths)
    url = paths["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    assert documents(url) == documents("/openapi/v3/apis/apps/v1")
    assert documents("/openapi/v3/apis/nothing.example.com/v1") is None
    assert documents("/openapi/v4") is None


def test_the_hash_changes_when_a_crd_schema_changes_and_only_then() -> None:
    registry = registry_with(widget())
    documents = OpenAPIDocuments(registry)

    def url(key: str) -> str:
        index = documents("/openapi/v3")
        assert index is not None
        return str(index["paths"][key]["serverRelativeURL"])

    before, apps_before = url("apis/example.com/v1"), url("apis/apps/v1")
    assert url("apis/example.com/v1") == before
    changed = json.loads(json.dumps(WIDGET_SCHEMA))
    changed["properties"]["spec"]["properties"]["color"] = {"type": "string"}
    registry.add(widget(changed))
    assert url("apis/example.com/v1") != before
    assert url("apis/apps/v1") == apps_before
    document = documents("/openapi/v3/apis/example.com/v1")
    assert document is not None
    spec = document["components"]["schemas"]["com.example.v1.Widget"]["properties"]["spec"]
    assert "color" in spec["properties"]


def test_every_patch_operation_carries_the_kind_and_the_field_validation_parameter() -> None:
    document = apps()
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}"]["patch"]
    assert patch["x-kubernetes-action"] == "patch"
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "version": "v1",
        "kind": "StatefulSet",
    }
    assert {"name": "fieldValidation", "in": "query"}.items() <= next(
        p for p in patch["parameters"] if p["name"] == "fieldValidation"
    ).items()
    # kubectl falls back to its compiled-in patch metadata for built-ins (see the module docstring).
    assert set(patch["requestBody"]["content"]) == {
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
    }
    scale = document["paths"]["/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}/scale"]["patch"]
    assert scale["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling",
        "version": "v1",
        "kind": "Scale",
    }
    listing = document["paths"]["/apis/apps/v1/statefulsets"]["get"]
    assert listing["x-kubernetes-action"] == "list"


def test_built_in_schemas_name_their_kind_and_spell_out_merge_lists() -> None:
    schemas = apps()["components"]["schemas"]
    deployment = schemas["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]
    assert deployment["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]
    pod_spec = deployment["properties"]["spec"]["properties"]["template"]["properties"]["spec"]
    containers = pod_spec["properties"]["containers"]
    assert containers["type"] == "array"
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    ports = containers["items"]["properties"]["ports"]
    assert ports["x-kubernetes-patch-merge-key"] == "containerPort"
    assert ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    assert containers["items"]["properties"]["env"]["x-kubernetes-patch-merge-key"] == "name"
    assert pod_spec["properties"]["volumes"]["x-kubernetes-patch-strategy"] == "merge,retainKeys"
    assert (
        deployment["properties"]["spec"]["properties"]["strategy"]["x-kubernetes-patch-strategy"]
        == "retainKeys"
    )
    assert deployment["x-kubernetes-preserve-unknown-fields"] is True
    assert schemas["io.k8s.api.apps.v1.DeploymentList"]["x-kubernetes-group-version-kind"][0]["kind"] == (
        "DeploymentList"
    )
    assert "io.k8s.api.autoscaling.v1.Scale" in schemas


def test_custom_resources_publish_their_crd_schema() -> None:
    document = group_version_document([widget()])
    schema = document["components"]["schemas"]["com.example.v1.Widget"]
    assert schema["properties"]["spec"]["properties"]["replicas"] == {
        "type": "integer",
        "description": "How many.",
    }
    assert schema["properties"]["apiVersion"]["type"] == "string"
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "example.com", "kind": "Widget", "version": "v1"}
    ]
    patch = document["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    assert "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/status" in document["paths"]
    assert WIDGET_SCHEMA["properties"]["spec"]["properties"]["replicas"] == {
        "type": "integer",
        "description": "How many.",
    }  # the CRD's own schema is left untouched


def test_cluster_scoped_resources_have_no_namespace_paths() -> None:
    registry = registry_with()
    document = group_version_document(registry.in_group_version("", "v1"))
    assert "/api/v1/nodes/{name}" in document["paths"]
    assert not any(path.startswith("/api/v1/namespaces/{namespace}/nodes") for path in document["paths"])
    assert "/api/v1/namespaces/{namespace}/pods/{name}/status" in document["paths"]


def test_definition_names_follow_kubernetes() -> None:
    assert definition_name("", "v1", "Pod") == "io.k8s.api.core.v1.Pod"
    assert definition_name("rbac.authorization.k8s.io", "v1", "Role") == "io.k8s.api.rbac.v1.Role"
    assert definition_name("apiextensions.k8s.io", "v1", "CustomResourceDefinition") == (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
    )
    assert definition_name("leaderworkerset.x-k8s.io", "v1", "LeaderWorkerSet", custom=True) == (
        "io.x-k8s.leaderworkerset.v1.LeaderWorkerSet"
    )


def test_v2_is_swagger_json_or_the_protobuf_kubectl_asks_for() -> None:
    documents = OpenAPIDocuments(registry_with(widget()))
    v2 = v2_document(registry_with(widget()))
    assert v2["swagger"] == "2.0"
    assert v2["definitions"]["com.example.v1.Widget"]["properties"]["metadata"]["allOf"][0]["$ref"] == (
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    )
    patch = v2["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Widget"
    assert any(p["in"] == "body" for p in patch["parameters"])

    json_answer = documents.respond("/openapi/v2", "application/json")
    assert json_answer is not None
    assert json.loads(json_answer[0])["swagger"] == "2.0"
    proto_answer = documents.respond("/openapi/v2", f"{V2_PROTOBUF}, application/json")
    assert proto_answer == (b"\x0a\x032.0", "application/octet-stream")
    assert documents.respond("/openapi/v3/apis/none/v1", "application/json") is None
