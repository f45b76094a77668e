"""The StatefulSet controller against the in-process API server, scheduler and kubelets.

Expected behaviour is kube-controller-manager's (1.35, MaxUnavailableStatefulSet on); states are
recorded from every committed change, so invariants are checked over the whole history.
"""

from __future__ import annotations

from typing import Any

from controller_kit import (
    CLAIMS,
    PODS,
    REVISIONS,
    STATEFULSETS,
    VOLUMES,
    Objects,
    all_ready,
    is_ready,
    pods_of,
    running_cluster,
    statefulset,
    wait_for,
)

from lws.sim.apiserver import MERGE_PATCH, APIServer
from lws.sim.controllers.statefulset_plan import POD_INDEX_LABEL, POD_NAME_LABEL, REVISION_LABEL
from lws.sim.topology import NodeTiming

SLOW_READY = NodeTiming(start_delay=0.002, ready_delay=0.005)


async def set_status(api: APIServer, name: str, done: Any) -> dict[str, Any]:
    sets = await wait_for(
        api, STATEFULSETS, "default", lambda objs: name in objs and done(objs[name].get("status") or {})
    )
    return sets[name]


async def test_pods_carry_identity_owner_and_revision():
    async with running_cluster() as sim:
        created = await sim.api.create(STATEFULSETS, "default", statefulset("web", 3))
        objects = await wait_for(sim.api, PODS, "default", all_ready("web", 3), what="3 ready pods")
        sts = await set_status(sim.api, "web", lambda s: s.get("readyReplicas") == 3)
        status = sts["status"]
        assert status["replicas"] == status["availableReplicas"] == status["updatedReplicas"] == 3
        assert status["currentRevision"] == status["updateRevision"]
        assert status["observedGeneration"] == 1
        for ordinal, pod in pods_of(objects, "web").items():
            meta = pod["metadata"]
            assert meta["labels"][POD_NAME_LABEL] == f"web-{ordinal}"
            assert meta["labels"][POD_INDEX_LABEL] == str(ordinal)
            assert meta["labels"][REVISION_LABEL] == status["updateRevision"]
            assert pod["spec"]["hostname"] == f"web-{ordinal}"
            assert pod["spec"]["subdomain"] == "web"
            (owner,) = meta["ownerReferences"]
            assert owner["uid"] == created["metadata"]["uid"]
            assert owner["controller"] is True and owner["blockOwnerDeletion"] is True
        revisions = (await sim.api.list(REVISIONS, "default"))["items"]
        assert [r["metadata"]["name"] for r in revisions] == [status["updateRevision"]]
        assert revisions[0]["revision"] == 1


async def test_ordered_ready_creates_one_at_a_time_and_parallel_does_not():
    for policy, expect_ordered in (("OrderedReady", True), ("Parallel", False)):
        async with running_cluster(timing=SLOW_READY) as sim:
            history: list[tuple[int, bool]] = []

            def record(objects: Objects, history: list[tuple[int, bool]] = history) -> None:
                pods = pods_of(objects, "web")
                # each time a pod appears, note whether every lower ordinal was Ready then
                for ordinal in pods:
                    if ordinal not in {o for o, _ in history}:
                        history.append((ordinal, all(is_ready(pods[i]) for i in range(ordinal) if i in pods)))

            await sim.api.create(STATEFULSETS, "default", statefulset("web", 4, policy=policy))
            await wait_for(sim.api, PODS, "default", all_ready("web", 4), on_change=record)
            assert [o for o, _ in history] == [0, 1, 2, 3]
            if expect_ordered:
                assert all(ready for _, ready in history)
            else:
                assert not all(ready for _, ready in history[1:])


async def test_scale_down_removes_highest_ordinals_first_one_at_a_time():
    async with running_cluster(timing=SLOW_READY) as sim:
        await sim.api.create(STATEFULSETS, "default", statefulset("web", 5))
        await wait_for(sim.api, PODS, "default", all_ready("web", 5))
        terminating_at_once: list[int] = []
        gone: list[int] = []

        def record(objects: Objects) -> None:
            pods = pods_of(objects, "web")
            terminating_at_once.append(
                sum(1 for p in pods.values() if p["metadata"].get("deletionTimestamp"))
            )
            for ordinal in range(5):
                if ordinal not in pods and ordinal not in gone:
                    gone.append(ordinal)

        await sim.api.patch(STATEFULSETS, "default", "web", {"spec": {"replicas": 2}}, MERGE_PATCH)
        await wait_for(
            sim.api, PODS, "default", lambda objs: sorted(pods_of(objs, "web")) == [0, 1], on_change=record
        )
        assert gone == [4, 3, 2]
        assert max(terminating_at_once) == 1
        await set_status(sim.api, "web", lambda s: s.get("replicas") == 2 and s.get("readyReplicas") == 2)


