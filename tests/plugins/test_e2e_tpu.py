"""The tpu plugin on the shipped ``tpu`` topology (four v5e slices of four hosts, tainted ``google.com/tpu``):
every TPU pod of a group gets upstream's TPU environment naming the group's hosts, and the group fills one
slice when placed with upstream's exclusive topology on the node pool."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lws.api import constants as c
from lws.cluster.resources import LEADERWORKERSETS, NODES, STATEFULSETS
from lws.hooks.manager import make_hooks
from tests.operator.e2e_kit import IMAGE, Obj, make_lws
from tests.plugins.plugin_cluster import PluginCluster, env_map, running, worker_index

pytestmark = pytest.mark.e2e

SLICE = "cloud.google.com/gke-nodepool"
TOLERATE_TPU = [{"key": c.TPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]


@pytest.fixture(scope="module")
def tpu_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PluginCluster]:
    with running(tmp_path_factory.mktemp("tpu"), topology="tpu", hooks=make_hooks()) as env:
        yield env


@pytest.fixture
def tpu_ns(tpu_cluster: PluginCluster) -> Iterator[str]:
    with tpu_cluster.namespace() as name:
        yield name


def tpu_container(name: str, chips: int) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": IMAGE}
    if chips:
        container["resources"] = {"limits": {c.TPU_RESOURCE: str(chips)}}
    return container


def slice_set(name: str, *, size: int, leader_chips: int) -> Obj:
    """Workers take a whole host (4 chips); one group per slice (upstream's exclusive placement)."""
    body = make_lws(name, replicas=2, size=size, annotations={c.EXCLUSIVE_KEY_ANNOTATION: SLICE})
    template = body["spec"]["leaderWorkerTemplate"]
    template["workerTemplate"]["spec"] = {
        "tolerations": TOLERATE_TPU,
        "containers": [tpu_container("tpu", 4)],
    }
    template["leaderTemplate"] = {
        "spec": {"tolerations": TOLERATE_TPU, "containers": [tpu_container("leader", leader_chips)]}
    }
    return body


def assert_tpu_env(pod: Obj, hosts: list[str], *, name: str) -> None:
    """Upstream's TPU environment on a pod whose whole group holds TPUs: every host of the group in worker
    order, the pod's own worker id, the group's name and the process addresses on upstream's port."""
    tpu = env_map(pod["spec"]["containers"][0])
    assert tpu[c.TPU_WORKER_HOSTNAMES] == ",".join(hosts)
    assert tpu[c.TPU_WORKER_ID] == str(worker_index(pod))
    assert tpu[c.TPU_NAME] == name
    assert tpu[c.TPU_PROCESS_ADDRESSES] == ",".join(f"{h}:8476" for h in hosts)
    assert tpu[c.TPU_PROCESS_PORT] == "8476"


def slices_of(env: PluginCluster, pods: list[Obj]) -> set[str]:
    slices = {n["metadata"]["name"]: n["metadata"]["labels"][SLICE] for n in env.kube.list(NODES, None)}
    return {slices[p["spec"]["nodeName"]] for p in pods}


def test_every_tpu_pod_of_a_group_knows_the_groups_hosts_and_its_own_id(
    tpu_cluster: PluginCluster, tpu_ns: str
) -> None:
    env, ns = tpu_cluster, tpu_ns
    env.kube.create(LEADERWORKERSETS, ns, slice_set("slice", size=4, leader_chips=4))
    env.kube.wait_available(ns, "slice")

    groups = [
        [p for p in env.pods(ns, "slice") if p["metadata"]["name"].startswith(f"slice-{i}")] for i in (0, 1)
    ]
    for i, pods in enumerate(groups):
        hosts = [f"slice-{i}.slice", *(f"slice-{i}-{k}.slice" for k in (1, 2, 3))]
        assert len(slices_of(env, pods)) == 1, f"group {i} fills one slice"
        for pod in pods:
            assert_tpu_env(pod, hosts, name=f"slice-{i}")
    assert slices_of(env, groups[0]) != slices_of(env, groups[1]), "one slice per group"
    workers = env.kube.get(STATEFULSETS, ns, "slice-0")
    assert workers is not None
    annotations = workers["spec"]["template"]["metadata"]["annotations"]
    assert annotations[c.LEADER_REQUESTS_TPUS_ANNOTATION] == "true", "read from the live leader pod"


def test_a_leader_without_tpus_is_left_out_of_the_slice_and_worker_ids_start_at_zero(
    tpu_cluster: PluginCluster, tpu_ns: str
) -> None:
    env, ns = tpu_cluster, tpu_ns
    env.kube.create(LEADERWORKERSETS, ns, slice_set("coord", size=5, leader_chips=0))
    env.kube.wait_available(ns, "coord")

    leader, *workers = [p for p in env.pods(ns, "coord") if p["metadata"]["name"].startswith("coord-0")]
    assert not any(k.startswith("TPU_") for k in env_map(leader["spec"]["containers"][0])), "no TPU env"
    hosts = [f"coord-0-{k}.coord" for k in (1, 2, 3, 4)]
    assert len(slices_of(env, workers)) == 1, "the four TPU workers fill one slice"
    for worker in workers:
        tpu = env_map(worker["spec"]["containers"][0])
        assert tpu[c.TPU_WORKER_HOSTNAMES] == ",".join(hosts)
        assert tpu[c.TPU_WORKER_ID] == str(worker_index(worker) - 1)
        assert tpu[c.TPU_NAME] == "coord-0"
    sts = env.kube.get(STATEFULSETS, ns, "coord-0")
    assert sts is not None
    assert c.LEADER_REQUESTS_TPUS_ANNOTATION not in (
        sts["spec"]["template"]["metadata"].get("annotations") or {}
    )


def test_a_hash_group_lists_its_pods_by_the_names_they_resolve_at(
    tpu_cluster: PluginCluster, tpu_ns: str
) -> None:
    # groupIdentity Hash: no group ordinal, and the Deployment's leader pod asks for a generated name that
    # admission sees empty. Admission names the leader after its host name "<lws>-<8 characters of the
    # key>", so the leader's TPU environment (written at its admission) lists the very names its worker
    # StatefulSet gives the workers, and every host listed is one a pod of the group answers at.
    env, ns = tpu_cluster, tpu_ns
    body = slice_set("hashtpu", size=4, leader_chips=4)
    body["spec"]["groupIdentity"] = "Hash"
    env.kube.create(LEADERWORKERSETS, ns, body)
    env.kube.wait_available(ns, "hashtpu")

    pods = [p for p in env.pods(ns, "hashtpu") if not p["metadata"].get("deletionTimestamp")]
    keys = {p["metadata"]["labels"][c.GROUP_INDEX_LABEL] for p in pods}
    assert len(keys) == 2 and len(pods) == 8
    for key in keys:
        group = sorted(
            (p for p in pods if p["metadata"]["labels"][c.GROUP_INDEX_LABEL] == key), key=worker_index
        )
        leader = group[0]
        assert leader["metadata"]["name"] == leader["spec"]["hostname"] == f"hashtpu-{key[:8]}"
        # The names the pods answer at: <hostname>.<subdomain>, in worker order.
        hosts = [f"{p['spec']['hostname']}.{p['spec']['subdomain']}" for p in group]
        assert hosts == [f"hashtpu-{key[:8]}.hashtpu", *(f"hashtpu-{key[:8]}-{k}.hashtpu" for k in (1, 2, 3))]
        assert len(slices_of(env, group)) == 1, "a Hash group fills one slice too"
        for pod in group:
            assert_tpu_env(pod, hosts, name=f"hashtpu-{key[:8]}")
