"""Chaos: LeaderWorkerSets in the middle of rolling updates while everything that can go wrong does.

For twenty seconds, on a schedule and with fault draws fixed by a seed (how they interleave with the
operator's work still varies with timing): the API server answers a share of the operator's requests
with 429, 500, 503 and 504 and delays others, its watches are dropped and their history compacted (so
the operator must relist), Lease requests fail, operator replicas are killed (as by ``kill -9``) and
started again, containers crash and a node fails; meanwhile every set is given a new template three
times. Then the faults stop, and every set must converge (Available, every group on the newest revision)
with exactly its own objects (none orphaned, duplicated or stale), no more groups down than each set's
``maxUnavailable`` (+ ``maxSurge``) allows at any committed state of its pods (groups downed by an
injected fault are the fault's, not the rollout's), and no traceback in the operator's log; deleting
every set then leaves nothing behind. The figures are printed (``pytest -s`` shows them).

What the embedded cluster cannot inject, and what stands in for it: a network partition between one
replica and the API server (its faults hit every client alike; ``tests/operator/test_e2e_leadership.py``
cuts one replica's Lease requests in its own transport instead), a slow or skewed clock, etcd
unavailability as such (5xx answers stand in), a kubelet that dies without its node going ``NotReady``,
and a process kill in the middle of a request's bytes (a kill here cancels the replica's tasks, which
closes its connections).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lws.api import constants as c
from lws.cluster.kube import connect
from lws.cluster.resources import (
    CONTROLLER_REVISIONS,
    LEADERWORKERSETS,
    PODS,
    SERVICES,
    STATEFULSETS,
    Resource,
)
from lws.controller.in_process import InProcessOperator
from lws.hooks.manager import PluginSelection, make_hooks
from lws.plugin_testing import settings_for_tests
from lws.sim.errors import APIError
from lws.sim.faults import FaultError
from lws.sim.runner import EmbeddedCluster
from lws.sim.testing import wait_until
from tests.chaos.chaos_kit import Budget, Replicas, RolloutObserver, Tracebacks
from tests.operator.e2e_kit import IMAGE, OTHER_IMAGE, Kube, KubeError, available, labels, make_lws

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only, pytest.mark.slow]

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
SEED = 20261205
NAMESPACE = "chaos"
CHAOS_SECONDS = 20.0
STEP = 0.5
#: An operator replica (the leader or the standby, by the seed's draw) is killed this often.
KILL_EVERY = 2.5
PODGROUPS = Resource("scheduling.volcano.sh", "v1beta1", "podgroups", "PodGroup", True)
SETS: dict[str, Budget] = {
    "alpha": Budget(replicas=4, size=2, max_unavailable=1, max_surge=0),
    "beta": Budget(replicas=3, size=3, max_unavailable=1, max_surge=1),
    "gamma": Budget(replicas=4, size=2, max_unavailable=2, max_surge=0),
    "delta": Budget(replicas=2, size=2, max_unavailable=1, max_surge=1),
}
T = TypeVar("T")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[EmbeddedCluster, Kube]]:
    sim = EmbeddedCluster(topology=HERE / "topology.yaml", bookmark_interval=0.2).start()
    kube = Kube(sim.write_kubeconfig(tmp_path / "kubeconfig"))
    try:
        kube.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        kube.kubectl(
            "apply", "--server-side", "-f", str(ROOT / "tests" / "plugins" / "data" / "podgroup-crds.yaml")
        )
        kube.create(
            Resource("", "v1", "namespaces", "Namespace", False), None, {"metadata": {"name": NAMESPACE}}
        )
        yield sim, kube
    finally:
        kube.close()
        sim.stop()


def _retrying(call: Callable[[], T], what: str) -> T:
    """The test's own writes while the API server fails on purpose: tried again on 429 and 5xx."""
    for _ in range(50):
        try:
            return call()
        except KubeError as exc:
            if exc.status != 429 and exc.status < 500:
                raise
    raise AssertionError(f"{what} kept failing")


def _roll(kube: Kube, name: str, round_: int) -> None:
    """A new template: the other image, and the round in an annotation (every round is a new revision)."""
    image = OTHER_IMAGE if round_ % 2 else IMAGE
    container = {
        "name": "app",
        "image": image,
        "env": [{"name": "APP_MODE", "value": "serve"}],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
    }
    patch = {
        "spec": {
            "leaderWorkerTemplate": {
                "workerTemplate": {
                    "metadata": {"annotations": {"chaos/round": str(round_)}},
                    "spec": {"containers": [container]},
                }
            }
        }
    }
    _retrying(lambda: kube.patch(LEADERWORKERSETS, NAMESPACE, name, patch), f"rolling {name}")


