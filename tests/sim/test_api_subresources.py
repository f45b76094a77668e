"""Scale subresources of built-in workloads, collection deletes, and CRD selectable fields."""

from __future__ import annotations

import pytest
from kubernetes import client

from lws.sim.apiserver import APIServer
from lws.sim.errors import APIError


def _workload(name: str, replicas: int) -> dict:
    labels = {"app": name, "tier": "web"}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {
                "matchLabels": {"app": name},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}],
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }


def test_statefulset_scale_reads_and_writes_spec_replicas(kube_api, test_namespace):
    apps = client.AppsV1Api(kube_api)
    apps.create_namespaced_stateful_set(test_namespace, _workload("web", 0))
    scale = apps.read_namespaced_stateful_set_scale("web", test_namespace)
    assert scale.spec.replicas is None  # 0, which autoscaling/v1 leaves out (omitempty)
    assert scale.status.selector == "app=web,tier in (web)"
    scaled = apps.patch_namespaced_stateful_set_scale("web", test_namespace, {"spec": {"replicas": 0}})
    assert scaled.kind == "Scale"
    replaced = apps.replace_namespaced_stateful_set_scale(
        "web", test_namespace, {"metadata": {"name": "web"}, "spec": {"replicas": 0}}
    )
    assert replaced.spec.replicas is None


def test_deployment_scale_changes_spec_and_generation(kube_api, test_namespace):
    apps = client.AppsV1Api(kube_api)
    body = _workload("api", 1)
    del body["spec"]["serviceName"]
    apps.create_namespaced_deployment(test_namespace, body)
    apps.patch_namespaced_deployment_scale("api", test_namespace, {"spec": {"replicas": 4}})
    deployment = apps.read_namespaced_deployment("api", test_namespace)
    assert deployment.spec.replicas == 4
    assert deployment.metadata.generation == 2


async def test_negative_scale_is_invalid():
    api = APIServer()
    api.bootstrap()
    sts = ("apps", "v1", "statefulsets")
    await api.create(sts, "default", _workload("s", 1))
    with pytest.raises(APIError) as caught:
        await api.patch(
            sts,
            "default",
            "s",
            {"spec": {"replicas": -1}},
            "application/merge-patch+json",
            subresource="scale",
        )
    assert caught.value.code == 422


def test_delete_collection_honours_the_label_selector(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
        core.create_namespaced_config_map(
            test_namespace, {"metadata": {"name": name, "labels": {"tier": tier}}}
        )
    core.delete_collection_namespaced_config_map(test_namespace, label_selector="tier=x")
    names = [cm.metadata.name for cm in core.list_namespaced_config_map(test_namespace).items]
    assert names == ["c", "kube-root-ca.crt"]  # every namespace has the cluster's CA bundle


async def test_unknown_subresource_is_404():
    api = APIServer()
    api.bootstrap()
    with pytest.raises(APIError) as caught:
        await api.get(("", "v1", "configmaps"), "default", "x", subresource="scale")
    assert caught.value.code == 404


async def test_crd_selectable_fields_work_in_field_selectors():
    api = APIServer()
    api.bootstrap()
    crd = {
        "metadata": {"name": "paints.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "paints", "kind": "Paint"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "selectableFields": [{"jsonPath": ".spec.color"}],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object", "properties": {"color": {"type": "string"}}}
                            },
                        }
                    },
                }
            ],
        },
    }
    await api.create(("apiextensions.k8s.io", "v1", "customresourcedefinitions"), None, crd)
    paints = ("example.com", "v1", "paints")
    for name, color in (("p1", "red"), ("p2", "blue")):
        await api.create(paints, "default", {"metadata": {"name": name}, "spec": {"color": color}})
    red = await api.list(paints, "default", field_selector="spec.color=red")
    assert [item["metadata"]["name"] for item in red["items"]] == ["p1"]
    with pytest.raises(APIError) as caught:
        await api.list(paints, "default", field_selector="spec.size=1")
    assert caught.value.code == 400
