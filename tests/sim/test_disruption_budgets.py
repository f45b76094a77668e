"""PodDisruptionBudgets: the disruption controller keeps their status, and the eviction subresource honours
them (429 TooManyRequests when a disruption is not allowed), as Kubernetes does.

The pods must become Ready, so the embedded cluster here is one with nodes (``running_kubeconfig``); with
LWS_TEST_KUBECONFIG set the tests run unchanged against that real cluster instead.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from lws.sim.testing import wait_until

IMAGE = "registry.k8s.io/pause:3.10"
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


@pytest.fixture
def api(running_api: client.ApiClient) -> client.ApiClient:
    return running_api


@pytest.fixture
def ns(running_namespace: str) -> str:
    return running_namespace


def _statefulset(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "main", "image": IMAGE}],
                },
            },
        },
    }


def _budget(name: str, app: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"selector": {"matchLabels": {"app": app}}, **spec}}


def _ready_set(api: client.ApiClient, ns: str, name: str, replicas: int) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_stateful_set(ns, _statefulset(name, replicas))
    wait_until(
        lambda: (_ready_replicas(apps.read_namespaced_stateful_set(name, ns))) == replicas,
        timeout=60,
        what=f"{replicas} ready pods of {name}",
    )


def _ready_replicas(statefulset: client.V1StatefulSet) -> int:
    return (statefulset.status.ready_replicas or 0) if statefulset.status is not None else 0


def _status(api: client.ApiClient, ns: str, name: str) -> dict[str, Any]:
    raw = client.PolicyV1Api(api).read_namespaced_pod_disruption_budget(name, ns, _preload_content=False)
    status: dict[str, Any] = json.loads(raw.data).get("status") or {}
    return status


def _settled(api: client.ApiClient, ns: str, name: str, **expected: int) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        status = _status(api, ns, name)
        return status if all(status.get(key, 0) == value for key, value in expected.items()) else None

    found: dict[str, Any] = wait_until(check, timeout=60, what=f"budget {name} to reach {expected}")
    return found


def _evict(api: client.ApiClient, ns: str, pod: str, **options: Any) -> None:
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": ns}}
    client.CoreV1Api(api).create_namespaced_pod_eviction(pod, ns, body, **options)


def test_the_controller_keeps_budget_status(api, ns):
    _ready_set(api, ns, "web", 3)
    client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(ns, _budget("web", "web", minAvailable=2))
    status = _settled(
        api,
        ns,
        "web",
        expectedPods=3,
        currentHealthy=3,
        desiredHealthy=2,
        disruptionsAllowed=1,
        observedGeneration=1,
    )
    (condition,) = status["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "DisruptionAllowed",
        "True",
        "SufficientPods",
    )
    # A spec change is observed: desiredHealthy follows, and no disruption is left.
    client.PolicyV1Api(api).patch_namespaced_pod_disruption_budget("web", ns, {"spec": {"minAvailable": 3}})
    status = _settled(api, ns, "web", desiredHealthy=3, disruptionsAllowed=0, observedGeneration=2)
    (condition,) = status["conditions"]
    assert (condition["status"], condition["reason"]) == ("False", "InsufficientPods")


@pytest.mark.parametrize(
    ("spec", "desired"),
    [({"maxUnavailable": 1}, 3), ({"maxUnavailable": "50%"}, 2), ({"minAvailable": "50%"}, 2)],
)
def test_relative_budgets_count_the_controllers_scale(api, ns, spec, desired):
    _ready_set(api, ns, "web", 4)
    client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(ns, _budget("web", "web", **spec))
    _settled(
        api,
        ns,
        "web",
        expectedPods=4,
        currentHealthy=4,
        desiredHealthy=desired,
        disruptionsAllowed=4 - desired,
    )


def test_eviction_spends_the_budget_then_answers_429(api, ns):
    _ready_set(api, ns, "web", 3)
    client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(ns, _budget("web", "web", minAvailable=2))
    _settled(api, ns, "web", currentHealthy=3, disruptionsAllowed=1)
    _evict(api, ns, "web-0")
    # The eviction itself took the disruption (and the controller agrees once web-0 goes).
    assert _status(api, ns, "web")["disruptionsAllowed"] == 0
    with pytest.raises(client.ApiException) as caught:
        _evict(api, ns, "web-1")
    answer = json.loads(caught.value.body)
    assert (caught.value.status, answer["reason"], answer["message"]) == (429, "TooManyRequests", VIOLATION)
    (cause,) = answer["details"]["causes"]
    assert cause["reason"] == "DisruptionBudget"
    assert cause["message"].startswith("The disruption budget web ")
    assert client.CoreV1Api(api).read_namespaced_pod("web-1", ns).metadata.deletion_timestamp is None


def test_a_dry_run_eviction_changes_nothing(api, ns):
    _ready_set(api, ns, "web", 2)
    client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(ns, _budget("web", "web", minAvailable=1))
    _settled(api, ns, "web", currentHealthy=2, disruptionsAllowed=1)
    _evict(api, ns, "web-0", dry_run="All")
    assert client.CoreV1Api(api).read_namespaced_pod("web-0", ns).metadata.deletion_timestamp is None
    assert _status(api, ns, "web")["disruptionsAllowed"] == 1


def test_pending_pods_are_evicted_whatever_the_budget(api, ns):
    core = client.CoreV1Api(api)
    pod = {
        "metadata": {"name": "gated", "labels": {"app": "gated"}},
        "spec": {
            "schedulingGates": [{"name": "example.com/hold"}],
            "containers": [{"name": "main", "image": IMAGE}],
        },
    }
    core.create_namespaced_pod(ns, pod)
    client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(
        ns, _budget("gated", "gated", minAvailable=5)
    )
    _evict(api, ns, "gated")
    wait_until(lambda: _gone(core, ns, "gated"), timeout=30, what="the pending pod to be deleted")


def test_a_pod_with_two_budgets_cannot_be_evicted(api, ns):
    _ready_set(api, ns, "web", 1)
    policy = client.PolicyV1Api(api)
    policy.create_namespaced_pod_disruption_budget(ns, _budget("one", "web", maxUnavailable=1))
    policy.create_namespaced_pod_disruption_budget(ns, _budget("two", "web", maxUnavailable=1))
    with pytest.raises(client.ApiException) as caught:
        _evict(api, ns, "web-0")
    assert caught.value.status == 500
    assert "more than one PodDisruptionBudget" in json.loads(caught.value.body)["message"]


def test_pods_without_a_controller_are_not_expected(api, ns):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(
        ns,
        {
            "metadata": {"name": "lone", "labels": {"app": "lone"}},
            "spec": {"containers": [{"name": "m", "image": IMAGE}]},
        },
    )
    wait_until(lambda: _ready(core.read_namespaced_pod("lone", ns)), timeout=60, what="the pod to be ready")
    client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(
        ns, _budget("lone", "lone", maxUnavailable=1)
    )
    _settled(
        api,
        ns,
        "lone",
        expectedPods=0,
        currentHealthy=1,
        desiredHealthy=0,
        disruptionsAllowed=0,
        observedGeneration=1,
    )


def _ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def _gone(core: client.CoreV1Api, ns: str, name: str) -> bool:
    try:
        pod = core.read_namespaced_pod(name, ns)
    except client.ApiException as exc:
        return exc.status == 404
    return pod.metadata.deletion_timestamp is not None
