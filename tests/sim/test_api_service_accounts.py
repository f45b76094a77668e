"""Kube-apiserver's ServiceAccount admission, on both targets: a pod may only name a ServiceAccount that
exists (403 Forbidden otherwise); ``default`` is the one a pod names when it names none, and the plugin
waits a moment for it in a namespace created an instant before."""

from __future__ import annotations

import json
import uuid

import pytest
from kubernetes import client


def _pod(name: str, account: str | None = None) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            service_account_name=account,
            containers=[client.V1Container(name="c", image="registry.k8s.io/pause:3.10")],
        ),
    )


def test_a_pod_naming_a_missing_service_account_is_forbidden_until_it_exists(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    with pytest.raises(client.ApiException) as refused:
        core.create_namespaced_pod(test_namespace, _pod("p", "ghost"))
    status = json.loads(refused.value.body)
    assert (status["code"], status["reason"], status["details"]) == (
        403,
        "Forbidden",
        {"name": "p", "kind": "pods"},
    )
    assert status["message"] == (
        f'pods "p" is forbidden: error looking up service account {test_namespace}/ghost: '
        'serviceaccount "ghost" not found'
    )
    core.create_namespaced_service_account(
        test_namespace, client.V1ServiceAccount(metadata={"name": "ghost"})
    )
    created = core.create_namespaced_pod(test_namespace, _pod("p", "ghost"))
    assert (created.spec.service_account_name, created.spec.service_account) == ("ghost", "ghost")


def test_a_pod_in_a_namespace_created_an_instant_before_gets_the_default_service_account(kube_api):
    core = client.CoreV1Api(kube_api)
    name = f"fresh-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        created = core.create_namespaced_pod(name, _pod("p"))
        assert created.spec.service_account_name == "default"
    finally:
        core.delete_namespace(name)
