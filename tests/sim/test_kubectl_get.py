"""The real kubectl reading the cluster: get (tables, output formats, selectors, all namespaces, short names,
categories), get --watch, api-resources and explain.

Runs against the shared embedded cluster, or against the cluster ``LWS_TEST_KUBECONFIG`` names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubectl_cli import Kubectl, config_map, statefulset, widget, widget_crd

from lws.sim.testing import wait_until


@pytest.fixture
def kubectl(kubeconfig_path: Path, test_namespace: str, tmp_path: Path) -> Kubectl:
    return Kubectl(kubeconfig_path, tmp_path, test_namespace)


@pytest.fixture(scope="module")
def widgets(kubeconfig_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A Widget CRD in a group of this module's own: ``(group, short name)``."""
    group = f"get{uuid.uuid4().hex[:8]}.example.com"
    admin = Kubectl(kubeconfig_path, tmp_path_factory.mktemp("crd"), "default")
    crd = widget_crd(group)
    assert admin.apply(crd).returncode == 0
    admin("wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=30s", namespaced=False)
    # A real API server publishes an established CRD in discovery and in its OpenAPI documents a moment
    # later, each on its own: wait until kubectl finds the resource and can explain it.
    for args in (("get", f"widgets.{group}", "-A"), ("explain", f"widgets.{group}.spec")):
        wait_until(
            lambda args=args: admin.run(*args, namespaced=False).returncode == 0,
            timeout=30,
            what=f"kubectl {' '.join(args)} to succeed",
        )
    yield group, crd["spec"]["names"]["shortNames"][0]
    admin("delete", "crd", f"widgets.{group}", namespaced=False)


def header(table: str) -> list[str]:
    return table.splitlines()[0].split()


def rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.splitlines()[1:] if line.strip()]