def _converged(kube: Kube, name: str) -> bool:
    obj = kube.lws(NAMESPACE, name)
    if obj is None or not available(obj):
        return False
    revisions = {labels(p).get(c.REVISION_KEY) for p in _live(kube.list(PODS, NAMESPACE, _selector(name)))}
    return len(revisions) == 1


def _problems(kube: Kube, name: str, budget: Budget) -> list[str]:
    """Everything that differs from exactly the objects of ``replicas`` groups, each owned by its live owner."""
    found: list[str] = []
    lws = kube.lws(NAMESPACE, name)
    assert lws is not None
    everything = {
        kind: kube.list(resource, NAMESPACE, _selector(name))
        for kind, resource in (
            ("Pod", PODS),
            ("StatefulSet", STATEFULSETS),
            ("Service", SERVICES),
            ("ControllerRevision", CONTROLLER_REVISIONS),
            ("PodGroup", PODGROUPS),
        )
    }
    uids = {o["metadata"]["uid"] for objs in everything.values() for o in objs} | {lws["metadata"]["uid"]}
    for kind, objs in everything.items():
        for obj in objs:
            if obj["metadata"].get("deletionTimestamp"):
                found.append(f"{kind} {obj['metadata']['name']} is still being deleted")
            for ref in obj["metadata"].get("ownerReferences") or []:
                if ref["uid"] not in uids and ref["kind"] in (c.KIND, "Pod", "StatefulSet"):
                    found.append(f"orphan: {kind} {obj['metadata']['name']} names a gone {ref['kind']}")
    pods = {p["metadata"]["name"]: p for p in everything["Pod"]}
    groups = range(budget.replicas)
    want_pods = {f"{name}-{i}" for i in groups} | {
        f"{name}-{i}-{j}" for i in groups for j in range(1, budget.size)
    }
    if set(pods) != want_pods:
        found.append(f"pods: extra {sorted(set(pods) - want_pods)}, missing {sorted(want_pods - set(pods))}")
    revisions = {labels(p).get(c.REVISION_KEY) for p in pods.values()}
    if len(revisions) != 1:
        found.append(f"pods on {len(revisions)} revisions: {sorted(map(str, revisions))}")
    revision = next(iter(revisions)) if len(revisions) == 1 else None
    statefulsets = {s["metadata"]["name"]: s for s in everything["StatefulSet"]}
    want_sts = {name} | {f"{name}-{i}" for i in groups}
    if set(statefulsets) != want_sts:
        found.append(f"statefulsets: {sorted(statefulsets)}, want {sorted(want_sts)}")
    for index in groups:
        workers, leader = statefulsets.get(f"{name}-{index}"), pods.get(f"{name}-{index}")
        if (
            workers
            and leader
            and workers["metadata"]["ownerReferences"][0]["uid"] != leader["metadata"]["uid"]
        ):
            found.append(f"worker statefulset {name}-{index} is not owned by the live leader")
    if sorted(s["metadata"]["name"] for s in everything["Service"]) != [name]:
        found.append(f"services: {[s['metadata']['name'] for s in everything['Service']]}")
    own = [
        r for r in everything["ControllerRevision"] if r["metadata"]["ownerReferences"][0]["kind"] == c.KIND
    ]
    if [labels(r).get(c.REVISION_KEY) for r in own] != [revision]:
        found.append(f"revisions: {[labels(r).get(c.REVISION_KEY) for r in own]}, want [{revision}]")
    pod_groups = {g["metadata"]["name"]: g for g in everything["PodGroup"]}
    want_groups = {f"{name}-{i}-{revision}" for i in groups}
    if set(pod_groups) != want_groups:
        found.append(f"podgroups: {sorted(pod_groups)}, want {sorted(want_groups)}")
    for index in groups:
        group, leader = pod_groups.get(f"{name}-{index}-{revision}"), pods.get(f"{name}-{index}")
        if group and leader and group["metadata"]["ownerReferences"][0]["uid"] != leader["metadata"]["uid"]:
            found.append(f"podgroup of group {index} is not owned by the live leader")
    return found


