"""The opt-in gang-scheduling plugins, ``volcano`` and ``coscheduling``, end to end: the operator started with
the plugin enabled and the scheduler's PodGroup CRD installed (``data/podgroup-crds.yaml``; the embedded
cluster runs neither scheduler).

One PodGroup per group, sized and owned as the plugin documents; every pod carries its PodGroup's name; pods
that name the gang scheduler stay Pending, as on a cluster where that scheduler is not running; and a group
recreation replaces its PodGroup, because the PodGroup is owned by the leader pod.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from lws.api import constants as c
from lws.cluster.resources import LEADERWORKERSETS, PODS, STATEFULSETS, Resource
from lws.hooks.manager import PluginSelection, make_hooks
from lws.sim.testing import wait_until
from tests.operator.e2e_kit import IMAGE, Obj, make_lws, pod_ready
from tests.plugins.plugin_cluster import GPU_RACKS, POD_GROUP_CRDS, PluginCluster, running


@dataclass(frozen=True)
class Gang:
    """What differs between the two plugins, as a user of each sees it."""

    plugin: str
    pod_groups: Resource
    scheduler: str
    #: The plugin's own settings on the LeaderWorkerSet, and what they become in the PodGroup's spec.
    settings: Mapping[str, str]
    spec_from_settings: Mapping[str, Any]
    #: Annotations copied from the LeaderWorkerSet onto each PodGroup.
    copied: Mapping[str, str]

    def pod_group_of(self, pod: Obj) -> str | None:
        meta = pod["metadata"]
        if self.plugin == "volcano":
            return (meta.get("annotations") or {}).get(c.POD_GROUP_NAME_ANNOTATION)
        return (meta.get("labels") or {}).get("scheduling.x-k8s.io/pod-group")


GANGS = {
    "volcano": Gang(
        plugin="volcano",
        pod_groups=Resource("scheduling.volcano.sh", "v1beta1", "podgroups", "PodGroup", True),
        scheduler="volcano",
        settings={c.VOLCANO_QUEUE_ANNOTATION: "research", "volcano.sh/sla-waiting-time": "1h"},
        spec_from_settings={"queue": "research"},
        copied={"volcano.sh/sla-waiting-time": "1h"},
    ),
    "coscheduling": Gang(
        plugin="coscheduling",
        pod_groups=Resource("scheduling.x-k8s.io", "v1alpha1", "podgroups", "PodGroup", True),
        scheduler="scheduler-plugins-scheduler",
        settings={"coscheduling.lws.x-k8s.io/schedule-timeout-seconds": "120"},
        spec_from_settings={"scheduleTimeoutSeconds": 120},
        copied={},
    ),
}

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=sorted(GANGS))
def gang_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[PluginCluster, Gang]]:
    gang = GANGS[request.param]
    hooks = make_hooks(PluginSelection(enable=(gang.plugin,)))
    with running(
        tmp_path_factory.mktemp(gang.plugin), topology=GPU_RACKS, hooks=hooks, crds=[POD_GROUP_CRDS]
    ) as env:
        yield env, gang


@pytest.fixture
def gang_ns(gang_cluster: tuple[PluginCluster, Gang]) -> Iterator[str]:
    with gang_cluster[0].namespace() as name:
        yield name


def gang_set(name: str, gang: Gang, *, replicas: int, size: int, scheduler: str | None, **spec: Any) -> Obj:
    """Leaders ask for 500m CPU and 1Gi, workers for 2 CPUs, 2Gi and 8 GPUs (a limit only)."""
    body = make_lws(name, replicas=replicas, size=size, annotations={**gang.settings}, **spec)
    template = body["spec"]["leaderWorkerTemplate"]
    leader = {"name": "leader", "image": IMAGE, "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}
    worker = {
        "name": "worker",
        "image": IMAGE,
        "resources": {"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"nvidia.com/gpu": "8"}},
    }
    template["leaderTemplate"] = {"spec": {"containers": [leader]}}
    template["workerTemplate"]["spec"] = {"containers": [worker]}
    if scheduler is not None:
        for part in ("leaderTemplate", "workerTemplate"):
            template[part]["spec"]["schedulerName"] = scheduler
    return body


def pod_groups(env: PluginCluster, gang: Gang, ns: str) -> dict[str, Obj]:
    return {g["metadata"]["name"]: g for g in env.kube.list(gang.pod_groups, ns)}


def test_each_group_gets_its_pod_group_and_waits_pending_for_the_gang_scheduler(
    gang_cluster: tuple[PluginCluster, Gang], gang_ns: str
) -> None:
    (env, gang), ns = gang_cluster, gang_ns
    env.kube.create(
        LEADERWORKERSETS, ns, gang_set("gang", gang, replicas=2, size=3, scheduler=gang.scheduler)
    )
    groups = wait_until(lambda: len(found := pod_groups(env, gang, ns)) == 2 and found, what="two PodGroups")
    pods = wait_until(lambda: len(found := env.pods(ns, "gang")) == 6 and found, what="six pods")

    for index in (0, 1):
        leader = next(p for p in pods if p["metadata"]["name"] == f"gang-{index}")
        revision = leader["metadata"]["labels"][c.REVISION_KEY]
        group = groups[f"gang-{index}-{revision}"]
        assert group["metadata"]["labels"] == {
            c.SET_NAME_LABEL: "gang",
            c.GROUP_INDEX_LABEL: str(index),
            c.REVISION_KEY: revision,
        }
        assert {k: v for k, v in (group["metadata"].get("annotations") or {}).items()} == gang.copied
        (owner,) = group["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "Pod",
            leader["metadata"]["name"],
            leader["metadata"]["uid"],
        )
        assert owner["controller"] is True and owner["blockOwnerDeletion"] is True
        assert group["spec"] == {
            "minMember": 3,
            # the leader's requests plus two workers', GPU limits counted as requests
            "minResources": {"cpu": "4500m", "memory": "5Gi", "nvidia.com/gpu": "16"},
            **gang.spec_from_settings,
        }
        members = [p for p in pods if p["metadata"]["labels"][c.GROUP_INDEX_LABEL] == str(index)]
        assert [gang.pod_group_of(p) for p in members] == [group["metadata"]["name"]] * 3

    # A pod for the default scheduler, created after the group pods: once it runs, the scheduler has seen
    # (and, since they name another scheduler, left alone) every group pod.
    canary = {"metadata": {"name": "canary"}, "spec": {"containers": [{"name": "c", "image": IMAGE}]}}
    env.kube.create(PODS, ns, canary)
    wait_until(lambda: pod_ready(env.kube.get(PODS, ns, "canary") or {}), what="the canary pod to run")
    for pod in env.pods(ns, "gang"):
        assert pod["spec"]["schedulerName"] == gang.scheduler
        assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName"), pod["metadata"][
            "name"
        ]
        assert not pod["status"].get("conditions"), "no scheduler has looked at it"


def test_with_leader_ready_the_gang_is_the_leader_alone(
    gang_cluster: tuple[PluginCluster, Gang], gang_ns: str
) -> None:
    """Workers exist only once the leader is Ready, so a gang of ``size`` could never be complete."""
    (env, gang), ns = gang_cluster, gang_ns
    body = gang_set("ready", gang, replicas=1, size=4, scheduler=gang.scheduler, startupPolicy="LeaderReady")
    env.kube.create(LEADERWORKERSETS, ns, body)
    (group,) = wait_until(lambda: list(pod_groups(env, gang, ns).values()), what="the PodGroup")
    assert group["spec"]["minMember"] == 1
    assert group["spec"]["minResources"] == {"cpu": "6500m", "memory": "7Gi", "nvidia.com/gpu": "24"}
    env.settle(group)
    assert [p["metadata"]["name"] for p in env.pods(ns, "ready")] == ["ready-0"]
    assert env.kube.get(STATEFULSETS, ns, "ready-0") is None, "no workers before the leader is Ready"


def test_a_recreated_group_gets_a_fresh_pod_group_owned_by_its_new_leader(
    gang_cluster: tuple[PluginCluster, Gang], gang_ns: str
) -> None:
    (env, gang), ns = gang_cluster, gang_ns
    # The default scheduler here, so the group runs and a container can fail.
    env.kube.create(LEADERWORKERSETS, ns, gang_set("redo", gang, replicas=1, size=2, scheduler=None))
    env.kube.wait_available(ns, "redo")
    (before,) = pod_groups(env, gang, ns).values()
    old_leader = env.kube.get(PODS, ns, "redo-0")
    assert old_leader is not None
    assert before["metadata"]["ownerReferences"][0]["uid"] == old_leader["metadata"]["uid"]

    env.cluster.faults.restart_container(ns, "redo-0-1")
    new_leader = wait_until(
        lambda: (
            (p := env.kube.get(PODS, ns, "redo-0"))
            and p["metadata"]["uid"] != old_leader["metadata"]["uid"]
            and p
        ),
        what="the group to be recreated",
    )

    def replaced() -> Obj | None:
        groups = list(pod_groups(env, gang, ns).values())
        if (
            len(groups) != 1
            or groups[0]["metadata"]["ownerReferences"][0]["uid"] != new_leader["metadata"]["uid"]
        ):
            return None
        return groups[0]

    after: Obj = wait_until(replaced, what="a PodGroup owned by the new leader")
    assert after["metadata"]["name"] == before["metadata"]["name"], "same group, same revision, same name"
    assert after["metadata"]["uid"] != before["metadata"]["uid"], (
        "a new object: the old one went with its leader"
    )
    env.kube.wait_available(ns, "redo")
    assert {gang.pod_group_of(p) for p in env.pods(ns, "redo")} == {after["metadata"]["name"]}


def test_a_pod_group_left_by_an_orphaning_delete_is_replaced_by_one_the_new_leader_owns(
    gang_cluster: tuple[PluginCluster, Gang], gang_ns: str
) -> None:
    """`kubectl delete pod --cascade=orphan` on a leader leaves its PodGroup, ownerless, under the name the
    new leader needs; the operator must not take that stale object for the new group's."""
    (env, gang), ns = gang_cluster, gang_ns
    env.kube.create(LEADERWORKERSETS, ns, gang_set("orphan", gang, replicas=1, size=2, scheduler=None))
    env.kube.wait_available(ns, "orphan")
    (before,) = pod_groups(env, gang, ns).values()
    old_leader = env.kube.get(PODS, ns, "orphan-0")
    assert old_leader is not None

    env.kube.delete(PODS, ns, "orphan-0", propagation="Orphan")
    new_leader = wait_until(
        lambda: (
            (p := env.kube.get(PODS, ns, "orphan-0"))
            and p["metadata"]["uid"] != old_leader["metadata"]["uid"]
            and p
        ),
        what="the leader StatefulSet to replace the leader",
    )

    def owned_by_new_leader() -> Obj | None:
        groups = list(pod_groups(env, gang, ns).values())
        owners = [ref["uid"] for g in groups for ref in g["metadata"].get("ownerReferences") or []]
        return groups[0] if len(groups) == 1 and owners == [new_leader["metadata"]["uid"]] else None

    after: Obj = wait_until(owned_by_new_leader, what="a PodGroup owned by the new leader")
    assert after["metadata"]["name"] == before["metadata"]["name"]
    assert after["metadata"]["uid"] != before["metadata"]["uid"], "the orphaned object was replaced"


def test_a_pod_group_deleted_out_of_band_is_created_again(
    gang_cluster: tuple[PluginCluster, Gang], gang_ns: str
) -> None:
    """What the operator creates is reconciled from a watch, never "created once" (issue 10, bug 5)."""
    (env, gang), ns = gang_cluster, gang_ns
    env.kube.create(LEADERWORKERSETS, ns, gang_set("drift", gang, replicas=1, size=2, scheduler=None))
    env.kube.wait_available(ns, "drift")
    (before,) = pod_groups(env, gang, ns).values()

    env.kube.delete(gang.pod_groups, ns, before["metadata"]["name"])

    def recreated() -> Obj | None:
        groups = list(pod_groups(env, gang, ns).values())
        fresh = len(groups) == 1 and groups[0]["metadata"]["uid"] != before["metadata"]["uid"]
        return groups[0] if fresh else None

    after: Obj = wait_until(recreated, timeout=15, what="the deleted PodGroup to be created again")
    assert after["metadata"]["name"] == before["metadata"]["name"]
    assert after["spec"] == before["spec"]
    assert after["metadata"]["ownerReferences"] == before["metadata"]["ownerReferences"]
