"""Unknown fields of built-in kinds, handled as Kubernetes' typed decoders handle them: dropped always, reported
as warnings by default (``fieldValidation=Warn``), refused with 400 under ``Strict`` (what kubectl sends).

The bodies go through the official client's connection pool as raw JSON (its models would drop the unknown
fields first), so these tests run unchanged against a real cluster when LWS_TEST_KUBECONFIG is set.
"""

from __future__ import annotations

import json
from typing import Any

from kubectl_cli import Kubectl
from kubernetes import client


def _send(
    kube_api: client.ApiClient, method: str, path: str, body: Any, content_type: str = "application/json"
) -> tuple[int, list[str], dict[str, Any]]:
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    kube_api.update_params_for_auth(headers, [], ["BearerToken"], path, method, None)
    response = kube_api.rest_client.pool_manager.request(
        method, kube_api.configuration.host + path, body=json.dumps(body).encode(), headers=headers
    )
    warnings = response.headers.getlist("Warning") if hasattr(response.headers, "getlist") else []
    return response.status, warnings, json.loads(response.data)


def _deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10", "colour": "red"}]
                },
            },
            "speed": 1,
        },
    }


def test_unknown_fields_are_dropped_with_warnings_by_default(kube_api, test_namespace):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "bogus": 1}, "extra": {"x": 1}}
    status, warnings, created = _send(
        kube_api, "POST", f"/api/v1/namespaces/{test_namespace}/configmaps", body
    )
    assert status == 201
    assert warnings == ['299 - "unknown field \\"metadata.bogus\\""', '299 - "unknown field \\"extra\\""']
    assert "extra" not in created and "bogus" not in created["metadata"]
    stored = client.CoreV1Api(kube_api).read_namespaced_config_map(
        "c", test_namespace, _preload_content=False
    )
    assert "extra" not in json.loads(stored.data)


def test_strict_validation_refuses_unknown_fields_with_their_paths(kube_api, test_namespace):
    path = f"/apis/apps/v1/namespaces/{test_namespace}/deployments?fieldValidation=Strict"
    status, _, answer = _send(kube_api, "POST", path, _deployment("strict"))
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert answer["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "spec.template.spec.containers[0].colour", unknown field "spec.speed"'
    )


def test_patches_lose_unknown_fields_too(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(test_namespace, {"metadata": {"name": "p"}, "data": {"a": "1"}})
    path = f"/api/v1/namespaces/{test_namespace}/configmaps/p"
    patch = {"data": {"b": "2"}, "colour": "red"}
    for content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        status, warnings, patched = _send(kube_api, "PATCH", path, patch, content_type)
        assert status == 200 and "colour" not in patched
        assert warnings == ['299 - "unknown field \\"colour\\""']
    assert core.read_namespaced_config_map("p", test_namespace).data == {"a": "1", "b": "2"}


def test_kubectl_apply_refuses_a_typo_in_a_built_in_kind(kubeconfig_path, test_namespace, tmp_path):
    kubectl = Kubectl(kubeconfig_path, tmp_path, test_namespace)
    done = kubectl.apply(_deployment("typo"))
    assert done.returncode != 0
    assert 'strict decoding error: unknown field "spec.speed"' in done.stderr
