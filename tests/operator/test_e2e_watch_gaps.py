"""The operator's view of the cluster survives watch gaps and slow start-ups.

* A LeaderWorkerSet deleted while the operator's watch was down (a network gap, then a 410 on resume) is
  forgotten when the operator lists again: nothing is recreated for it and nothing is retried for ever
  (issue 10, bug 1: kopf's relist never reported such deletions).
* A restarted operator that wins the Lease before it has listed the LeaderWorkerSets still repairs every
  group: no worker reconciles before every cache it reads has listed (issue 10, bug 2).
"""

from __future__ import annotations

import asyncio

import pytest
from e2e_kit import Kube, make_lws
from operator_harness import Private

from lws.api import constants as c
from lws.cluster.resources import LEADERWORKERSETS, PODS, STATEFULSETS, Resource
from lws.controller.operator import Operator
from lws.sim.testing import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]

LWS_RESOURCE = f"{c.PLURAL}.{c.GROUP}"
HOLD = "example.com/hold"
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", False)


def _current_version(kube: Kube) -> str:
    """The cluster's newest resourceVersion (a list answers with it)."""
    return str(kube.request("GET", "/api/v1/namespaces")["metadata"]["resourceVersion"])


async def _resync(operator: Operator) -> None:
    operator.resync()


async def _statefulsets_settled(operator: Operator, version: str) -> None:
    """Until the StatefulSet cache has seen ``version`` and the operator has done what that asked for."""
    assert operator.deps is not None
    statefulsets = operator.deps.caches.statefulsets
    async with asyncio.timeout(15):
        while not statefulsets.has_seen(version) or operator.queue.busy():
            await asyncio.sleep(0.01)  # a condition poll: the cache and the queue have no change signal


def test_a_set_deleted_during_a_watch_gap_is_forgotten_after_the_relist(private: Private) -> None:
    kube, ns, faults = private.kube, "default", private.cluster.faults
    operator = private.start_operator()
    kube.create(LEADERWORKERSETS, ns, make_lws("gone", replicas=2, size=2))
    kube.wait_available(ns, "gone")

    # The operator loses its LeaderWorkerSet watch and cannot list or watch them again for a while.
    gap = faults.inject_error(503, verbs=["list", "watch"], resources=[LWS_RESOURCE], times=None)
    faults.drop_watches()
    kube.delete(LEADERWORKERSETS, ns, "gone")
    wait_until(
        lambda: not kube.list(STATEFULSETS, ns, f"{c.SET_NAME_LABEL}=gone"),
        timeout=30,
        what="garbage collection of the deleted set's StatefulSets",
    )
    deleted_at = _current_version(kube)
    # The watch history is compacted meanwhile: resuming answers 410 Gone, so the operator lists again.
    faults.compact(LWS_RESOURCE)
    faults.clear(gap.id)

    operator.settle(deleted_at, timeout=30)
    running = operator.running_operator
    assert running.deps is not None
    assert running.deps.caches.sets.get(ns, "gone") is None, "the relist forgot the deleted set"

    mark = operator.request_log.mark()
    operator.call(_resync(running))
    operator.settle(_current_version(kube))
    writes = [w for w in operator.request_log.writes(since=mark) if w.resource != "leases"]
    assert writes == [], f"writes for a set that no longer exists: {writes}"
    assert kube.list(STATEFULSETS, ns, f"{c.SET_NAME_LABEL}=gone") == [], "nothing was recreated for it"


def test_a_restarted_operator_that_leads_before_listing_the_sets_repairs_every_group(
    private: Private,
) -> None:
    kube, ns, faults = private.kube, "default", private.cluster.faults
    # The Lease's namespace exists, as in a cluster: the Lease is won at once, with no fallback round.
    kube.create(NAMESPACES, None, {"metadata": {"name": c.OPERATOR_NAMESPACE}})
    first = private.start_operator()
    kube.create(LEADERWORKERSETS, ns, make_lws("repair", replicas=3, size=2))
    kube.wait_available(ns, "repair")
    first.stop()

    # While no operator runs, a group loses its worker StatefulSet (and with it its workers).
    kube.delete(STATEFULSETS, ns, "repair-1")
    wait_until(lambda: kube.get(STATEFULSETS, ns, "repair-1") is None, what="the worker StatefulSet to go")
    # The next operator lists its LeaderWorkerSets slowly: it wins the Lease and lists pods long before.
    slow = faults.inject_latency(2.0, verbs=["list"], resources=[LWS_RESOURCE], times=1)
    second = private.start_operator()
    assert second.leading or wait_until(lambda: second.leading, what="the new replica to lead")
    wait_until(
        lambda: kube.get(STATEFULSETS, ns, "repair-1") is not None,
        timeout=20,
        what="the new operator to rebuild the missing worker StatefulSet (the resync is 600 s away)",
    )
    kube.wait_available(ns, "repair", timeout=30)
    faults.clear(slow.id)


def test_nothing_is_built_for_a_leader_whose_deletion_the_pod_cache_has_not_seen_yet(
    private: Private,
) -> None:
    """Separate watches: the StatefulSet cache may show a worker StatefulSet gone (foreground deletion
    removes a leader's dependents first) while the pod cache still shows its leader alive. A worker
    StatefulSet made then would belong to a leader that is going away and hold up its deletion."""
    kube, ns, faults = private.kube, "default", private.cluster.faults
    operator = private.start_operator()
    kube.create(LEADERWORKERSETS, ns, make_lws("late", replicas=1, size=2))
    kube.wait_available(ns, "late")
    # A finalizer of someone else's keeps the leader (and so its name) while it is being deleted.
    leader = kube.patch(PODS, ns, "late-0", {"metadata": {"finalizers": [HOLD]}})

    # The operator's pod watch goes quiet (it cannot list or watch pods) while the leader is deleted.
    quiet = faults.inject_error(503, verbs=["list", "watch"], resources=["pods"], times=None)
    faults.drop_watches()
    kube.delete(PODS, ns, "late-0", propagation="Foreground")
    wait_until(
        lambda: kube.get(STATEFULSETS, ns, "late-0") is None, what="the worker StatefulSet to go first"
    )
    mark = operator.request_log.mark()
    operator.call(_statefulsets_settled(operator.running_operator, _current_version(kube)))
    made = [c for c in operator.request_log.writes(since=mark) if c.resource == "statefulsets"]
    assert made == [], "no worker StatefulSet for a leader being deleted"
    assert kube.get(STATEFULSETS, ns, "late-0") is None

    faults.clear(quiet.id)
    kube.patch(PODS, ns, "late-0", {"metadata": {"finalizers": None}})
    wait_until(
        lambda: (
            (p := kube.get(PODS, ns, "late-0")) is not None
            and p["metadata"]["uid"] != leader["metadata"]["uid"]
        ),
        timeout=20,
        what="the old leader to go and a new one to come",
    )
    kube.wait_available(ns, "late", timeout=30)
