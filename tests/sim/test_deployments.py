"""Deployments and ReplicaSets, as kube-controller-manager runs them: a ReplicaSet per pod template, rolling
and recreate updates, scaling, revisions and history, status and conditions, ``kubectl rollout status``, and
the garbage collector removing it all with the Deployment.

The pods must run, so the embedded cluster here has nodes (``running_kubeconfig``); with LWS_TEST_KUBECONFIG
set the tests run unchanged against that real cluster instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubectl_cli import Kubectl
from kubernetes import client

from lws.sim.testing import wait_until

IMAGE = "registry.k8s.io/pause:3.10"
OTHER_IMAGE = "registry.k8s.io/pause:3.9"
REVISION = "deployment.kubernetes.io/revision"


def _deployment(name: str, replicas: int, image: str = IMAGE, **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "main", "image": image}],
                },
            },
            **spec,
        },
    }


def _sets(api: client.ApiClient, ns: str, name: str) -> list[client.V1ReplicaSet]:
    listed = client.AppsV1Api(api).list_namespaced_replica_set(ns, label_selector=f"app={name}").items
    return sorted(listed, key=lambda rs: int(rs.metadata.annotations.get(REVISION, "0")))


def _pods(api: client.ApiClient, ns: str, name: str) -> list[client.V1Pod]:
    pods = client.CoreV1Api(api).list_namespaced_pod(ns, label_selector=f"app={name}").items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def _rolled_out(
    api: client.ApiClient, ns: str, name: str, replicas: int, generation: int
) -> client.V1Deployment:
    apps = client.AppsV1Api(api)

    def done() -> client.V1Deployment | None:
        d = apps.read_namespaced_deployment(name, ns)
        s = d.status
        if s is None or (s.observed_generation or 0) < generation:
            return None
        counts = (s.replicas, s.updated_replicas, s.ready_replicas, s.available_replicas)
        progressing = [c for c in s.conditions or [] if c.type == "Progressing"]
        finished = progressing and progressing[0].reason == "NewReplicaSetAvailable"
        return d if counts == (replicas,) * 4 and finished else None

    rolled: client.V1Deployment = wait_until(done, timeout=90, what=f"deployment {name} to roll out")
    return rolled


def test_a_deployment_runs_its_pods_through_a_replica_set(running_api, running_namespace):
    api, ns = running_api, running_namespace
    client.AppsV1Api(api).create_namespaced_deployment(ns, _deployment("web", 3))
    deployment = _rolled_out(api, ns, "web", 3, 1)
    (rs,) = _sets(api, ns, "web")
    pod_hash = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{pod_hash}"
    assert rs.spec.selector.match_labels == {"app": "web", "pod-template-hash": pod_hash}
    assert rs.metadata.owner_references[0].kind == "Deployment" and rs.metadata.owner_references[0].controller
    assert rs.metadata.annotations[REVISION] == "1" == deployment.metadata.annotations[REVISION]
    assert rs.metadata.annotations["deployment.kubernetes.io/desired-replicas"] == "3"
    pods = _pods(api, ns, "web")
    assert len(pods) == 3 and all(p.metadata.name.startswith(f"web-{pod_hash}-") for p in pods)
    assert all(p.metadata.owner_references[0].name == rs.metadata.name for p in pods)
    conditions = {c.type: c for c in deployment.status.conditions}
    assert (conditions["Available"].status, conditions["Available"].reason) == (
        "True",
        "MinimumReplicasAvailable",
    )
    assert conditions["Available"].message == "Deployment has minimum availability."
    assert (
        conditions["Progressing"].message == f'ReplicaSet "{rs.metadata.name}" has successfully progressed.'
    )
    assert (rs.status.replicas, rs.status.ready_replicas, rs.status.available_replicas) == (3, 3, 3)
    assert rs.status.observed_generation == 1


def test_a_rolling_update_moves_every_pod_to_a_new_replica_set(running_api, running_namespace):
    api, ns = running_api, running_namespace
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(ns, _deployment("roll", 4))
    _rolled_out(api, ns, "roll", 4, 1)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": OTHER_IMAGE}]}}}}
    apps.patch_namespaced_deployment("roll", ns, patch)
    deployment = _rolled_out(api, ns, "roll", 4, 2)
    wait_until(lambda: len(_pods(api, ns, "roll")) == 4, timeout=60, what="the old pods to go")
    old, new = _sets(api, ns, "roll")
    assert (old.metadata.annotations[REVISION], new.metadata.annotations[REVISION]) == ("1", "2")
    assert deployment.metadata.annotations[REVISION] == "2"
    assert (old.spec.replicas, new.spec.replicas) == (0, 4)
    assert {p.spec.containers[0].image for p in _pods(api, ns, "roll")} == {OTHER_IMAGE}
    # Rolling back to the first template reuses its ReplicaSet, which becomes the newest revision.
    apps.patch_namespaced_deployment(
        "roll", ns, {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": IMAGE}]}}}}
    )
    _rolled_out(api, ns, "roll", 4, 3)
    sets = _sets(api, ns, "roll")
    assert [rs.metadata.name for rs in sets] == [new.metadata.name, old.metadata.name]
    assert sets[-1].metadata.annotations[REVISION] == "3" and sets[-1].spec.replicas == 4


def test_recreate_stops_old_pods_before_new_ones_start(running_api, running_namespace):
    api, ns = running_api, running_namespace
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(ns, _deployment("once", 2, strategy={"type": "Recreate"}))
    _rolled_out(api, ns, "once", 2, 1)
    apps.patch_namespaced_deployment(
        "once", ns, {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": OTHER_IMAGE}]}}}}
    )
    _rolled_out(api, ns, "once", 2, 2)
    old, new = _sets(api, ns, "once")
    assert (old.spec.replicas, new.spec.replicas) == (0, 2)


def test_scaling_resizes_the_replica_set(running_api, running_namespace):
    api, ns = running_api, running_namespace
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(ns, _deployment("size", 2))
    _rolled_out(api, ns, "size", 2, 1)
    apps.patch_namespaced_deployment_scale("size", ns, {"spec": {"replicas": 5}})
    _rolled_out(api, ns, "size", 5, 2)
    (rs,) = _sets(api, ns, "size")
    assert (
        rs.spec.replicas == 5 and rs.metadata.annotations["deployment.kubernetes.io/desired-replicas"] == "5"
    )
    apps.patch_namespaced_deployment_scale("size", ns, {"spec": {"replicas": 1}})
    _rolled_out(api, ns, "size", 1, 3)
    wait_until(lambda: len(_pods(api, ns, "size")) == 1, timeout=60, what="surplus pods to go")


def test_a_replica_set_replaces_deleted_pods(running_api, running_namespace):
    api, ns = running_api, running_namespace
    labels = {"app": "bare"}
    body = {
        "metadata": {"name": "bare"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": IMAGE}]},
            },
        },
    }
    client.AppsV1Api(api).create_namespaced_replica_set(ns, body)
    first = wait_until(lambda: len(p := _pods(api, ns, "bare")) == 2 and p, timeout=60, what="two pods")
    client.CoreV1Api(api).delete_namespaced_pod(first[0].metadata.name, ns, grace_period_seconds=0)
    replaced = wait_until(
        lambda: (
            len(p := _pods(api, ns, "bare")) == 2
            and first[0].metadata.name not in {x.metadata.name for x in p}
            and p
        ),
        timeout=60,
        what="the deleted pod to be replaced",
    )
    assert all(p.metadata.generate_name == "bare-" for p in replaced)


def test_kubectl_rollout_status_and_cascading_deletion(
    running_api, running_kubeconfig: Path, running_namespace, tmp_path
):
    api, ns = running_api, running_namespace
    client.AppsV1Api(api).create_namespaced_deployment(ns, _deployment("cli", 2))
    kubectl = Kubectl(running_kubeconfig, tmp_path, ns)
    out = kubectl("rollout", "status", "deployment/cli", "--timeout=90s")
    assert 'deployment "cli" successfully rolled out' in out
    kubectl("delete", "deployment", "cli", "--wait=true", "--timeout=60s")
    wait_until(
        lambda: not _sets(api, ns, "cli") and not _pods(api, ns, "cli"), timeout=60, what="the cascade"
    )