async def test_deleted_and_failed_pods_are_recreated():
    async with running_cluster() as sim:
        await sim.api.create(STATEFULSETS, "default", statefulset("web", 3))
        before = await wait_for(sim.api, PODS, "default", all_ready("web", 3))
        old_uid = before["web-1"]["metadata"]["uid"]
        await sim.api.delete(PODS, "default", "web-1")
        after = await wait_for(
            sim.api,
            PODS,
            "default",
            lambda objs: all_ready("web", 3)(objs) and objs["web-1"]["metadata"]["uid"] != old_uid,
            what="web-1 recreated",
        )
        failed_uid = after["web-2"]["metadata"]["uid"]
        await sim.api.patch(
            PODS, "default", "web-2", {"status": {"phase": "Failed"}}, MERGE_PATCH, subresource="status"
        )
        await wait_for(
            sim.api,
            PODS,
            "default",
            lambda objs: all_ready("web", 3)(objs) and objs["web-2"]["metadata"]["uid"] != failed_uid,
            what="failed web-2 replaced",
        )


async def test_partitioned_rolling_update_of_100_pods_respects_max_unavailable():
    """Only ordinals >= partition change, highest first, and never more than maxUnavailable are down."""
    replicas, partition, max_unavailable = 100, 40, 7
    strategy = {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": partition, "maxUnavailable": max_unavailable},
    }
    async with running_cluster("gpu-small", timing=SLOW_READY) as sim:
        await sim.api.create(
            STATEFULSETS, "default", statefulset("big", replicas, policy="Parallel", strategy=strategy)
        )
        before = await wait_for(sim.api, PODS, "default", all_ready("big", replicas), timeout=30)
        old_uids = {o: p["metadata"]["uid"] for o, p in pods_of(before, "big").items()}
        sts = await set_status(sim.api, "big", lambda s: s.get("readyReplicas") == replicas)
        old_revision = sts["status"]["updateRevision"]

        worst = 0
        taken_down: list[int] = []

        def record(objects: Objects) -> None:
            nonlocal worst
            pods = pods_of(objects, "big")
            down = sum(
                1
                for o in range(replicas)
                if o not in pods or pods[o]["metadata"].get("deletionTimestamp") or not is_ready(pods[o])
            )
            worst = max(worst, down)
            for o in range(partition, replicas):
                leaving = o not in pods or pods[o]["metadata"].get("deletionTimestamp")
                if leaving and o not in taken_down:
                    taken_down.append(o)

        image = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:2"}]}}}}
        await sim.api.patch(STATEFULSETS, "default", "big", image, "application/strategic-merge-patch+json")
        after = await wait_for(
            sim.api,
            PODS,
            "default",
            lambda objs: (
                all_ready("big", replicas)(objs)
                and all(
                    p["metadata"]["labels"][REVISION_LABEL] != old_revision
                    for o, p in pods_of(objs, "big").items()
                    if o >= partition
                )
            ),
            on_change=record,
            timeout=60,
            what="ordinals >= partition updated",
        )
        assert 0 < worst <= max_unavailable
        pods = pods_of(after, "big")
        for ordinal in range(partition):
            assert pods[ordinal]["metadata"]["uid"] == old_uids[ordinal]
            assert pods[ordinal]["metadata"]["labels"][REVISION_LABEL] == old_revision
            assert pods[ordinal]["spec"]["containers"][0]["image"] == "nginx:1"
        for ordinal in range(partition, replicas):
            assert pods[ordinal]["spec"]["containers"][0]["image"] == "nginx:2"
        # highest ordinals were taken down first, in batches of at most maxUnavailable
        assert taken_down[:max_unavailable] == list(range(replicas - 1, replicas - 1 - max_unavailable, -1))
        assert sorted(taken_down) == list(range(partition, replicas))
        status = (
            await set_status(sim.api, "big", lambda s: s.get("updatedReplicas") == replicas - partition)
        )["status"]
        assert status["currentRevision"] == old_revision
        assert status["currentReplicas"] == partition
        # lowering the partition to 0 finishes the rollout and the update revision becomes current
        await sim.api.patch(
            STATEFULSETS,
            "default",
            "big",
            {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}},
            MERGE_PATCH,
        )
        done = await set_status(
            sim.api,
            "big",
            lambda s: s.get("updatedReplicas") == replicas and s.get("readyReplicas") == replicas,
        )
        assert done["status"]["currentRevision"] == done["status"]["updateRevision"] != old_revision


