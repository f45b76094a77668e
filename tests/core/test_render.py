"""What render produces: the objects upstream would create, field for field (reference sections 2-4)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from tests.core.conftest import by_name, env_of, manifest

NAME = "leaderworkerset.sigs.k8s.io/name"
GROUP_INDEX = "leaderworkerset.sigs.k8s.io/group-index"
WORKER_INDEX = "leaderworkerset.sigs.k8s.io/worker-index"
GROUP_KEY = "leaderworkerset.sigs.k8s.io/group-key"
REVISION = "leaderworkerset.sigs.k8s.io/template-revision-hash"
SUBGROUP_INDEX = "leaderworkerset.sigs.k8s.io/subgroup-index"
SUBGROUP_KEY = "leaderworkerset.sigs.k8s.io/subgroup-key"


def test_order_and_names(render: Any) -> None:
    items = render(manifest(replicas=2, size=3))
    assert [(i["kind"], i["metadata"]["name"]) for i in items] == [
        ("LeaderWorkerSet", "demo"),
        ("Service", "demo"),
        ("StatefulSet", "demo"),
        ("Pod", "demo-0"),
        ("StatefulSet", "demo-0"),
        ("Pod", "demo-0-1"),
        ("Pod", "demo-0-2"),
        ("Pod", "demo-1"),
        ("StatefulSet", "demo-1"),
        ("Pod", "demo-1-1"),
        ("Pod", "demo-1-2"),
    ]


def test_leader_statefulset(render: Any) -> None:
    items = render(manifest(replicas=2, size=3))
    lws, sts = items[0], by_name(items, "StatefulSet", "demo")
    key = sts["metadata"]["labels"][REVISION]
    # The role label on the StatefulSet itself, never on its template (upstream #1016).
    assert sts["metadata"]["labels"] == {
        NAME: "demo",
        REVISION: key,
        "leaderworkerset.sigs.k8s.io/role": "leader",
    }
    annotations = dict(sts["metadata"]["annotations"])
    assert annotations.pop("lws.x-k8s.io/applied-hash")  # the operator's no-op-apply marker
    assert annotations == {"leaderworkerset.sigs.k8s.io/replicas": "2"}
    assert sts["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "leaderworkerset.x-k8s.io/v1",
            "kind": "LeaderWorkerSet",
            "name": "demo",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    spec = sts["spec"]
    assert spec["replicas"] == 2
    assert spec["serviceName"] == "demo"
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["selector"] == {"matchLabels": {NAME: "demo", WORKER_INDEX: "0"}}
    assert spec["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": 0, "maxUnavailable": 1},
    }
    assert spec["template"]["metadata"]["labels"] == {WORKER_INDEX: "0", NAME: "demo", REVISION: key}
    assert spec["template"]["metadata"]["annotations"] == {"leaderworkerset.sigs.k8s.io/size": "3"}
    assert "volumeClaimTemplates" not in spec
    assert lws["spec"]["rolloutStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0, "partition": 0},
    }


def test_worker_statefulset_and_pods(render: Any) -> None:
    items = render(manifest(replicas=2, size=3))
    leader = by_name(items, "Pod", "demo-1")
    sts = by_name(items, "StatefulSet", "demo-1")
    gkey = hashlib.sha1(b"default/demo-1").hexdigest()
    assert leader["metadata"]["labels"][GROUP_KEY] == gkey
    selector = {GROUP_INDEX: "1", NAME: "demo", GROUP_KEY: gkey}
    assert sts["spec"]["selector"] == {"matchLabels": selector}
    assert sts["spec"]["replicas"] == 2
    assert sts["spec"]["ordinals"] == {"start": 1}
    assert sts["spec"]["serviceName"] == "demo"
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert "updateStrategy" not in sts["spec"]
    assert sts["metadata"]["ownerReferences"][0]["kind"] == "Pod"
    assert sts["metadata"]["ownerReferences"][0]["name"] == "demo-1"
    assert sts["spec"]["template"]["metadata"]["annotations"] == {
        "leaderworkerset.sigs.k8s.io/size": "3",
        "leaderworkerset.sigs.k8s.io/leader-name": "demo-1",
    }
    worker = by_name(items, "Pod", "demo-1-2")
    labels = worker["metadata"]["labels"]
    assert labels[WORKER_INDEX] == "2"
    assert labels[GROUP_INDEX] == "1"
    assert labels["statefulset.kubernetes.io/pod-name"] == "demo-1-2"
    assert labels["apps.kubernetes.io/pod-index"] == "2"
    assert labels["controller-revision-hash"].startswith("demo-1-")
    assert worker["spec"]["hostname"] == "demo-1-2"
    assert worker["spec"]["subdomain"] == "demo"


def test_env_first_in_every_container_and_user_duplicates_dropped(render: Any) -> None:
    obj = manifest(
        replicas=1,
        size=2,
        worker_env=[{"name": "LWS_GROUP_SIZE", "value": "99"}, {"name": "A", "value": "x"}],
    )
    obj["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["initContainers"] = [
        {"name": "init", "image": "busybox"}
    ]
    items = render(obj)
    for pod_name, index in (("demo-0", "0"), ("demo-0-1", "1")):
        pod = by_name(items, "Pod", pod_name)
        assert env_of(pod) == [
            ("LWS_LEADER_ADDRESS", "demo-0.demo.default"),
            ("LWS_GROUP_SIZE", "2"),
            ("LWS_WORKER_INDEX", index),
            ("A", "x"),
        ]
        init_env = [(e["name"], e["value"]) for e in pod["spec"]["initContainers"][0]["env"]]
        assert [n for n, _ in init_env] == ["LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX"]


def test_leader_template_is_used_for_leaders_only(render: Any) -> None:
    obj = manifest(replicas=1, size=2)
    obj["spec"]["leaderWorkerTemplate"]["leaderTemplate"] = {
        "metadata": {"labels": {"role": "leader"}},
        "spec": {"containers": [{"name": "leader", "image": "vllm"}]},
    }
    items = render(obj)
    leader, worker = by_name(items, "Pod", "demo-0"), by_name(items, "Pod", "demo-0-1")
    assert leader["spec"]["containers"][0]["name"] == "leader"
    assert leader["metadata"]["labels"]["role"] == "leader"
    assert worker["spec"]["containers"][0]["name"] == "main"
    assert "role" not in worker["metadata"]["labels"]


def test_size_one_has_no_worker_statefulset(render: Any) -> None:
    items = render(manifest(replicas=2, size=1))
    assert [(i["kind"], i["metadata"]["name"]) for i in items][3:] == [("Pod", "demo-0"), ("Pod", "demo-1")]


def test_unique_per_replica(render: Any) -> None:
    obj = manifest(replicas=2, size=2)
    obj["spec"]["networkConfig"] = {"subdomainPolicy": "UniquePerReplica"}
    items = render(obj)
    kinds = [(i["kind"], i["metadata"]["name"]) for i in items]
    assert kinds[1:4] == [("Service", "demo-0"), ("Service", "demo-1"), ("StatefulSet", "demo")]
    svc = by_name(items, "Service", "demo-1")
    assert svc["spec"] == {
        "clusterIP": "None",
        "selector": {NAME: "demo", GROUP_INDEX: "1"},
        "publishNotReadyAddresses": True,
    }
    assert svc["metadata"]["ownerReferences"][0]["kind"] == "Pod"
    leader, worker = by_name(items, "Pod", "demo-1"), by_name(items, "Pod", "demo-1-1")
    assert leader["spec"]["subdomain"] == "demo-1"
    assert by_name(items, "StatefulSet", "demo-1")["spec"]["serviceName"] == "demo-1"
    assert worker["spec"]["subdomain"] == "demo-1"
    assert dict(env_of(worker))["LWS_LEADER_ADDRESS"] == "demo-1.demo-1.default"
    sts = by_name(items, "StatefulSet", "demo")
    assert sts["spec"]["serviceName"] == "demo"
    assert (
        sts["spec"]["template"]["metadata"]["annotations"]["leaderworkerset.sigs.k8s.io/subdomainPolicy"]
        == "UniquePerReplica"
    )


@pytest.mark.parametrize(
    ("size", "sgs", "policy", "expected"),
    [
        # size % sgs == 0: the leader takes slot 0 of subgroup 0
        (4, 2, "LeaderWorker", {"demo-0": "0", "demo-0-1": "0", "demo-0-2": "1", "demo-0-3": "1"}),
        # (size-1) % sgs == 0 and size % sgs != 0: the leader is subgroup 0's extra pod
        (
            5,
            2,
            "LeaderWorker",
            {"demo-0": "0", "demo-0-1": "0", "demo-0-2": "0", "demo-0-3": "1", "demo-0-4": "1"},
        ),
        (
            5,
            2,
            "LeaderExcluded",
            {"demo-0": None, "demo-0-1": "0", "demo-0-2": "0", "demo-0-3": "1", "demo-0-4": "1"},
        ),
        (3, 1, "LeaderExcluded", {"demo-0": None, "demo-0-1": "1", "demo-0-2": "2"}),
    ],
)
def test_subgroups(render: Any, size: int, sgs: int, policy: str, expected: dict[str, str | None]) -> None:
    obj = manifest(replicas=1, size=size, subGroupPolicy={"subGroupPolicyType": policy, "subGroupSize": sgs})
    items = render(obj)
    for pod_name, index in expected.items():
        labels = by_name(items, "Pod", pod_name)["metadata"]["labels"]
        assert labels.get(SUBGROUP_INDEX) == index, pod_name
        if index is not None:
            assert labels[SUBGROUP_KEY] == hashlib.sha1(f"demo-0/{index}".encode()).hexdigest()
    leader_ann = by_name(items, "StatefulSet", "demo")["spec"]["template"]["metadata"]["annotations"]
    assert leader_ann["leaderworkerset.sigs.k8s.io/subgroup-size"] == str(sgs)
    assert leader_ann["leaderworkerset.sigs.k8s.io/subgroup-policy-type"] == policy


def test_exclusive_topology(render: Any) -> None:
    key = "topology.kubernetes.io/zone"
    items = render(
        manifest(replicas=1, size=2, annotations={"leaderworkerset.sigs.k8s.io/exclusive-topology": key})
    )
    leader = by_name(items, "Pod", "demo-0")
    gkey = leader["metadata"]["labels"][GROUP_KEY]
    affinity = leader["spec"]["affinity"]
    assert affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == [
        {
            "labelSelector": {"matchExpressions": [{"key": GROUP_KEY, "operator": "In", "values": [gkey]}]},
            "topologyKey": key,
        }
    ]
    assert affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == [
        {
            "labelSelector": {
                "matchExpressions": [
                    {"key": GROUP_KEY, "operator": "Exists"},
                    {"key": GROUP_KEY, "operator": "NotIn", "values": [gkey]},
                ]
            },
            "topologyKey": key,
        }
    ]
    worker = by_name(items, "Pod", "demo-0-1")
    assert "affinity" not in worker["spec"]  # workers follow the leader by nodeSelector once it is placed
    for sts_name in ("demo", "demo-0"):
        ann = by_name(items, "StatefulSet", sts_name)["spec"]["template"]["metadata"]["annotations"]
        assert ann["leaderworkerset.sigs.k8s.io/exclusive-topology"] == key


def test_subgroup_exclusive_topology_applies_to_every_member(render: Any) -> None:
    key = "cloud.google.com/gke-nodepool"
    obj = manifest(
        replicas=1,
        size=4,
        annotations={"leaderworkerset.sigs.k8s.io/subgroup-exclusive-topology": key},
        subGroupPolicy={"subGroupSize": 2},
    )
    items = render(obj)
    for pod_name in ("demo-0", "demo-0-1", "demo-0-2", "demo-0-3"):
        pod = by_name(items, "Pod", pod_name)
        sg_key = pod["metadata"]["labels"][SUBGROUP_KEY]
        terms = pod["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert terms[0]["labelSelector"]["matchExpressions"][0] == {
            "key": SUBGROUP_KEY,
            "operator": "In",
            "values": [sg_key],
        }


@pytest.mark.parametrize(
    ("replicas", "max_unavailable", "max_surge", "expected"),
    [(4, 1, 0, 1), (10, "25%", "25%", 5), (4, "50%", "50%", 4), (3, "10%", "10%", 1), (4, 0, 2, 2)],
)
def test_percentages_scale_into_the_leader_statefulset(
    render: Any, replicas: int, max_unavailable: Any, max_surge: Any, expected: int
) -> None:
    obj = manifest(replicas=replicas, size=1)
    obj["spec"]["rolloutStrategy"] = {
        "type": "RollingUpdate",
        "rollingUpdateConfiguration": {"maxUnavailable": max_unavailable, "maxSurge": max_surge},
    }
    sts = by_name(render(obj), "StatefulSet", "demo")
    assert sts["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"] == expected


def test_volume_claim_templates_copy_only_upstreams_fields(render: Any) -> None:
    obj = manifest(replicas=1, size=2)
    obj["spec"]["leaderWorkerTemplate"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": "data", "labels": {"dropped": "yes"}},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "fast",
                "resources": {"requests": {"storage": "1Gi"}},
                "selector": {"matchLabels": {"dropped": "yes"}},
            },
        }
    ]
    obj["spec"]["leaderWorkerTemplate"]["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": "Delete"}
    items = render(obj)
    expected = [
        {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "fast",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    ]
    for sts_name in ("demo", "demo-0"):
        spec = by_name(items, "StatefulSet", sts_name)["spec"]
        assert spec["volumeClaimTemplates"] == expected
        assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Delete"}
    worker = by_name(items, "Pod", "demo-0-1")
    assert worker["spec"]["volumes"][0] == {
        "name": "data",
        "persistentVolumeClaim": {"claimName": "data-demo-0-1"},
    }


def tpu_manifest(
    size: int, *, leader_tpus: bool, containers: int = 1, sgs: int | None = None
) -> dict[str, Any]:
    def pod(n: int) -> dict[str, Any]:
        return {
            "spec": {
                "containers": [
                    {"name": f"c{i}", "image": "jax", "resources": {"limits": {"google.com/tpu": "4"}}}
                    for i in range(n)
                ]
            }
        }

    obj = manifest(replicas=1, size=size)
    obj["spec"]["leaderWorkerTemplate"]["workerTemplate"] = pod(containers)
    obj["spec"]["leaderWorkerTemplate"]["leaderTemplate"] = (
        pod(containers) if leader_tpus else {"spec": {"containers": [{"name": "coord", "image": "x"}]}}
    )
    if sgs:
        obj["spec"]["leaderWorkerTemplate"]["subGroupPolicy"] = {"subGroupSize": sgs}
    return obj


def tpu_env(pod: dict[str, Any], container: int = 0) -> dict[str, str]:
    return {k: v for k, v in env_of(pod, container) if k.startswith("TPU_")}


def test_tpu_leader_requests_tpus(render: Any) -> None:
    items = render(tpu_manifest(3, leader_tpus=True))
    hosts = "demo-0.demo,demo-0-1.demo,demo-0-2.demo"
    assert tpu_env(by_name(items, "Pod", "demo-0")) == {
        "TPU_WORKER_HOSTNAMES": hosts,
        "TPU_WORKER_ID": "0",
        "TPU_NAME": "demo-0",
        "TPU_PROCESS_ADDRESSES": "demo-0.demo:8476,demo-0-1.demo:8476,demo-0-2.demo:8476",
        "TPU_PROCESS_PORT": "8476",
    }
    assert tpu_env(by_name(items, "Pod", "demo-0-2"))["TPU_WORKER_ID"] == "2"
    worker_ann = by_name(items, "StatefulSet", "demo-0")["spec"]["template"]["metadata"]["annotations"]
    assert worker_ann["leaderworkerset.sigs.k8s.io/leader-requests-tpus"] == "true"


def test_tpu_leader_without_tpus_shifts_ids(render: Any) -> None:
    items = render(tpu_manifest(3, leader_tpus=False))
    assert tpu_env(by_name(items, "Pod", "demo-0")) == {}
    env = tpu_env(by_name(items, "Pod", "demo-0-1"))
    assert env["TPU_WORKER_HOSTNAMES"] == "demo-0-1.demo,demo-0-2.demo"
    assert env["TPU_WORKER_ID"] == "0"
    assert tpu_env(by_name(items, "Pod", "demo-0-2"))["TPU_WORKER_ID"] == "1"


def test_tpu_several_containers_get_distinct_ids_and_ports(render: Any) -> None:
    items = render(tpu_manifest(2, leader_tpus=True, containers=2))
    worker = by_name(items, "Pod", "demo-0-1")
    assert tpu_env(worker, 0)["TPU_WORKER_ID"] == "2"
    assert tpu_env(worker, 1)["TPU_WORKER_ID"] == "3"
    assert tpu_env(worker, 1)["TPU_PROCESS_PORT"] == "8477"
    assert tpu_env(worker, 0)["TPU_PROCESS_ADDRESSES"] == (
        "demo-0.demo:8476,demo-0.demo:8477,demo-0-1.demo:8476,demo-0-1.demo:8477"
    )


def test_tpu_subgroups_are_slices(render: Any) -> None:
    items = render(tpu_manifest(5, leader_tpus=False, sgs=2))
    # workers 1,2 form slice 0 and workers 3,4 slice 1; the leader is not a TPU worker
    w3 = tpu_env(by_name(items, "Pod", "demo-0-3"))
    assert w3["TPU_WORKER_HOSTNAMES"] == "demo-0-3.demo,demo-0-4.demo"
    assert w3["TPU_WORKER_ID"] == "0"
    assert tpu_env(by_name(items, "Pod", "demo-0-4"))["TPU_WORKER_ID"] == "1"


def test_render_is_deterministic(render: Any) -> None:
    first = json.dumps(render(manifest()), sort_keys=False)
    assert json.dumps(render(manifest()), sort_keys=False) == first


def test_revision_key_ignores_replicas_but_not_the_template(render: Any) -> None:
    def key(obj: dict[str, Any]) -> str:
        return by_name(render(obj), "StatefulSet", "demo")["metadata"]["labels"][REVISION]

    base = key(manifest(replicas=2))
    assert key(manifest(replicas=5)) == base
    changed = manifest(replicas=2)
    changed["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["image"] = "other"
    assert key(changed) != base
    assert key(manifest(replicas=2, size=4)) != base