def test_tables_have_kubectl_columns(kubectl: Kubectl, widgets: tuple[str, str]) -> None:
    group, _ = widgets
    assert kubectl.apply([statefulset("web"), config_map("settings", a="1"), widget(group, "w1", replicas=3)])
    kubectl("wait", "--for=create", "pod/web-0", "--timeout=30s")

    assert header(kubectl("get", "statefulsets")) == ["NAME", "READY", "AGE"]
    pods = kubectl("get", "pods")
    assert header(pods) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows(pods)[0][0] == "web-0"
    wide = header(kubectl("get", "pods", "-o", "wide"))
    assert wide[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert {"IP", "NODE", "NOMINATED", "READINESS"} <= set(wide)
    assert header(kubectl("get", "configmaps")) == ["NAME", "DATA", "AGE"]
    assert rows(kubectl("get", "configmaps", "settings"))[0][:2] == ["settings", "1"]
    # A CRD's additionalPrinterColumns, values from its JSONPaths.
    # Qualified: other modules' Widget CRDs (other groups) may exist meanwhile, and kubectl resolves a bare
    # "widgets" to one group of its choosing.
    assert header(kubectl("get", f"widgets.{group}")) == ["NAME", "REPLICAS", "AGE"]
    assert rows(kubectl("get", f"widgets.{group}", "w1"))[0][:2] == ["w1", "3"]


def test_output_formats(kubectl: Kubectl) -> None:
    assert kubectl.apply(config_map("fmt", key="value"))
    assert kubectl("get", "configmap", "fmt", "-o", "name").strip() == "configmap/fmt"
    as_json = kubectl.json("get", "configmap", "fmt")
    assert (as_json["kind"], as_json["data"]) == ("ConfigMap", {"key": "value"})
    as_yaml = yaml.safe_load(kubectl("get", "configmap", "fmt", "-o", "yaml"))
    assert as_yaml["metadata"]["namespace"] == kubectl.namespace
    assert kubectl("get", "configmap", "fmt", "-o", "jsonpath={.data.key}") == "value"
    listed = kubectl.json("get", "configmaps")
    assert listed["kind"] == "List"
    assert "fmt" in [item["metadata"]["name"] for item in listed["items"]]


def test_label_and_field_selectors(kubectl: Kubectl) -> None:
    assert kubectl.apply(
        [
            {**config_map("red"), "metadata": {"name": "red", "labels": {"color": "red", "tier": "a"}}},
            {**config_map("blue"), "metadata": {"name": "blue", "labels": {"color": "blue", "tier": "a"}}},
            {**config_map("plain"), "metadata": {"name": "plain"}},
        ]
    )

    def names(*args: str) -> list[str]:
        return sorted(kubectl("get", "configmaps", "-o", "name", *args).split())

    assert names("-l", "color=red") == ["configmap/red"]
    assert names("-l", "tier=a,color!=red") == ["configmap/blue"]
    assert names("-l", "color in (red,blue)") == ["configmap/blue", "configmap/red"]
    assert names("-l", "!color") == [n for n in names() if n not in ("configmap/blue", "configmap/red")]
    assert names("--field-selector", "metadata.name=plain") == ["configmap/plain"]
    assert "configmap/plain" not in names("--field-selector", "metadata.name!=plain")
    error = kubectl.fails("get", "configmaps", "--field-selector", "data.a=1")
    assert "Error from server (BadRequest)" in error
    assert "data.a" in error


def test_all_namespaces_short_names_and_the_all_category(
    kubectl: Kubectl, widgets: tuple[str, str], test_namespace: str
) -> None:
    group, short = widgets
    assert kubectl.apply([statefulset("cat"), widget(group, "w2")])
    everywhere = kubectl("get", "statefulsets", "-A", namespaced=False)
    assert header(everywhere) == ["NAMESPACE", "NAME", "READY", "AGE"]
    assert [test_namespace, "cat"] in [row[:2] for row in rows(everywhere)]
    assert kubectl("get", "sts", "-o", "name").split() == ["statefulset.apps/cat"]
    assert kubectl("get", short, "-o", "name").split() == [f"widget.{group}/w2"]
    assert kubectl("get", "ns", test_namespace, "-o", "name").strip() == f"namespace/{test_namespace}"
    kubectl("wait", "--for=create", "pod/cat-0", "--timeout=30s")
    # `get all` reads every resource of the category, the CRDs other tests are removing included: on a
    # real API server discovery can still list one that is no longer served for a moment, and kubectl
    # then fails; the next attempt sees discovery caught up.
    attempt = wait_until(
        lambda: (done := kubectl.run("get", "all", "-o", "name")).returncode == 0 and done,
        timeout=30,
        what="kubectl get all to succeed",
    )
    everything = attempt.stdout.split()
    assert {"pod/cat-0", "statefulset.apps/cat", f"widget.{group}/w2"} <= set(everything)
    assert not any(name.startswith("configmap/") for name in everything)


def test_api_resources_lists_built_ins_and_installed_crds(kubectl: Kubectl, widgets: tuple[str, str]) -> None:
    group, short = widgets
    table = kubectl("api-resources", namespaced=False)
    assert header(table) == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    by_name = {row[0]: row for row in rows(table)}
    assert by_name["statefulsets"] == ["statefulsets", "sts", "apps/v1", "true", "StatefulSet"]
    assert by_name["namespaces"] == ["namespaces", "ns", "v1", "false", "Namespace"]
    grouped = rows(kubectl("api-resources", f"--api-group={group}", namespaced=False))
    assert grouped == [["widgets", short, f"{group}/v1", "true", "Widget"]]


def test_explain_renders_a_crd_schema(kubectl: Kubectl, widgets: tuple[str, str]) -> None:
    group, _ = widgets

    def explained() -> str | None:
        # A real API server publishes a new CRD's OpenAPI a moment after the CRD is Established.
        done = kubectl.run("explain", f"widgets.{group}.spec", namespaced=False)
        return done.stdout if done.returncode == 0 else None

    text: str = wait_until(explained, timeout=60, what="kubectl explain to find the CRD's schema")
    assert "What the widget should be." in text
    assert "replicas\t<integer>" in text
    assert "How many copies of the widget to run." in text
    assert "enum: red, blue" in text


def test_get_watch_streams_changes_until_stopped(kubectl: Kubectl) -> None:
    assert kubectl.apply(config_map("before"))
    with kubectl.streaming("get", "configmaps", "--watch", "--output-watch-events") as watch:
        assert watch.until("ADDED", "before")
        assert kubectl.apply(config_map("during", a="1"))
        assert watch.until("ADDED", "during")
        kubectl("patch", "configmap", "during", "--type=merge", "-p", '{"data":{"b":"2"}}')
        assert watch.until("MODIFIED", "during")
        kubectl("delete", "configmap", "during")
        assert watch.until("DELETED", "during")
    assert header(watch.seen[0]) == ["EVENT", "NAME", "DATA", "AGE"]
