"""The least-privilege proof is only as good as its authorizer: request attributes and rule matching as
Kubernetes computes them, and a proxy that really says no."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from install_kit import kubectl
from rbac_kit import Attributes, Authorizer, RbacProxy, Rule, owner_finalizer_checks, request_attributes

from lws.sim.kubeconfig import write_kubeconfig
from lws.sim.runner import EmbeddedCluster


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/pods", {}, Attributes("list", "", "pods")),
        ("GET", "/api/v1/pods", {"watch": "true"}, Attributes("watch", "", "pods")),
        ("GET", "/api/v1/namespaces/a/pods/p", {}, Attributes("get", "", "pods", "", "a", "p")),
        ("GET", "/api/v1/watch/namespaces/a/pods", {}, Attributes("watch", "", "pods", "", "a")),
        ("DELETE", "/api/v1/namespaces/a/pods/p", {}, Attributes("delete", "", "pods", "", "a", "p")),
        ("DELETE", "/api/v1/namespaces/a/pods", {}, Attributes("deletecollection", "", "pods", "", "a")),
        (
            "POST",
            "/apis/apps/v1/namespaces/a/statefulsets",
            {},
            Attributes("create", "apps", "statefulsets", "", "a"),
        ),
        (
            "PATCH",
            "/apis/leaderworkerset.x-k8s.io/v1/namespaces/a/leaderworkersets/s/status",
            {},
            Attributes("patch", "leaderworkerset.x-k8s.io", "leaderworkersets", "status", "a", "s"),
        ),
        ("PUT", "/api/v1/namespaces/a", {}, Attributes("update", "", "namespaces", "", "a", "a")),
        ("GET", "/api/v1/namespaces/a/status", {}, Attributes("get", "", "namespaces", "status", "a", "a")),
        (
            "GET",
            "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
            {"watch": "1", "fieldSelector": "metadata.name=lws-m"},
            Attributes(
                "watch", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", name="lws-m"
            ),
        ),
        ("GET", "/apis/apps/v1", {}, None),
        ("GET", "/version", {}, None),
        ("GET", "/openapi/v3", {}, None),
    ],
)
def test_request_attributes_are_kubernetes_own(
    method: str, path: str, query: dict[str, str], expected: Attributes | None
) -> None:
    assert request_attributes(method, path, query) == expected


RULE = Rule.from_policy(
    {"apiGroups": [""], "resources": ["pods", "pods/finalizers"], "verbs": ["get", "update"]},
    namespace=None,
    source="test",
)
NAMED = Rule.from_policy(
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["l"], "verbs": ["get"]},
    namespace="ns",
    source="test",
)


@pytest.mark.parametrize(
    ("rule", "request_", "allowed"),
    [
        (RULE, Attributes("get", "", "pods", "", "a", "p"), True),
        (RULE, Attributes("list", "", "pods", "", "a"), False),
        (RULE, Attributes("get", "apps", "pods", "", "a", "p"), False),
        (RULE, Attributes("update", "", "pods", "finalizers", "a", "p"), True),
        (RULE, Attributes("update", "", "pods", "status", "a", "p"), False),
        (NAMED, Attributes("get", "coordination.k8s.io", "leases", "", "ns", "l"), True),
        (NAMED, Attributes("get", "coordination.k8s.io", "leases", "", "ns", "other"), False),
        (NAMED, Attributes("get", "coordination.k8s.io", "leases", "", "elsewhere", "l"), False),
        (NAMED, Attributes("list", "coordination.k8s.io", "leases", "", "ns"), False),
    ],
)
def test_rules_match_as_rbac_does(rule: Rule, request_: Attributes, allowed: bool) -> None:
    assert rule.allows(request_) is allowed


def test_owner_references_that_block_deletion_need_the_owners_finalizers() -> None:
    create = Attributes("create", "apps", "statefulsets", "", "a")
    body = {
        "metadata": {
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "1", "blockOwnerDeletion": True},
                {"apiVersion": "v1", "kind": "Pod", "name": "q", "uid": "2"},
            ]
        }
    }
    assert owner_finalizer_checks(create, json.dumps(body).encode()) == [
        Attributes("update", "", "pods", "finalizers", "a", "p")
    ]
    assert owner_finalizer_checks(Attributes("delete", "apps", "statefulsets", "", "a", "s"), b"{}") == []


def test_the_proxy_forbids_what_no_rule_allows_and_records_it(tmp_path: Path) -> None:
    objects = [
        {
            "kind": "ClusterRole",
            "metadata": {"name": "r"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
        },
        {
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "b"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}],
        },
    ]
    authorizer = Authorizer.for_service_account(objects, "ns", "sa")
    with EmbeddedCluster() as cluster, RbacProxy(cluster.url, authorizer) as proxy:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", proxy.url)
        assert kubectl("get", "pods", "-A", "-o", "name", kubeconfig=kubeconfig) == ""
        with pytest.raises(AssertionError, match='cannot list resource "secrets" in API group ""'):
            kubectl("get", "secrets", "-A", kubeconfig=kubeconfig)
    assert [(str(r.attributes), r.allowed) for r in proxy.snapshot()] == [
        ("list pods.core", True),
        ("list secrets.core", False),
    ]
