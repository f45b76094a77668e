"""Discovery, health, version and Table output, checked with raw HTTP and with the real kubectl."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lws.sim.discovery import AGGREGATED_MEDIA_TYPE
from lws.sim.tables import human_duration, json_path

pytestmark = pytest.mark.sim_only

AGGREGATED_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)
TABLE_ACCEPT = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io"
)


def _get(embedded_api, path: str, accept: str = "application/json") -> tuple[int, str, object]:
    response = embedded_api.rest_client.pool_manager.request(
        "GET", f"{embedded_api.configuration.host}{path}", headers={"Accept": accept}
    )
    content_type = response.headers.get("Content-Type", "")
    body = (
        json.loads(response.data) if content_type.startswith("application/json") else response.data.decode()
    )
    return response.status, content_type, body


def test_health_and_version(embedded_api):
    for path in ("/healthz", "/readyz", "/livez"):
        assert _get(embedded_api, path)[::2] == (200, "ok")
    status, _, version = _get(embedded_api, "/version")
    assert status == 200 and version["major"] == "1" and version["gitVersion"].startswith("v1.")


def test_legacy_discovery_documents(embedded_api):
    _, _, api = _get(embedded_api, "/api")
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    _, _, groups = _get(embedded_api, "/apis")
    names = [g["name"] for g in groups["groups"]]
    assert {"apps", "apiextensions.k8s.io", "coordination.k8s.io", "policy", "autoscaling"} <= set(names)
    _, _, apps = _get(embedded_api, "/apis/apps")
    assert apps["preferredVersion"]["groupVersion"] == "apps/v1"
    _, _, v1 = _get(embedded_api, "/apis/apps/v1")
    by_name = {r["name"]: r for r in v1["resources"]}
    assert by_name["statefulsets"]["shortNames"] == ["sts"]
    assert by_name["statefulsets"]["categories"] == ["all"]
    assert (
        by_name["statefulsets/scale"]["kind"] == "Scale"
        and by_name["statefulsets/scale"]["group"] == "autoscaling"
    )
    _, _, core = _get(embedded_api, "/api/v1")
    core_names = {r["name"]: r for r in core["resources"]}
    assert {"pods/status", "pods/eviction", "pods/binding", "namespaces"} <= set(core_names)
    assert core_names["namespaces"]["namespaced"] is False
    assert _get(embedded_api, "/apis/nosuch.example.com/v1")[0] == 404


def test_aggregated_discovery_is_served_when_asked_for(embedded_api):
    status, content_type, body = _get(embedded_api, "/apis", AGGREGATED_ACCEPT)
    assert status == 200 and content_type == AGGREGATED_MEDIA_TYPE
    assert body["kind"] == "APIGroupDiscoveryList"
    apps = next(item for item in body["items"] if item["metadata"]["name"] == "apps")
    resources = {r["resource"]: r for r in apps["versions"][0]["resources"]}
    sts = resources["statefulsets"]
    assert sts["scope"] == "Namespaced" and sts["responseKind"]["kind"] == "StatefulSet"
    assert {s["subresource"] for s in sts["subresources"]} == {"status", "scale"}
    _, _, core = _get(embedded_api, "/api", AGGREGATED_ACCEPT)
    assert [item["metadata"]["name"] for item in core["items"]] == [""]


def test_pod_table_has_kubectl_columns(embedded_api):
    from kubernetes import client

    client.CoreV1Api(embedded_api).create_namespaced_pod(
        "default", {"metadata": {"name": "t"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    )
    _, _, table = _get(embedded_api, "/api/v1/namespaces/default/pods", TABLE_ACCEPT)
    columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns[:5] == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0)]
    assert ("Node", 1) in columns and ("IP", 1) in columns
    (row,) = table["rows"]
    assert row["cells"][:4] == ["t", "0/1", "Pending", "0"]
    _, _, single = _get(embedded_api, "/api/v1/namespaces/default/pods/t", TABLE_ACCEPT)
    assert single["kind"] == "Table" and len(single["rows"]) == 1


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59, "59s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
    ],
)
def test_human_duration_matches_kubernetes(seconds, text):
    assert human_duration(seconds) == text


def test_json_path_subset():
    obj = {"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]}}
    assert json_path(obj, '.status.conditions[?(@.type=="Ready")].status') == "True"
    assert json_path(obj, ".status.conditions[0].type") == "A"
    assert json_path(obj, "{.status.missing}") is None


def _kubectl() -> str:
    found = Path(sys.executable).parent / "kubectl"
    return str(found) if found.exists() else (shutil.which("kubectl") or "kubectl")


def test_real_kubectl_discovers_gets_applies_and_deletes(embedded_cluster, tmp_path):
    kubeconfig = embedded_cluster.write_kubeconfig(tmp_path / "kubeconfig")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(tmp_path / "cache")}

    def kubectl(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [_kubectl(), *args], env=env, input=stdin, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"kubectl {' '.join(args)} failed: {done.stderr}"
        return done.stdout

    assert "default" in kubectl("get", "ns")
    resources = kubectl("api-resources")
    assert "sts" in resources and "statefulsets" in resources
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  k: first\n"
    assert "created" in kubectl("apply", "--validate=false", "-f", "-", stdin=manifest)
    assert "configured" in kubectl(
        "apply", "--validate=false", "-f", "-", stdin=manifest.replace("first", "second")
    )
    assert kubectl("get", "configmap", "applied", "-o", "jsonpath={.data.k}") == "second"
    listing = kubectl("get", "cm")
    assert listing.splitlines()[0].split() == ["NAME", "DATA", "AGE"]
    assert "deleted" in kubectl("delete", "cm", "applied")
    assert "applied" not in kubectl("get", "cm")


_NOW = "2026-01-01T00:00:00Z"
_TABLE_CASES = [
    (
        ("apps", "v1", "statefulsets"),
        {
            "metadata": {"name": "web", "creationTimestamp": _NOW},
            "spec": {"replicas": 3},
            "status": {"readyReplicas": 2},
        },
        ["Name", "Ready", "Age"],
        ["web", "2/3"],
    ),
    (
        ("", "v1", "nodes"),
        {
            "metadata": {
                "name": "n1",
                "creationTimestamp": _NOW,
                "labels": {"node-role.kubernetes.io/gpu": ""},
            },
            "spec": {"unschedulable": True},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "nodeInfo": {"kubeletVersion": "v1.37.0"},
            },
        },
        ["Name", "Status", "Roles", "Age", "Version"],
        ["n1", "Ready,SchedulingDisabled", "gpu"],
    ),
    (
        ("", "v1", "services"),
        {
            "metadata": {"name": "svc", "creationTimestamp": _NOW},
            "spec": {"type": "ClusterIP", "clusterIP": "None", "ports": [{"port": 80, "protocol": "TCP"}]},
        },
        ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"],
        ["svc", "ClusterIP", "None", "<none>", "80/TCP"],
    ),
    (
        ("", "v1", "namespaces"),
        {"metadata": {"name": "ns", "creationTimestamp": _NOW}, "status": {"phase": "Terminating"}},
        ["Name", "Status", "Age"],
        ["ns", "Terminating"],
    ),
    (
        ("", "v1", "events"),
        {
            "metadata": {"name": "e", "creationTimestamp": _NOW},
            "type": "Warning",
            "reason": "BackOff",
            "involvedObject": {"kind": "Pod", "name": "web-0"},
            "message": "Back-off restarting",
            "lastTimestamp": _NOW,
        },
        ["Last Seen", "Type", "Reason", "Object", "Message"],
        [None, "Warning", "BackOff", "pod/web-0", "Back-off restarting"],
    ),
]


@pytest.mark.parametrize(
    ("gvr", "obj", "columns", "cells"), _TABLE_CASES, ids=lambda v: v[2] if isinstance(v, tuple) else ""
)
def test_builtin_tables_print_kubernetes_columns(gvr, obj, columns, cells):
    from lws.sim.resources import ResourceRegistry
    from lws.sim.tables import table

    resource = ResourceRegistry.with_builtins().get(gvr)
    printed = table(resource, [obj])
    visible = [c["name"] for c in printed["columnDefinitions"] if c["priority"] == 0]
    assert visible == columns
    row = printed["rows"][0]["cells"]
    for index, expected in enumerate(cells):
        if expected is not None:
            assert row[index] == expected
