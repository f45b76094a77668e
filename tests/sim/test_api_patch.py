"""PATCH: JSON patch (as kopf uses it), merge, strategic merge, server-side apply, and their errors."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from lws.sim.apiserver import APIServer
from lws.sim.errors import APIError

CM = ("", "v1", "configmaps")
PODS = ("", "v1", "pods")
DEPLOYMENTS = ("apps", "v1", "deployments")
JSON_PATCH = "application/json-patch+json"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


@pytest.fixture
def api() -> APIServer:
    server = APIServer()
    server.bootstrap()
    return server


def _pod(name: str) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "a:1"}, {"name": "sidecar", "image": "s:1"}]},
    }


def test_kopf_style_json_patch_tests_the_resource_version(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    created = core.create_namespaced_config_map(test_namespace, {"metadata": {"name": "fin"}})
    rv = created.metadata.resource_version
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/guard"]},
    ]
    patched = core.patch_namespaced_config_map("fin", test_namespace, ops, _content_type=JSON_PATCH)
    assert patched.metadata.finalizers == ["example.com/guard"]
    with pytest.raises(client.ApiException) as caught:
        core.patch_namespaced_config_map("fin", test_namespace, ops, _content_type=JSON_PATCH)
    assert caught.value.status == 422
    core.patch_namespaced_config_map(
        "fin", test_namespace, {"metadata": {"finalizers": None}}, _content_type=MERGE
    )


def test_merge_patch_null_removes_a_key(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(
        test_namespace, {"metadata": {"name": "m"}, "data": {"a": "1", "b": "2"}}
    )
    patched = core.patch_namespaced_config_map(
        "m", test_namespace, {"data": {"a": None}}, _content_type=MERGE
    )
    assert patched.data == {"b": "2"}


def test_strategic_merge_patch_merges_containers_by_name(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_pod(test_namespace, _pod("smp"))
    patch = {"spec": {"containers": [{"name": "sidecar", "image": "s:2"}]}}
    patched = core.patch_namespaced_pod("smp", test_namespace, patch, _content_type=STRATEGIC)
    assert [(c.name, c.image) for c in patched.spec.containers] == [("app", "a:1"), ("sidecar", "s:2")]


async def test_merge_patch_replaces_lists_where_strategic_merges(api):
    # A pod template, not a pod: a real server refuses any change to a pod's container list.
    labels = {"app": "mp"}
    template = {"metadata": {"labels": labels}, "spec": _pod("mp")["spec"]}
    deployment = {
        "metadata": {"name": "mp"},
        "spec": {"selector": {"matchLabels": labels}, "template": template},
    }
    await api.create(DEPLOYMENTS, "default", deployment)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "o"}]}}}}
    patched = await api.patch(DEPLOYMENTS, "default", "mp", patch, MERGE)
    assert [c["name"] for c in patched["spec"]["template"]["spec"]["containers"]] == ["only"]


async def test_patch_of_a_missing_object_is_404(api):
    with pytest.raises(APIError) as caught:
        await api.patch(CM, "default", "absent", {"data": {"a": "b"}}, MERGE)
    assert caught.value.code == 404


async def test_malformed_json_patch_is_400(api):
    await api.create(CM, "default", {"metadata": {"name": "x"}})
    with pytest.raises(APIError) as caught:
        await api.patch(CM, "default", "x", [{"op": "explode", "path": "/data"}], JSON_PATCH)
    assert caught.value.code == 400


async def test_merge_patch_with_stale_resource_version_conflicts(api):
    created = await api.create(CM, "default", {"metadata": {"name": "x"}})
    await api.patch(CM, "default", "x", {"data": {"a": "1"}}, MERGE)
    stale = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "data": {"a": "2"}}
    with pytest.raises(APIError) as caught:
        await api.patch(CM, "default", "x", stale, MERGE)
    assert caught.value.code == 409


async def test_patch_that_changes_nothing_keeps_the_resource_version(api):
    created = await api.create(CM, "default", {"metadata": {"name": "same"}, "data": {"a": "1"}})
    patched = await api.patch(CM, "default", "same", {"data": {"a": "1"}}, MERGE)
    assert patched["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_unknown_patch_media_type_is_415(embedded_api):
    client.CoreV1Api(embedded_api).create_namespaced_config_map("default", {"metadata": {"name": "x"}})
    response = _raw(
        embedded_api, "PATCH", "/api/v1/namespaces/default/configmaps/x", {}, "application/x-unknown"
    )
    assert response["status"] == 415
    assert response["body"]["reason"] == "UnsupportedMediaType"


def _raw(api_client: client.ApiClient, method: str, path: str, body: dict, content_type: str) -> dict:
    response = api_client.rest_client.pool_manager.request(
        method,
        f"{api_client.configuration.host}{path}",
        body=json.dumps(body).encode(),
        headers={"Content-Type": content_type, "Accept": "application/json"},
    )
    return {"status": response.status, "body": json.loads(response.data)}


def _apply(
    api_client: client.ApiClient, namespace: str, body: dict, manager: str, force: bool = False
) -> dict:
    query = f"fieldManager={manager}" + ("&force=true" if force else "")
    path = f"/api/v1/namespaces/{namespace}/configmaps/{body['metadata']['name']}?{query}"
    return _raw(api_client, "PATCH", path, body, APPLY)


def test_server_side_apply_creates_then_detects_conflicts_and_force_takes_over(kube_api, test_namespace):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"owner": "first"}}
    created = _apply(kube_api, test_namespace, body, "first")
    assert created["status"] in (200, 201)
    managers = [entry["manager"] for entry in created["body"]["metadata"]["managedFields"]]
    assert managers == ["first"]
    clash = _apply(kube_api, test_namespace, {**body, "data": {"owner": "second"}}, "second")
    assert clash["status"] == 409
    assert clash["body"]["reason"] == "Conflict"
    assert any("first" in cause["message"] for cause in clash["body"]["details"]["causes"])
    forced = _apply(kube_api, test_namespace, {**body, "data": {"owner": "second"}}, "second", force=True)
    assert forced["status"] == 200 and forced["body"]["data"] == {"owner": "second"}


def test_server_side_apply_without_field_manager_is_400(embedded_api):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    response = _raw(embedded_api, "PATCH", "/api/v1/namespaces/default/configmaps/x", body, APPLY)
    assert response["status"] == 400


async def test_writes_record_managed_fields_per_manager(api):
    await api.create(CM, "default", {"metadata": {"name": "mf"}, "data": {"a": "1"}}, field_manager="creator")
    patched = await api.patch(CM, "default", "mf", {"data": {"b": "2"}}, MERGE, field_manager="patcher")
    entries = {entry["manager"]: entry["fieldsV1"] for entry in patched["metadata"]["managedFields"]}
    assert entries["creator"] == {"f:data": {".": {}, "f:a": {}}}
    assert entries["patcher"] == {"f:data": {"f:b": {}}}
