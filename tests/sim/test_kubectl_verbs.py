"""The real kubectl's other verbs: patch (merge, JSON, strategic), scale (a StatefulSet and a custom resource
with a scale subresource), delete with each cascade, and wait (conditions, JSONPath, deletion).

Runs against the shared embedded cluster, or against the cluster ``LWS_TEST_KUBECONFIG`` names.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubectl_cli import Kubectl, config_map, statefulset, widget, widget_crd


@pytest.fixture
def kubectl(kubeconfig_path: Path, test_namespace: str, tmp_path: Path) -> Kubectl:
    return Kubectl(kubeconfig_path, tmp_path, test_namespace)


@pytest.fixture(scope="module")
def group(kubeconfig_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The group of a Widget CRD this module installs."""
    name = f"verbs{uuid.uuid4().hex[:8]}.example.com"
    admin = Kubectl(kubeconfig_path, tmp_path_factory.mktemp("crd"), "default")
    assert admin.apply(widget_crd(name)).returncode == 0
    admin("wait", "--for=condition=Established", f"crd/widgets.{name}", "--timeout=30s", namespaced=False)
    yield name
    admin("delete", "crd", f"widgets.{name}", namespaced=False)


def test_merge_json_and_strategic_patches(kubectl: Kubectl) -> None:
    assert kubectl.apply([config_map("cfg", a="1"), statefulset("web")]).returncode == 0
    assert kubectl("patch", "cm", "cfg", "--type=merge", "-p", '{"data":{"b":"2","a":null}}').strip() == (
        "configmap/cfg patched"
    )
    ops = [{"op": "test", "path": "/data/b", "value": "2"}, {"op": "add", "path": "/data/c", "value": "3"}]
    kubectl("patch", "cm", "cfg", "--type=json", "-p", json.dumps(ops))
    assert kubectl.json("get", "cm", "cfg")["data"] == {"b": "2", "c": "3"}
    failed = kubectl.fails(
        "patch", "cm", "cfg", "--type=json", "-p", '[{"op":"test","path":"/data/b","value":"9"}]'
    )
    # Kubernetes keeps none of the patch library's words: a 422 with a generic message.
    assert "The request is invalid: the server rejected our request due to an error in our request" in failed

    # Strategic merge patch (kubectl's default type) merges containers and env by name.
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "main", "env": [{"name": "NEW", "value": "1"}]}]}}
        }
    }
    kubectl("patch", "sts", "web", "-p", json.dumps(patch))
    [main] = kubectl.json("get", "sts", "web")["spec"]["template"]["spec"]["containers"]
    assert (main["image"], [e["name"] for e in main["env"]]) == ("nginx:1", ["NEW", "MODE"])
    unchanged = kubectl("patch", "sts", "web", "-p", json.dumps(patch))
    assert unchanged.strip() == "statefulset.apps/web patched (no change)"


def test_strategic_merge_patch_is_refused_for_custom_resources(kubectl: Kubectl, group: str) -> None:
    assert kubectl.apply(widget(group, "w", replicas=1)).returncode == 0
    error = kubectl.fails(
        "patch", f"widgets.{group}", "w", "--type=strategic", "-p", '{"spec":{"replicas":2}}'
    )
    assert "UnsupportedMediaType" in error or "unknown format" in error
    kubectl("patch", f"widgets.{group}", "w", "--type=merge", "-p", '{"spec":{"replicas":2}}')
    assert kubectl.json("get", f"widgets.{group}", "w")["spec"]["replicas"] == 2


def test_scale_a_statefulset_and_a_custom_resource(kubectl: Kubectl, group: str) -> None:
    assert kubectl.apply([statefulset("db"), widget(group, "scalable", replicas=1)]).returncode == 0
    assert kubectl("scale", "sts", "db", "--replicas=3").strip() == "statefulset.apps/db scaled"
    assert kubectl.json("get", "sts", "db")["spec"]["replicas"] == 3
    assert kubectl("get", "sts", "db", "--subresource=scale", "-o", "jsonpath={.spec.replicas}") == "3"
    assert kubectl("scale", f"widgets.{group}", "scalable", "--replicas=5").strip() == (
        f"widget.{group}/scalable scaled"
    )
    assert kubectl.json("get", f"widgets.{group}", "scalable")["spec"]["replicas"] == 5
    # --current-replicas is a precondition kubectl checks against the scale subresource.
    refused = kubectl.fails("scale", f"widgets.{group}", "scalable", "--current-replicas=2", "--replicas=7")
    assert "Expected replicas to be 2, was 5" in refused


def test_delete_with_each_cascade(kubectl: Kubectl) -> None:
    assert kubectl.apply([statefulset("orphaned"), statefulset("fg"), statefulset("bg")]).returncode == 0
    for name in ("orphaned", "fg", "bg"):
        kubectl("wait", "--for=create", f"pod/{name}-0", "--timeout=30s")

    assert "deleted" in kubectl("delete", "sts", "orphaned", "--cascade=orphan")
    pod = kubectl.json("get", "pod", "orphaned-0")
    assert not pod["metadata"].get("ownerReferences")

    # Foreground: kubectl waits until the owner is gone, which happens after its pods are.
    assert "deleted" in kubectl("delete", "sts", "fg", "--cascade=foreground", "--timeout=30s")
    assert kubectl.fails("get", "pod", "fg-0").strip().endswith('pods "fg-0" not found')

    assert "deleted" in kubectl("delete", "sts", "bg")
    kubectl("wait", "--for=delete", "pod/bg-0", "--timeout=30s")


def test_wait_for_conditions_jsonpath_and_deletion(kubectl: Kubectl, group: str) -> None:
    assert kubectl.apply([widget(group, "ready"), config_map("doomed", a="1")]).returncode == 0
    status = {"status": {"replicas": 1, "conditions": [{"type": "Ready", "status": "True"}]}}
    kubectl(
        "patch", f"widgets.{group}", "ready", "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )
    met = kubectl("wait", "--for=condition=Ready", f"widgets.{group}/ready", "--timeout=10s")
    assert met.strip() == f"widget.{group}/ready condition met"
    kubectl("wait", "--for=jsonpath={.status.replicas}=1", f"widgets.{group}/ready", "--timeout=10s")

    timed_out = kubectl.run("wait", "--for=condition=Broken", f"widgets.{group}/ready", "--timeout=1s")
    assert timed_out.returncode != 0
    assert "timed out waiting for the condition" in timed_out.stderr

    kubectl("delete", "cm", "doomed", "--wait=false")
    kubectl("wait", "--for=delete", "configmap/doomed", "--timeout=10s")
    assert kubectl.fails("get", "cm", "doomed").strip().endswith('configmaps "doomed" not found')
