"""What the pod registry allows and resets, as a real API server does: spec updates limited to the fields
Kubernetes lets change, client-set status dropped on create, and the generation bump when deletion starts.

These tests use ``kube_api`` and ``test_namespace`` only, so they run unchanged against a real cluster when
LWS_TEST_KUBECONFIG is set.
"""

from __future__ import annotations

import json

import pytest
from kubernetes import client

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
FORBIDDEN_PREFIX = "Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
HOLD = "example.com/hold"


def _gated_pod(name: str, **spec: object) -> dict:
    """A pod no scheduler binds (it has a scheduling gate), so the tests do not race a kubelet."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "schedulingGates": [{"name": "example.com/gate"}],
            "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10"}],
            **spec,
        },
    }


def _invalid(caught: pytest.ExceptionInfo[client.ApiException]) -> dict:
    assert caught.value.status == 422, caught.value.body
    status = json.loads(caught.value.body)
    assert status["reason"] == "Invalid"
    return status


@pytest.mark.parametrize("how", ["update", "merge", "strategic", "json", "apply"])
def test_changing_a_container_command_is_forbidden_by_every_write(kube_api, test_namespace, how):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_pod(test_namespace, _gated_pod("p"))
    command = ["sleep", "1"]
    with pytest.raises(client.ApiException) as caught:
        if how == "update":
            pod = core.read_namespaced_pod("p", test_namespace)
            pod.spec.containers[0].command = command
            core.replace_namespaced_pod("p", test_namespace, pod)
        elif how == "json":
            ops = [{"op": "add", "path": "/spec/containers/0/command", "value": command}]
            core.patch_namespaced_pod("p", test_namespace, ops, _content_type=JSON_PATCH)
        elif how == "apply":
            body = _gated_pod("p")
            body["spec"]["containers"][0]["command"] = command
            core.patch_namespaced_pod(
                "p", test_namespace, body, field_manager="tester", force=True, _content_type=APPLY
            )
        else:
            container = {"name": "main", "image": "registry.k8s.io/pause:3.10", "command": command}
            patch = {"spec": {"containers": [container]}}
            core.patch_namespaced_pod(
                "p", test_namespace, patch, _content_type=MERGE if how == "merge" else STRATEGIC
            )
    status = _invalid(caught)
    spec_causes = [c for c in status["details"]["causes"] if c["field"] == "spec"]
    assert spec_causes and spec_causes[0]["reason"] == "FieldValueForbidden"
    assert spec_causes[0]["message"].startswith(FORBIDDEN_PREFIX)
    assert f'Pod "p" is invalid: spec: {FORBIDDEN_PREFIX}' in status["message"]


def test_adding_a_container_is_forbidden(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_pod(test_namespace, _gated_pod("p"))
    pod = core.read_namespaced_pod("p", test_namespace)
    pod.spec.containers.append(client.V1Container(name="extra", image="registry.k8s.io/pause:3.10"))
    with pytest.raises(client.ApiException) as caught:
        core.replace_namespaced_pod("p", test_namespace, pod)
    causes = _invalid(caught)["details"]["causes"]
    assert {"field": "spec.containers", "reason": "FieldValueForbidden"}.items() <= causes[0].items()
    assert causes[0]["message"] == "Forbidden: pod updates may not add or remove containers"


def test_the_fields_kubernetes_lets_change_do_change(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_pod(test_namespace, _gated_pod("p", activeDeadlineSeconds=600))
    toleration = {"key": "example.com/t", "operator": "Exists", "effect": "NoSchedule"}
    patch = {
        "metadata": {"labels": {"tier": "x"}},
        "spec": {
            "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.9"}],
            "activeDeadlineSeconds": 300,
            "tolerations": [toleration],
            "nodeSelector": {"example.com/pool": "a"},  # gated pods may gain node selectors
        },
    }
    patched = core.patch_namespaced_pod("p", test_namespace, patch, _content_type=STRATEGIC)
    assert patched.spec.containers[0].image == "registry.k8s.io/pause:3.9"
    assert patched.spec.active_deadline_seconds == 300
    assert any(t.key == "example.com/t" for t in patched.spec.tolerations)
    assert patched.spec.node_selector == {"example.com/pool": "a"}
    assert patched.metadata.labels == {"tier": "x"}


def test_active_deadline_may_only_shrink(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_pod(test_namespace, _gated_pod("p", activeDeadlineSeconds=60))
    with pytest.raises(client.ApiException) as caught:
        core.patch_namespaced_pod("p", test_namespace, {"spec": {"activeDeadlineSeconds": 61}})
    cause = _invalid(caught)["details"]["causes"][0]
    assert cause["field"] == "spec.activeDeadlineSeconds"
    assert cause["message"] == "Invalid value: 61: must be less than or equal to previous value"


def test_scheduling_gates_may_only_be_removed(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_pod(test_namespace, _gated_pod("p"))
    gates = [{"name": "example.com/gate"}, {"name": "example.com/new"}]
    with pytest.raises(client.ApiException) as caught:
        core.patch_namespaced_pod(
            "p", test_namespace, {"spec": {"schedulingGates": gates}}, _content_type=MERGE
        )
    cause = _invalid(caught)["details"]["causes"][0]
    assert cause["field"] == "spec.schedulingGates[1].name"
    assert (
        cause["message"]
        == "Forbidden: only deletion is allowed, but found new scheduling gate 'example.com/new'"
    )
    # Removing a gate is allowed; the pod then leaves SchedulingGated (a held finalizer keeps nothing here).
    ungated = core.patch_namespaced_pod(
        "p", test_namespace, {"spec": {"schedulingGates": None}}, _content_type=MERGE
    )
    assert not ungated.spec.scheduling_gates


def test_status_sent_on_create_is_replaced_by_pending(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    body = _gated_pod("p")
    body["status"] = {
        "phase": "Running",
        "podIP": "10.9.9.9",
        "hostIP": "10.9.9.1",
        "startTime": "2024-01-01T00:00:00Z",
    }
    created = core.create_namespaced_pod(test_namespace, body)
    assert created.status.phase == "Pending"
    assert created.status.qos_class == "BestEffort"
    assert (
        created.status.pod_ip is None and created.status.host_ip is None and created.status.start_time is None
    )
    # The registry itself records why a gated pod is not scheduled.
    scheduled = [c for c in created.status.conditions or [] if c.type == "PodScheduled"]
    assert [(c.status, c.reason) for c in scheduled] == [("False", "SchedulingGated")]


def test_deletion_timestamp_bumps_the_generation(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    body = _gated_pod("p")
    body["metadata"]["finalizers"] = [HOLD]
    created = core.create_namespaced_pod(test_namespace, body)
    assert created.metadata.generation == 1
    core.delete_namespaced_pod("p", test_namespace)
    deleting = core.read_namespaced_pod("p", test_namespace)
    assert deleting.metadata.deletion_timestamp is not None
    assert deleting.metadata.generation == 2
    # A second delete changes nothing: the generation counts the start of deletion only.
    core.delete_namespaced_pod("p", test_namespace)
    assert core.read_namespaced_pod("p", test_namespace).metadata.generation == 2
    core.patch_namespaced_pod("p", test_namespace, {"metadata": {"finalizers": None}}, _content_type=MERGE)


def test_deletion_timestamp_bumps_the_generation_of_workloads(kube_api, test_namespace):
    apps = client.AppsV1Api(kube_api)
    labels = {"app": "held"}
    body = {
        "metadata": {"name": "held", "finalizers": [HOLD]},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10"}]},
            },
        },
    }
    assert apps.create_namespaced_deployment(test_namespace, body).metadata.generation == 1
    apps.delete_namespaced_deployment("held", test_namespace)
    assert apps.read_namespaced_deployment("held", test_namespace).metadata.generation == 2
    apps.patch_namespaced_deployment(
        "held", test_namespace, {"metadata": {"finalizers": None}}, _content_type=MERGE
    )


def test_configmaps_have_no_generation_to_bump(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(test_namespace, {"metadata": {"name": "c", "finalizers": [HOLD]}})
    core.delete_namespaced_config_map("c", test_namespace)
    deleting = core.read_namespaced_config_map("c", test_namespace)
    assert deleting.metadata.deletion_timestamp is not None and deleting.metadata.generation is None
    core.patch_namespaced_config_map(
        "c", test_namespace, {"metadata": {"finalizers": None}}, _content_type=MERGE
    )
