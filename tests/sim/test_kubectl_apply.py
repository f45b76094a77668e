"""The real kubectl writing to the cluster: apply (client-side and server-side, conflicts, forcing), a CRD and
its objects in one run, field validation, and kubectl's protobuf generators (create namespace...).

Runs against the shared embedded cluster, or against the cluster ``LWS_TEST_KUBECONFIG`` names.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kubectl_cli import Kubectl, config_map, statefulset, widget, widget_crd


@pytest.fixture
def kubectl(kubeconfig_path: Path, test_namespace: str, tmp_path: Path) -> Kubectl:
    return Kubectl(kubeconfig_path, tmp_path, test_namespace)


def version(kubectl: Kubectl, *target: str) -> str:
    return kubectl("get", *target, "-o", "jsonpath={.metadata.resourceVersion}")


def test_client_side_apply_creates_leaves_alone_then_configures(kubectl: Kubectl) -> None:
    web = statefulset("web")
    assert kubectl.apply(web).stdout.strip() == "statefulset.apps/web created"
    before = version(kubectl, "sts", "web")
    assert kubectl.apply(web).stdout.strip() == "statefulset.apps/web unchanged"
    web["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "two"
    assert kubectl.apply(web).stdout.strip() == "statefulset.apps/web configured"
    assert version(kubectl, "sts", "web") != before


def test_client_side_apply_merges_lists_by_key_and_keeps_what_others_added(kubectl: Kubectl) -> None:
    web = statefulset("merge")
    assert kubectl.apply(web).returncode == 0
    sidecar = '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"envoy:1"}]}}}}'
    kubectl("patch", "sts", "merge", "--type=strategic", "-p", sidecar)
    container = web["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "nginx:2"
    container["env"].append({"name": "EXTRA", "value": "x"})
    assert kubectl.apply(web).stdout.strip() == "statefulset.apps/merge configured"
    containers = kubectl.json("get", "sts", "merge")["spec"]["template"]["spec"]["containers"]
    by_name = {c["name"]: c for c in containers}
    assert set(by_name) == {"main", "sidecar"}
    assert by_name["main"]["image"] == "nginx:2"
    assert [e["name"] for e in by_name["main"]["env"]] == ["MODE", "EXTRA"]
    assert by_name["main"]["ports"][0]["containerPort"] == 80


def test_server_side_apply_twice_is_a_no_op(kubectl: Kubectl) -> None:
    web = statefulset("ssa")
    assert kubectl.apply(web, "--server-side").stdout.strip() == "statefulset.apps/ssa serverside-applied"
    first = kubectl.json("get", "sts", "ssa", "--show-managed-fields")
    assert kubectl.apply(web, "--server-side").returncode == 0
    again = kubectl.json("get", "sts", "ssa", "--show-managed-fields")
    # The StatefulSet controller may write status meanwhile: compare what the apply would have touched.
    assert again["metadata"]["generation"] == first["metadata"]["generation"]
    [owner] = [e for e in again["metadata"]["managedFields"] if e["operation"] == "Apply"]
    assert owner in first["metadata"]["managedFields"]  # same fields, same time
    assert owner["manager"] == "kubectl"
    assert "f:replicas" in owner["fieldsV1"]["f:spec"]

    settings = config_map("ssa-settings", a="1")
    assert kubectl.apply(settings, "--server-side").returncode == 0
    before = version(kubectl, "configmap", "ssa-settings")
    assert kubectl.apply(settings, "--server-side").returncode == 0
    assert version(kubectl, "configmap", "ssa-settings") == before


def test_server_side_apply_reports_conflicts_and_force_takes_over(kubectl: Kubectl) -> None:
    web = statefulset("owned", replicas=2)
    assert kubectl.apply(web, "--server-side").returncode == 0
    kubectl("scale", "sts", "owned", "--replicas=4")
    refused = kubectl.apply(web, "--server-side")
    assert refused.returncode != 0
    assert "Apply failed with 1 conflict: conflict with" in refused.stderr
    assert ".spec.replicas" in refused.stderr
    assert "--force-conflicts" in refused.stderr  # kubectl's advice, printed for a 409 Conflict
    assert kubectl("get", "sts", "owned", "-o", "jsonpath={.spec.replicas}") == "4"

    assert kubectl.apply(web, "--server-side", "--force-conflicts").returncode == 0
    assert kubectl("get", "sts", "owned", "-o", "jsonpath={.spec.replicas}") == "2"

    other = config_map("shared", a="1")
    assert kubectl.apply(other, "--server-side", "--field-manager=first").returncode == 0
    other["data"]["a"] = "2"
    refused = kubectl.apply(other, "--server-side", "--field-manager=second")
    assert 'Apply failed with 1 conflict: conflict with "first": .data.a' in refused.stderr


def test_server_side_apply_after_client_side_apply_takes_over_without_conflict(kubectl: Kubectl) -> None:
    settings = config_map("migrated", a="1", b="2")
    assert kubectl.apply(settings).returncode == 0
    settings["data"]["a"] = "9"
    done = kubectl.apply(settings, "--server-side")
    assert done.returncode == 0, done.stderr
    live = kubectl.json("get", "configmap", "migrated", "--show-managed-fields")
    assert live["data"] == {"a": "9", "b": "2"}
    managers = {entry["manager"] for entry in live["metadata"]["managedFields"]}
    assert "kubectl-client-side-apply" not in managers  # kubectl handed its fields over to "kubectl"


def test_a_crd_and_its_objects_in_one_run_need_a_second_run_as_with_kubernetes(
    kubectl: Kubectl, tmp_path: Path
) -> None:
    group = f"apply{uuid.uuid4().hex[:8]}.example.com"
    documents = [widget_crd(group), widget(group, "first", replicas=2)]
    try:
        first = kubectl.apply(documents)
        assert f"customresourcedefinition.apiextensions.k8s.io/widgets.{group} created" in first.stdout
        assert "ensure CRDs are installed first" in first.stderr
        kubectl(
            "wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=30s", namespaced=False
        )
        # kubectl's discovery cache predates the CRD: it must notice and discover again.
        second = kubectl.apply(documents)
        assert second.returncode == 0, second.stderr
        assert f"widget.{group}/first created" in second.stdout
        assert kubectl.json("get", f"widgets.{group}", "first")["spec"] == {"replicas": 2}
        third = kubectl.apply(documents)
        assert f"widget.{group}/first unchanged" in third.stdout  # a merge patch for a custom resource
    finally:
        kubectl("delete", "crd", f"widgets.{group}", "--ignore-not-found", namespaced=False)


def test_unknown_fields_of_custom_resources_are_refused_or_reported(kubectl: Kubectl) -> None:
    group = f"strict{uuid.uuid4().hex[:8]}.example.com"
    assert kubectl.apply(widget_crd(group)).returncode == 0
    try:
        kubectl(
            "wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=30s", namespaced=False
        )
        typo = widget(group, "typo", replicas=1, colour="red")
        refused = kubectl.apply(typo)
        assert refused.returncode != 0
        assert (
            'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field '
            '"spec.colour"'
        ) in refused.stderr
        warned = kubectl.apply(typo, "--validate=warn")
        assert warned.returncode == 0
        assert 'Warning: unknown field "spec.colour"' in warned.stderr
        assert kubectl.json("get", f"widgets.{group}", "typo")["spec"] == {"replicas": 1}
        bad_enum = kubectl.apply(widget(group, "enum", color="green"))
        assert 'spec.color: Unsupported value: "green": supported values: "red", "blue"' in bad_enum.stderr
    finally:
        kubectl("delete", "crd", f"widgets.{group}", namespaced=False)


def test_kubectl_generators_send_protobuf_and_it_is_understood(kubectl: Kubectl) -> None:
    namespace = f"gen-{uuid.uuid4().hex[:8]}"
    assert (
        kubectl("create", "namespace", namespace, namespaced=False).strip()
        == f"namespace/{namespace} created"
    )
    try:
        created = kubectl.json("get", "namespace", namespace, namespaced=False)
        assert created["status"]["phase"] == "Active"
        kubectl("create", "configmap", "generated", "--from-literal=a=1", "-n", namespace, namespaced=False)
        assert kubectl.json("get", "configmap", "generated", "-n", namespace, namespaced=False)["data"] == {
            "a": "1"
        }
        kubectl(
            "create",
            "secret",
            "generic",
            "token",
            "--from-literal=k=v",
            "--type=Opaque",
            "-n",
            namespace,
            namespaced=False,
        )
        secret = kubectl.json("get", "secret", "token", "-n", namespace, namespaced=False)
        assert (secret["data"], secret["type"]) == ({"k": "dg=="}, "Opaque")
        kubectl("create", "serviceaccount", "robot", "-n", namespace, namespaced=False)
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false", namespaced=False)