async def test_on_delete_updates_only_deleted_pods():
    async with running_cluster() as sim:
        await sim.api.create(STATEFULSETS, "default", statefulset("web", 2, strategy={"type": "OnDelete"}))
        before = await wait_for(sim.api, PODS, "default", all_ready("web", 2))
        image = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:2"}]}}}}
        await sim.api.patch(STATEFULSETS, "default", "web", image, "application/strategic-merge-patch+json")
        await set_status(sim.api, "web", lambda s: s.get("observedGeneration") == 2)
        unchanged = await wait_for(sim.api, PODS, "default", all_ready("web", 2))
        assert {n: p["metadata"]["uid"] for n, p in unchanged.items()} == {
            n: p["metadata"]["uid"] for n, p in before.items()
        }
        await sim.api.delete(PODS, "default", "web-0")
        after = await wait_for(
            sim.api,
            PODS,
            "default",
            lambda objs: (
                all_ready("web", 2)(objs) and objs["web-0"]["spec"]["containers"][0]["image"] == "nginx:2"
            ),
        )
        assert after["web-1"]["spec"]["containers"][0]["image"] == "nginx:1"


async def test_volume_claim_templates_and_retention_policy():
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    async with running_cluster() as sim:
        body = statefulset(
            "db",
            3,
            volumeClaimTemplates=[claim],
            persistentVolumeClaimRetentionPolicy={"whenDeleted": "Retain", "whenScaled": "Delete"},
        )
        await sim.api.create(STATEFULSETS, "default", body)
        pods = await wait_for(sim.api, PODS, "default", all_ready("db", 3))
        assert pods["db-1"]["spec"]["volumes"][0] == {
            "name": "data",
            "persistentVolumeClaim": {"claimName": "data-db-1"},
        }
        claims = await wait_for(
            sim.api,
            CLAIMS,
            "default",
            lambda objs: (
                len(objs) == 3 and all((c.get("status") or {}).get("phase") == "Bound" for c in objs.values())
            ),
            what="3 bound claims",
        )
        assert sorted(claims) == ["data-db-0", "data-db-1", "data-db-2"]
        assert claims["data-db-0"]["metadata"]["labels"] == {"app": "db"}
        assert claims["data-db-0"]["status"]["capacity"] == {"storage": "1Gi"}
        volume_name = claims["data-db-2"]["spec"]["volumeName"]
        volume = await sim.api.get(VOLUMES, None, volume_name)
        assert volume["spec"]["claimRef"]["name"] == "data-db-2"
        assert volume["status"]["phase"] == "Bound"
        # whenScaled=Delete: scaling down hands the claim to the pod, and the GC removes it with the pod
        await sim.api.patch(STATEFULSETS, "default", "db", {"spec": {"replicas": 2}}, MERGE_PATCH)
        remaining = await wait_for(
            sim.api, CLAIMS, "default", lambda objs: sorted(objs) == ["data-db-0", "data-db-1"]
        )
        assert "ownerReferences" not in remaining["data-db-0"]["metadata"]
        # the provisioned volume goes with its claim (reclaim policy Delete)
        await wait_for(sim.api, VOLUMES, None, lambda objs: volume_name not in objs and len(objs) == 2)


async def test_status_is_written_only_when_it_changes():
    async with running_cluster() as sim:
        await sim.api.create(STATEFULSETS, "default", statefulset("web", 2))
        await wait_for(sim.api, PODS, "default", all_ready("web", 2))
        settled = await set_status(sim.api, "web", lambda s: s.get("availableReplicas") == 2)
        writes: list[str] = []

        def listener(gr: Any, event: Any) -> None:
            if gr == ("apps", "statefulsets"):
                writes.append(event.type)

        sim.api.store.add_listener(listener)
        try:
            # events on its pods make the controller sync again; nothing changed, so nothing is written
            for name in ("web-0", "web-1"):
                await sim.api.patch(
                    PODS, "default", name, {"metadata": {"annotations": {"poke": "1"}}}, MERGE_PATCH
                )
            await sim.controllers.statefulsets.sync(("default", "web"))
            await sim.controllers.statefulsets.sync(("default", "web"))
        finally:
            sim.api.store.remove_listener(listener)
        assert writes == []
        current = await sim.api.get(STATEFULSETS, "default", "web")
        assert current["metadata"]["resourceVersion"] == settled["metadata"]["resourceVersion"]
