"""volcano and coscheduling: the PodGroup of each group, the pods' link to it, and the pod request maths."""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml

from lws.plugin.resources import format_quantity, pod_requests
from lws.plugin_testing import admission_errors, lws_manifest, make_test_hooks, render
from tests import upstream_samples

REVISION = "leaderworkerset.sigs.k8s.io/template-revision-hash"


def c(name: str, restart: str | None = None, **resources: dict[str, str]) -> dict:
    container: dict = {"name": name, "image": "x", "resources": resources}
    if restart:
        container["restartPolicy"] = restart
    return container


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"containers": [c("a", requests={"cpu": "1"}), c("b", requests={"cpu": "500m", "memory": "1Gi"})]},
         {"cpu": "1500m", "memory": "1Gi"}),
        # limits stand in for missing requests, as the API server defaults them
        ({"containers": [c("a", limits={"nvidia.com/gpu": "8", "cpu": "2"}, requests={"cpu": "1"})]},
         {"cpu": "1", "nvidia.com/gpu": "8"}),
        # a regular init container larger than the steady state sets the peak
        ({"initContainers": [c("init", requests={"cpu": "4"})], "containers": [c("a", requests={"cpu": "1"})]},
         {"cpu": "4"}),
        # a sidecar adds to the steady state and runs beside later init containers
        ({"initContainers": [c("sidecar", "Always", requests={"cpu": "1"}), c("init", requests={"cpu": "2"})],
          "containers": [c("a", requests={"cpu": "1"})]},
         {"cpu": "3"}),
        ({"initContainers": [c("init", requests={"cpu": "1"}), c("sidecar", "Always", requests={"cpu": "1"})],
          "containers": [c("a", requests={"cpu": "3"})]},
         {"cpu": "4"}),
        # pod overhead is added on top; pod-level resources replace the containers' cpu and memory
        ({"containers": [c("a", requests={"cpu": "1", "memory": "1Gi"})], "overhead": {"cpu": "250m"},
          "resources": {"requests": {"memory": "4Gi"}}},
         {"cpu": "1250m", "memory": "4Gi"}),
    ],
)  # fmt: skip
def test_pod_requests(spec, expected):
    found = pod_requests(spec)
    assert {k: format_quantity(k, v) for k, v in found.items()} == expected


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [("cpu", "0.25", "250m"), ("cpu", "16", "16"), ("memory", str(3 * 2**30), "3Gi"), ("memory", "1000", "1000"),
     ("nvidia.com/gpu", "1024", "1024"), ("cpu", "0.0000005", "500n"), ("memory", str(1536 * 2**20), "1536Mi")],
)  # fmt: skip
def test_format_quantity(name, value, text):
    assert format_quantity(name, Decimal(value)) == text


def gpu_set(**kwargs) -> dict:
    leader = [c("leader", limits={"nvidia.com/gpu": "8"}, requests={"cpu": "4", "memory": "16Gi"})]
    workers = [c("worker", limits={"nvidia.com/gpu": "8"}, requests={"cpu": "2", "memory": "8Gi"})]
    return lws_manifest(replicas=2, size=3, containers=workers, leader_containers=leader, **kwargs)


def test_volcano_is_opt_in(lws_render):
    rendered = lws_render(gpu_set())
    assert rendered.names("PodGroup") == []
    assert all(
        "scheduling.k8s.io/group-name" not in (p["metadata"].get("annotations") or {})
        for p in rendered.pods()
    )


def test_volcano_pod_groups_and_pods():
    annotations = {
        "scheduling.volcano.sh/queue-name": "inference",
        "volcano.sh/sla-waiting-time": "5m",
        "other": "x",
    }
    rendered = render(gpu_set(annotations=annotations), make_test_hooks(enable=("volcano",)))
    revision = rendered.get("StatefulSet", "demo")["metadata"]["labels"][REVISION]
    assert rendered.names("PodGroup") == [
        ("PodGroup", f"demo-0-{revision}"),
        ("PodGroup", f"demo-1-{revision}"),
    ]
    group = rendered.get("PodGroup", f"demo-1-{revision}")
    assert group["apiVersion"] == "scheduling.volcano.sh/v1beta1"
    assert group["spec"] == {
        "minMember": 3,
        "minResources": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "24"},
        "queue": "inference",
    }
    assert group["metadata"]["annotations"] == {"volcano.sh/sla-waiting-time": "5m"}
    assert group["metadata"]["labels"] == {
        REVISION: revision,
        "leaderworkerset.sigs.k8s.io/name": "demo",
        "leaderworkerset.sigs.k8s.io/group-index": "1",
    }
    assert group["metadata"]["ownerReferences"][0]["kind"] == "Pod"
    assert group["metadata"]["ownerReferences"][0]["name"] == "demo-1"
    for pod in ("demo-1", "demo-1-1", "demo-1-2"):
        assert (
            rendered.pod(pod)["metadata"]["annotations"]["scheduling.k8s.io/group-name"]
            == f"demo-1-{revision}"
        )


def test_leader_ready_gangs_only_the_leader():
    rendered = render(
        gpu_set(startup_policy="LeaderReady"), make_test_hooks(enable=("volcano", "coscheduling"))
    )
    assert {g["spec"]["minMember"] for g in rendered if g["kind"] == "PodGroup"} == {1}


def test_upstream_volcano_sample():
    sample = yaml.safe_load(
        upstream_samples.path("sample-gang-scheduling-lws-sample-volcano.yaml").read_text()
    )
    rendered = render(sample, make_test_hooks(enable=("volcano",)))
    groups = [o for o in rendered if o["kind"] == "PodGroup"]
    assert len(groups) == 2
    assert groups[0]["spec"] == {"minMember": 4, "minResources": {"cpu": "200m"}}


def test_coscheduling_pod_groups_and_labels():
    obj = gpu_set(annotations={"coscheduling.lws.x-k8s.io/schedule-timeout-seconds": "120"})
    rendered = render(obj, make_test_hooks(enable=("coscheduling",)))
    revision = rendered.get("StatefulSet", "demo")["metadata"]["labels"][REVISION]
    group = rendered.get("PodGroup", f"demo-0-{revision}")
    assert group["apiVersion"] == "scheduling.x-k8s.io/v1alpha1"
    assert group["spec"] == {
        "minMember": 3,
        "minResources": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "24"},
        "scheduleTimeoutSeconds": 120,
    }
    assert (
        rendered.pod("demo-0-2")["metadata"]["labels"]["scheduling.x-k8s.io/pod-group"]
        == f"demo-0-{revision}"
    )


@pytest.mark.parametrize(
    ("plugin", "annotations", "path", "detail"),
    [
        ("volcano", {"scheduling.volcano.sh/queue-name": "Not_A_Queue"}, "scheduling.volcano.sh/queue-name",
         "must be a Volcano Queue name"),
        ("coscheduling", {"coscheduling.lws.x-k8s.io/schedule-timeout-seconds": "0"},
         "coscheduling.lws.x-k8s.io/schedule-timeout-seconds", "must be a positive integer"),
    ],
)  # fmt: skip
def test_validation(plugin, annotations, path, detail):
    errors = admission_errors(lws_manifest(annotations=annotations), make_test_hooks(enable=(plugin,)))
    assert [(e.path, e.origin) for e in errors] == [(f"metadata.annotations.{path}", plugin)]
    assert detail in errors[0].detail