def test_sets_mid_rollout_converge_after_api_errors_dropped_watches_kills_crashes_and_a_node_failure(
    cluster: tuple[EmbeddedCluster, Kube], record_property: Callable[[str, object], None]
) -> None:
    sim, kube = cluster
    chance = random.Random(SEED)
    sim.api_faults.seed(SEED)
    tracebacks = Tracebacks()
    logging.getLogger().addHandler(tracebacks)
    hooks = make_hooks(PluginSelection(enable=("volcano",)))
    kubeconfig = str(kube.kubeconfig)

    def replica() -> InProcessOperator:
        settings = settings_for_tests(
            kubeconfig=kubeconfig, lease_duration=3.0, renew_deadline=2.0, retry_period=0.25
        )
        return InProcessOperator(settings, hooks, connect=connect)

    replicas = Replicas(2, replica)
    observer = RolloutObserver(sim, NAMESPACE, SETS)
    figures: dict[str, Any] = {"container crashes": 0, "watch drops": 0, "compactions": 0, "node failures": 0}
    try:
        replicas.start()
        for name, budget in SETS.items():
            strategy = {"maxUnavailable": budget.max_unavailable, "maxSurge": budget.max_surge}
            body = make_lws(
                name,
                replicas=budget.replicas,
                size=budget.size,
                rolloutStrategy={"type": "RollingUpdate", "rollingUpdateConfiguration": strategy},
            )
            kube.create(LEADERWORKERSETS, NAMESPACE, body)
        for name in SETS:
            kube.wait_available(NAMESPACE, name, timeout=60)
        observer.start()

        # --- chaos ------------------------------------------------------------------------------------
        writes = ["create", "update", "patch", "delete"]
        rules = [
            *(
                sim.faults.inject_error(code, verbs=writes, namespace=NAMESPACE, times=None, probability=0.03)
                for code in (429, 500, 503, 504)
            ),
            sim.faults.inject_error(500, verbs=["list"], times=None, probability=0.1),
            sim.faults.inject_error(503, verbs=["watch"], times=None, probability=0.05),
            sim.faults.inject_error(
                503, verbs=["get", "update"], resources=["leases"], times=None, probability=0.1
            ),
            sim.faults.inject_latency(0.05, times=None, probability=0.2),
        ]
        started = time.monotonic()
        failed_node: str | None = None
        rounds = 0
        for step in range(int(CHAOS_SECONDS / STEP)):
            at = step * STEP
            if step % int(8 / STEP) == 0:
                rounds += 1
                for name in SETS:
                    _roll(kube, name, rounds)
            if step % int(2 / STEP) == 1:
                sim.faults.drop_watches()
                figures["watch drops"] += 1
            if step % int(6 / STEP) == 3:
                sim.faults.compact()
                sim.faults.drop_watches()
                figures["compactions"] += 1
            if step % int(KILL_EVERY / STEP) == 2:
                replicas.kill(leader=chance.random() < 0.5) or replicas.kill(leader=True)
            if chance.random() < 0.4:
                _crash_a_container(sim, observer, chance, failed_node, figures)
            if failed_node is None and at >= CHAOS_SECONDS / 2:
                failed_node = _fail_a_node(sim, observer, figures)
            # Pacing the schedule (faults happen at their times), not waiting for anything to happen.
            time.sleep(max(0.0, started + at + STEP - time.monotonic()))

        # --- the faults stop ----------------------------------------------------------------------------
        figures["API faults"] = sum(rule.fired for rule in sim.faults.rules())
        sim.faults.clear()
        figures["by rule"] = [
            f"{rule.fired} x {rule.code or f'+{rule.latency:g}s'} on "
            f"{'/'.join(sorted(rule.verbs)) or 'any verb'}{' ' + '/'.join(sorted(rule.resources)) if rule.resources else ''}"
            for rule in rules
        ]
        if failed_node is not None:
            sim.faults.recover_node(failed_node)
        stopped = time.monotonic()
        replicas.wait_all_running(timeout=30)
        for name in SETS:
            try:
                wait_until(lambda n=name: _converged(kube, n), timeout=90, what=f"{name} to converge")
            except AssertionError:
                raise AssertionError(f"{name} did not converge: {_describe(kube, name)}") from None
        converged = time.monotonic() - stopped
        problems: dict[str, list[str]] = {}

        def consistent() -> bool:
            problems.clear()
            problems.update({n: p for n, b in SETS.items() if (p := _problems(kube, n, b))})
            return not problems

        try:
            wait_until(consistent, timeout=30, what="exactly each set's own objects")
        except AssertionError:
            raise AssertionError(f"objects left wrong after convergence: {problems}") from None

        # Deleting every set leaves nothing behind (garbage collection, helped by nothing made too late).
        observer.stop()  # the rollout budget no longer applies
        for name in SETS:
            kube.delete(LEADERWORKERSETS, NAMESPACE, name)
        try:
            wait_until(lambda: not _leftovers(kube), timeout=30, what="every object of the sets to go")
        except AssertionError:
            raise AssertionError(f"left after deleting every set: {_leftovers(kube)}") from None
    finally:
        observer.stop()
        replicas.stop()
        logging.getLogger().removeHandler(tracebacks)

    summary = (
        f"chaos (seed {SEED}, {CHAOS_SECONDS:g}s, {len(SETS)} sets, {rounds} rollouts each): "
        f"{figures['API faults']} API faults injected ({', '.join(figures['by rule'])}), "
        f"{figures['watch drops']} watch drops, {figures['compactions']} compactions, "
        f"{figures['container crashes']} container crashes, {figures['node failures']} node failure(s), "
        f"{replicas.kills} operator kills, {replicas.starts} operator starts "
        f"({len(replicas.failed_starts)} failed and retried); converged {converged:.1f}s after the faults "
        f"stopped; {observer.moments} pod states checked (least headroom over replicas - maxUnavailable: "
        f"{', '.join(f'{n} {r.least_headroom}' for n, r in observer.sets.items())}), "
        f"violations {len(observer.violations)}, "
        f"orphans 0, tracebacks {len(tracebacks.records)}, operator errors logged {tracebacks.errors}"
    )
    record_property("figures", summary)
    print(f"\n{summary}")
    assert not observer.violations, "\n".join(observer.violations[:10])
    assert not tracebacks.records, tracebacks.report()
    assert figures["container crashes"] > 0 and figures["node failures"] == 1 and replicas.kills > 0


