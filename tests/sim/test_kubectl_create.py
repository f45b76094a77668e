"""``kubectl create <generator>``: kubectl's typed clients send these objects as Kubernetes protobuf, which the
embedded cluster decodes for every built-in kind it serves (``lws.sim.protobuf``).

Runs against the shared embedded cluster, or against the cluster ``LWS_TEST_KUBECONFIG`` names.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kubectl_cli import Kubectl


@pytest.fixture
def kubectl(kubeconfig_path: Path, test_namespace: str, tmp_path: Path) -> Kubectl:
    return Kubectl(kubeconfig_path, tmp_path, test_namespace)


def test_create_deployment_and_service(kubectl: Kubectl) -> None:
    kubectl(
        "create", "deployment", "web", "--image=registry.k8s.io/pause:3.10", "--replicas=2", "--port=8080"
    )
    deployment = kubectl.json("get", "deployment", "web")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert (container["name"], container["image"]) == ("pause", "registry.k8s.io/pause:3.10")
    assert container["ports"][0]["containerPort"] == 8080
    # Defaults were applied to what protobuf carried, as for a JSON body.
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}

    kubectl("create", "service", "clusterip", "web", "--tcp=80:8080")
    service = kubectl.json("get", "service", "web")
    assert service["spec"]["ports"][0]["port"] == 80
    assert service["spec"]["ports"][0]["targetPort"] == 8080
    assert service["spec"]["selector"] == {"app": "web"}


def test_create_policy_and_rbac_objects(kubectl: Kubectl) -> None:
    kubectl("create", "poddisruptionbudget", "budget", "--selector=app=web", "--min-available=50%")
    budget = kubectl.json("get", "pdb", "budget")
    assert budget["spec"]["minAvailable"] == "50%"
    assert budget["spec"]["selector"] == {"matchLabels": {"app": "web"}}

    kubectl("create", "role", "reader", "--verb=get,list", "--resource=pods,configmaps")
    rules = kubectl.json("get", "role", "reader")["rules"]
    assert rules == [{"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["get", "list"]}]
    kubectl(
        "create", "rolebinding", "readers", "--role=reader", "--user=alice", "--serviceaccount=default:robot"
    )
    binding = kubectl.json("get", "rolebinding", "readers")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}
    assert {s["kind"] for s in binding["subjects"]} == {"User", "ServiceAccount"}


def test_create_cluster_scoped_objects(kubectl: Kubectl) -> None:
    suffix = uuid.uuid4().hex[:8]
    names = {"clusterrole": f"watcher-{suffix}", "priorityclass": f"urgent-{suffix}"}
    try:
        kubectl(
            "create",
            "clusterrole",
            names["clusterrole"],
            "--verb=watch",
            "--resource=nodes",
            namespaced=False,
        )
        role = kubectl.json("get", "clusterrole", names["clusterrole"], namespaced=False)
        assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["watch"]}]
        kubectl(
            "create",
            "priorityclass",
            names["priorityclass"],
            "--value=1000",
            "--description=tests",
            namespaced=False,
        )
        priority = kubectl.json("get", "priorityclass", names["priorityclass"], namespaced=False)
        assert (priority["value"], priority["description"]) == (1000, "tests")
    finally:
        for kind, name in names.items():
            kubectl.run("delete", kind, name, "--ignore-not-found", namespaced=False)


def test_create_secret_keeps_binary_data(kubectl: Kubectl) -> None:
    kubectl("create", "secret", "generic", "creds", "--from-literal=user=admin", "--type=example.com/basic")
    secret = kubectl.json("get", "secret", "creds")
    assert secret["data"] == {"user": "YWRtaW4="} and secret["type"] == "example.com/basic"
