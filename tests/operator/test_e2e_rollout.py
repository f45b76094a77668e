"""Rolling updates as upstream's users rely on them: bounded unavailability and surge, partition, resize."""

from __future__ import annotations

import pytest
from e2e_kit import OTHER_IMAGE, Kube, PodTimeline, available, labels, make_lws, rolled_out

from lws.api import constants as c
from lws.cluster.resources import CONTROLLER_REVISIONS, LEADERWORKERSETS, PODS, STATEFULSETS
from lws.sim.testing import wait_until

pytestmark = pytest.mark.e2e


def _revision_of(obj: dict) -> str:
    return str(labels(obj).get(c.REVISION_KEY, ""))


def _set_revisions(kube: Kube, ns: str, name: str) -> set[str]:
    """Keys of the set's own ControllerRevisions (the StatefulSet controller's carry the same labels)."""
    found = kube.list(CONTROLLER_REVISIONS, ns, f"{c.SET_NAME_LABEL}={name}")
    return {_revision_of(r) for r in found if r["metadata"]["ownerReferences"][0]["kind"] == c.KIND}


def _leaders(kube: Kube, ns: str, name: str) -> list[dict]:
    return kube.list(PODS, ns, f"{c.SET_NAME_LABEL}={name},{c.WORKER_INDEX_LABEL}=0")


def test_rollout_keeps_unavailable_and_surge_groups_within_bounds(kube: Kube, ns: str) -> None:
    replicas, max_unavailable, max_surge = 4, 1, 1
    lws = make_lws(
        "roll",
        replicas=replicas,
        size=2,
        rolloutStrategy={
            "type": "RollingUpdate",
            "rollingUpdateConfiguration": {"maxUnavailable": max_unavailable, "maxSurge": max_surge},
        },
    )
    kube.create(LEADERWORKERSETS, ns, lws)
    before = kube.wait_available(ns, "roll")
    old = {_revision_of(p) for p in _leaders(kube, ns, "roll")}

    with PodTimeline(kube, ns, "roll", size_of=lambda _revision: 2) as timeline:
        kube.patch(
            LEADERWORKERSETS,
            ns,
            "roll",
            {
                "spec": {
                    "leaderWorkerTemplate": {
                        "workerTemplate": {"spec": {"containers": [{"name": "app", "image": OTHER_IMAGE}]}}
                    }
                }
            },
        )
        # The counters alone can read replicas/updated/ready = 4/4/4 mid-rollout: they count the surge
        # group, and the leader StatefulSet gives it back while one old group is still being replaced.
        # Available=True at the new generation is what says every group below the surge is updated and
        # ready.
        kube.wait_lws(
            ns,
            "roll",
            lambda o: o["metadata"]["generation"] > before["metadata"]["generation"] and available(o),
            timeout=60,
            what="the rollout to finish",
        )
        new = {_revision_of(p) for p in _leaders(kube, ns, "roll")}

    assert len(new) == 1 and new.isdisjoint(old), f"every group on one new revision: {old} -> {new}"
    views = timeline.views
    assert len(views) > 10, "the watch saw the rollout"
    worst_ready = min(v.ready for v in views)
    most_groups = max(v.groups for v in views)
    assert worst_ready >= replicas - max_unavailable, f"at worst {worst_ready} groups were ready"
    assert most_groups <= replicas + max_surge, f"at most {most_groups} groups existed"
    assert most_groups == replicas + max_surge, "the surge group was used"
    assert any(v.ready == replicas - max_unavailable for v in views), (
        "the rollout used its unavailability budget"
    )
    wait_until(lambda: _set_revisions(kube, ns, "roll") == new, what="old revisions to be truncated")


def test_partition_holds_groups_below_it(kube: Kube, ns: str) -> None:
    lws = make_lws(
        "part",
        replicas=4,
        size=2,
        rolloutStrategy={"rollingUpdateConfiguration": {"maxUnavailable": 2, "partition": 2}},
    )
    kube.create(LEADERWORKERSETS, ns, lws)
    kube.wait_available(ns, "part")
    old = {_revision_of(p) for p in _leaders(kube, ns, "part")}
    kube.patch(
        LEADERWORKERSETS,
        ns,
        "part",
        {"spec": {"leaderWorkerTemplate": {"workerTemplate": {"metadata": {"annotations": {"build": "2"}}}}}},
    )
    kube.wait_lws(
        ns,
        "part",
        rolled_out(updated=2, ready=4),
        what="the groups at and above the partition to be updated",
    )
    by_index = {labels(p)[c.GROUP_INDEX_LABEL]: _revision_of(p) for p in _leaders(kube, ns, "part")}
    assert {by_index["0"], by_index["1"]} == old, "groups below the partition keep their revision"
    assert by_index["2"] == by_index["3"] and by_index["2"] not in old
    workers = kube.list(PODS, ns, f"{c.SET_NAME_LABEL}=part,{c.GROUP_INDEX_LABEL}=0,{c.WORKER_INDEX_LABEL}=1")
    assert [_revision_of(w) for w in workers] == [by_index["0"]], "old groups keep old workers too"

    kube.patch(
        LEADERWORKERSETS,
        ns,
        "part",
        {"spec": {"rolloutStrategy": {"rollingUpdateConfiguration": {"partition": 0}}}},
    )
    kube.wait_lws(
        ns,
        "part",
        lambda o: o["status"].get("updatedReplicas") == 4 and o["status"].get("readyReplicas") == 4,
        what="the rest of the groups to be updated once the partition is 0",
    )
    assert {_revision_of(p) for p in _leaders(kube, ns, "part")} == {by_index["2"]}


def test_size_change_rolls_every_group_to_the_new_size(kube: Kube, ns: str) -> None:
    kube.create(LEADERWORKERSETS, ns, make_lws("resize", replicas=3, size=2))
    kube.wait_available(ns, "resize")
    kube.patch(LEADERWORKERSETS, ns, "resize", {"spec": {"leaderWorkerTemplate": {"size": 3}}})
    kube.wait_lws(
        ns,
        "resize",
        rolled_out(updated=3, ready=3),
        timeout=60,
        what="every group to be rebuilt with size 3",
    )
    pods = [
        p
        for p in kube.list(PODS, ns, f"{c.SET_NAME_LABEL}=resize")
        if not p["metadata"].get("deletionTimestamp")
    ]
    assert len(pods) == 9
    for pod in pods:
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env[c.LWS_GROUP_SIZE] == "3", pod["metadata"]["name"]
    for index in range(3):
        sts = kube.get(STATEFULSETS, ns, f"resize-{index}")
        assert sts is not None and sts["spec"]["replicas"] == 2