def _crash_a_container(
    sim: EmbeddedCluster,
    observer: RolloutObserver,
    chance: random.Random,
    failed_node: str | None,
    figures: dict[str, Any],
) -> None:
    running = sorted(
        (
            p
            for p in observer.pods()
            if (p.get("status") or {}).get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")
            and p["spec"].get("nodeName") != failed_node
        ),
        key=lambda p: str(p["metadata"]["name"]),
    )
    if not running:
        return
    pod = chance.choice(running)
    name = str(pod["metadata"]["name"])
    group = observer.group_of(name)
    if group is None:
        return
    observer.excuse(group[0], [group[1]])
    try:
        sim.faults.restart_container(NAMESPACE, name)
    except FaultError:
        return  # it stopped running meanwhile
    except APIError:
        # The simulated kubelet's status write raced another writer; the container did restart, and the
        # kubelet reports it on its next write (the excuse stands either way).
        figures["container crashes"] += 1
        return
    figures["container crashes"] += 1


def _fail_a_node(sim: EmbeddedCluster, observer: RolloutObserver, figures: dict[str, Any]) -> str:
    """Fail the node running the most group pods, after excusing every group with a pod there."""
    by_node: dict[str, list[dict[str, Any]]] = {}
    for pod in observer.pods():
        node = pod["spec"].get("nodeName")
        if node:
            by_node.setdefault(str(node), []).append(pod)
    node, pods = max(sorted(by_node.items()), key=lambda item: len(item[1]))
    for pod in pods:
        group = observer.group_of(str(pod["metadata"]["name"]))
        if group is not None:
            observer.excuse(group[0], [group[1]])
    sim.faults.fail_node(node)
    figures["node failures"] += 1
    return node


def _describe(kube: Kube, name: str) -> str:
    """A set's status and its pods, for a failure message."""
    obj = kube.lws(NAMESPACE, name) or {}
    pods = [
        f"{p['metadata']['name']}:{labels(p).get(c.REVISION_KEY)}:{(p.get('status') or {}).get('phase')}"
        f"{':deleting' if p['metadata'].get('deletionTimestamp') else ''}"
        for p in kube.list(PODS, NAMESPACE, _selector(name))
    ]
    statefulsets = [
        f"{s['metadata']['name']}:{(s['spec'].get('updateStrategy') or {}).get('rollingUpdate')}:{s.get('status')}"
        f"{_deletion(s)}"
        for s in kube.list(STATEFULSETS, NAMESPACE, _selector(name))
    ]
    stuck = [
        f"{r.kind} {o['metadata']['name']}{_deletion(o)}"
        for r in (PODS, CONTROLLER_REVISIONS, PODGROUPS, SERVICES)
        for o in kube.list(r, NAMESPACE)
        if o["metadata"].get("deletionTimestamp")
    ]
    return (
        f"generation {obj.get('metadata', {}).get('generation')}, status {obj.get('status')}; pods {pods}; "
        f"statefulsets {statefulsets}; being deleted: {stuck}"
    )


def _deletion(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    if not meta.get("deletionTimestamp"):
        return ""
    owners = [f"{r['kind']}/{r['name']}" for r in meta.get("ownerReferences") or []]
    return (
        f" (deleting since {meta['deletionTimestamp']}, finalizers {meta.get('finalizers')}, owners {owners})"
    )


def _leftovers(kube: Kube) -> list[str]:
    """Objects in the namespace that belong to a LeaderWorkerSet (by label), of every kind the sets make."""
    return [
        f"{resource.kind} {obj['metadata']['name']}"
        for resource in (PODS, STATEFULSETS, SERVICES, CONTROLLER_REVISIONS, PODGROUPS)
        for obj in kube.list(resource, NAMESPACE, c.SET_NAME_LABEL)
    ]


def _selector(name: str) -> str:
    return f"{c.SET_NAME_LABEL}={name}"


def _live(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objs if not o["metadata"].get("deletionTimestamp")]
