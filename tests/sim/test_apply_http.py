"""Server-side apply over HTTP with the official client, as the operator uses it (field manager ``lws``,
``force=true``): created once, a no-op when repeated, conflicts as 409s with one cause per field.

Runs against the shared embedded cluster, or against the cluster ``LWS_TEST_KUBECONFIG`` names.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client


def statefulset(replicas: int = 2, image: str = "nginx:1") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "leader", "labels": {"app": "leader"}},
        "spec": {
            "replicas": replicas,
            "serviceName": "leader",
            "selector": {"matchLabels": {"app": "leader"}},
            "template": {
                "metadata": {"labels": {"app": "leader"}},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
        },
    }


def apply(apps: client.AppsV1Api, namespace: str, body: dict[str, Any], manager: str, force: bool) -> Any:
    return apps.patch_namespaced_stateful_set(
        "leader",
        namespace,
        body,
        field_manager=manager,
        force=force,
        _content_type="application/apply-patch+yaml",
    )


def ownership(obj: Any, manager: str) -> tuple[Any, Any]:
    [entry] = [e for e in obj.metadata.managed_fields if (e.manager, e.operation) == (manager, "Apply")]
    return entry.time, entry.fields_v1


def test_forced_apply_creates_then_repeats_without_writing(
    kube_api: client.ApiClient, test_namespace: str
) -> None:
    apps = client.AppsV1Api(kube_api)
    created = apply(apps, test_namespace, statefulset(), "lws", True)
    assert created.spec.replicas == 2
    again = apply(apps, test_namespace, statefulset(), "lws", True)
    # The StatefulSet controller may write status meanwhile, so compare what the apply itself would touch.
    assert again.metadata.generation == created.metadata.generation
    assert ownership(again, "lws") == ownership(created, "lws")

    changed = apply(apps, test_namespace, statefulset(image="nginx:2"), "lws", True)
    assert changed.spec.template.spec.containers[0].image == "nginx:2"
    assert changed.metadata.generation == created.metadata.generation + 1


def test_a_repeated_apply_keeps_the_resource_version(kube_api: client.ApiClient, test_namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}}
    versions = [
        core.patch_namespaced_config_map(
            "settings",
            test_namespace,
            body,
            field_manager="lws",
            force=True,
            _content_type="application/apply-patch+yaml",
        ).metadata.resource_version
        for _ in range(3)
    ]
    assert len(set(versions)) == 1


def test_conflicts_are_409s_with_a_cause_per_field(kube_api: client.ApiClient, test_namespace: str) -> None:
    apps = client.AppsV1Api(kube_api)
    apply(apps, test_namespace, statefulset(), "lws", True)
    with pytest.raises(client.ApiException) as raised:
        apply(apps, test_namespace, statefulset(replicas=5, image="nginx:9"), "intruder", False)
    assert raised.value.status == 409
    status = json.loads(raised.value.body)
    assert status["reason"] == "Conflict"
    assert status["message"].startswith('Apply failed with 2 conflicts: conflicts with "lws":')
    assert sorted(cause["field"] for cause in status["details"]["causes"]) == [
        ".spec.replicas",
        '.spec.template.spec.containers[name="main"].image',
    ]
    assert {cause["reason"] for cause in status["details"]["causes"]} == {"FieldManagerConflict"}
    # The operator's forced apply wins back whatever another writer changed.
    apps.patch_namespaced_stateful_set_scale("leader", test_namespace, {"spec": {"replicas": 7}})
    assert apply(apps, test_namespace, statefulset(), "lws", True).spec.replicas == 2
