"""A LeaderWorkerSet's life: scale (kubectl scale and the scale subresource), per-group Services, volume
claims, and deletion through garbage collection alone."""

from __future__ import annotations

import pytest
from e2e_kit import Kube, labels, make_lws

from lws.api import constants as c
from lws.cluster.resources import CONTROLLER_REVISIONS, LEADERWORKERSETS, PODS, SERVICES, STATEFULSETS
from lws.sim.testing import wait_until

pytestmark = pytest.mark.e2e


def _live(objs: list[dict]) -> list[dict]:
    return [o for o in objs if not o["metadata"].get("deletionTimestamp")]


def _leader_indices(kube: Kube, ns: str, name: str) -> list[int]:
    pods = _live(kube.list(PODS, ns, f"{c.SET_NAME_LABEL}={name},{c.WORKER_INDEX_LABEL}=0"))
    return sorted(int(labels(p)[c.GROUP_INDEX_LABEL]) for p in pods)


def test_kubectl_scale_adds_and_removes_whole_groups(kube: Kube, ns: str) -> None:
    kube.create(LEADERWORKERSETS, ns, make_lws("scale", replicas=2, size=2))
    kube.wait_available(ns, "scale")

    kube.kubectl("scale", "-n", ns, "leaderworkerset/scale", "--replicas=4")
    kube.wait_available(ns, "scale")
    assert _leader_indices(kube, ns, "scale") == [0, 1, 2, 3]
    assert all(kube.get(STATEFULSETS, ns, f"scale-{i}") is not None for i in range(4))

    scale = kube.request("GET", LEADERWORKERSETS.path(ns, "scale", "scale"))
    assert scale["spec"]["replicas"] == 4 and scale["status"]["replicas"] == 4
    assert scale["status"]["selector"] == f"{c.SET_NAME_LABEL}=scale,{c.WORKER_INDEX_LABEL}=0", (
        "the HPA selects leaders"
    )

    kube.request(
        "PATCH",
        LEADERWORKERSETS.path(ns, "scale", "scale"),
        body={"spec": {"replicas": 1}},
        content_type="application/merge-patch+json",
    )
    kube.wait_available(ns, "scale")
    wait_until(lambda: _leader_indices(kube, ns, "scale") == [0], what="the highest groups to go")
    wait_until(
        lambda: (
            {p["metadata"]["name"] for p in _live(kube.list(PODS, ns, f"{c.SET_NAME_LABEL}=scale"))}
            == {"scale-0", "scale-0-1"}
        ),
        what="the removed groups' workers to be garbage-collected",
    )


def test_unique_per_replica_gives_each_group_its_own_service(kube: Kube, ns: str) -> None:
    kube.create(
        LEADERWORKERSETS,
        ns,
        make_lws("uniq", replicas=2, size=2, networkConfig={"subdomainPolicy": "UniquePerReplica"}),
    )
    kube.wait_available(ns, "uniq")
    kube.kubectl("scale", "-n", ns, "lws/uniq", "--replicas=3")
    kube.wait_available(ns, "uniq")
    wait_until(lambda: kube.get(SERVICES, ns, "uniq-2"), what="the new group's Service")
    assert kube.get(SERVICES, ns, "uniq") is None, "no shared Service with UniquePerReplica"
    for index in range(3):
        service = kube.get(SERVICES, ns, f"uniq-{index}")
        leader = kube.get(PODS, ns, f"uniq-{index}")
        assert service is not None and leader is not None
        assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
        assert service["spec"]["selector"] == {c.SET_NAME_LABEL: "uniq", c.GROUP_INDEX_LABEL: str(index)}
        owner = service["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "Pod",
            f"uniq-{index}",
            leader["metadata"]["uid"],
        )
        worker = kube.get(PODS, ns, f"uniq-{index}-1")
        assert worker is not None and worker["spec"]["subdomain"] == f"uniq-{index}"
        env = {e["name"]: e.get("value") for e in worker["spec"]["containers"][0]["env"]}
        assert env[c.LWS_LEADER_ADDRESS] == f"uniq-{index}.uniq-{index}.{ns}"


def test_volume_claim_templates_reach_leader_and_worker_statefulsets(kube: Kube, ns: str) -> None:
    claim = {
        "metadata": {"name": "cache", "labels": {"dropped": "yes"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    kube.create(
        LEADERWORKERSETS,
        ns,
        make_lws(
            "vol",
            replicas=1,
            size=2,
            leaderWorkerTemplate={
                "volumeClaimTemplates": [claim],
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
            },
        ),
    )
    wait_until(lambda: kube.get(STATEFULSETS, ns, "vol-0"), what="the worker StatefulSet")
    for name in ("vol", "vol-0"):
        sts = kube.get(STATEFULSETS, ns, name)
        assert sts is not None
        (template,) = sts["spec"]["volumeClaimTemplates"]
        assert template["metadata"]["name"] == "cache" and "labels" not in template["metadata"]
        assert template["spec"]["resources"]["requests"]["storage"] == "1Gi"
        assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {
            "whenDeleted": "Delete",
            "whenScaled": "Retain",
        }


def test_deleting_the_set_removes_everything_through_garbage_collection(kube: Kube, ns: str) -> None:
    kube.create(LEADERWORKERSETS, ns, make_lws("gone", replicas=2, size=3))
    stored = kube.wait_available(ns, "gone")
    assert not stored["metadata"].get("finalizers"), "no finalizers: deletion never waits for the operator"
    kopf_state = [k for k in stored["metadata"].get("annotations") or {} if "kopf" in k]
    assert not kopf_state, f"kopf keeps no progress state on the object: {kopf_state}"
    selector = f"{c.SET_NAME_LABEL}=gone"
    assert kube.list(CONTROLLER_REVISIONS, ns, selector)

    kube.delete(LEADERWORKERSETS, ns, "gone")

    def remaining() -> list[str]:
        return [
            f"{res.kind}/{o['metadata']['name']}"
            for res in (PODS, STATEFULSETS, SERVICES, CONTROLLER_REVISIONS)
            for o in kube.list(res, ns, selector)
        ]

    wait_until(
        lambda: kube.lws(ns, "gone") is None and not remaining(), timeout=20, what="every object to go"
    )
