"""What the operator costs the API server: it watches only its own objects, a converged set costs no
writes, and a rollout costs writes per group, not per pod. Measured through the operator's request log."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

import pytest
import yaml
from e2e_kit import Kube, make_lws, namespace_scope, rolled_out
from operator_harness import E2E

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.api.model import LeaderWorkerSet
from lws.cluster.client import ApiCall
from lws.cluster.resources import CONTROLLER_REVISIONS, LEADERWORKERSETS, PODS, STATEFULSETS
from lws.controller.context import reconciling
from lws.controller.deps import BY_REVISION
from lws.controller.group_reconciler import _record
from lws.controller.operator import Operator
from lws.core.routing import Key

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]


def _reconcile_writes(calls: list[ApiCall]) -> list[ApiCall]:
    """Writes made by reconciles: not the Lease heartbeat, not events (counted apart)."""
    return [call for call in calls if call.is_write and call.resource not in ("leases", "events")]


def _tally(calls: list[ApiCall]) -> dict[str, int]:
    return dict(sorted(Counter(f"{call.verb} {call.target}" for call in calls).items()))


def test_unrelated_pods_never_reach_the_operator(e2e: E2E, kube: Kube) -> None:
    operator = e2e.require_operator()
    deps = operator.running_operator.deps
    assert deps is not None
    pods = deps.caches.pods
    seen: list[str] = []
    operator.call(_add_handler(pods, lambda _kind, obj, _old: seen.append(obj["metadata"]["name"])))
    for other in namespace_scope(kube):
        for i in range(500):
            kube.create(
                PODS,
                other,
                {
                    "metadata": {"name": f"unrelated-{i}", "labels": {"app": "unrelated"}},
                    # Gated, so the cluster's scheduler and kubelets leave them alone: only their events count.
                    "spec": {
                        "schedulingGates": [{"name": "e2e"}],
                        "containers": [{"name": "c", "image": "x"}],
                    },
                },
            )
        # One pod that is ours, created last: once the operator has seen it, it has seen everything before.
        marker = kube.create(
            PODS,
            other,
            {
                "metadata": {
                    "name": "marker-0",
                    "labels": {c.SET_NAME_LABEL: "marker", c.WORKER_INDEX_LABEL: "0"},
                    "annotations": {c.SIZE_ANNOTATION: "1"},
                },
                "spec": {"schedulingGates": [{"name": "e2e"}], "containers": [{"name": "c", "image": "x"}]},
            },
        )
        operator.settle(marker["metadata"]["resourceVersion"])
        assert set(seen) == {"marker-0"}, "only the labelled pod reached the handlers"
        assert pods.get(other, "unrelated-0") is None and pods.get(other, "marker-0") is not None

    # What a DisaggregatedSet owns besides LeaderWorkerSets (its Services, its RoleScalers) carries its name.
    selectors = {c.SET_NAME_LABEL, d.SET_NAME_LABEL}
    unfiltered = [
        call
        for call in operator.request_log.calls()
        if call.verb in ("list", "watch")
        and (call.label_selector or "").split(",")[0] not in selectors
        # The operator's configuration object, one by name.
        and call.field_selector != "metadata.name=cluster"
    ]
    # Whole on purpose: LeaderWorkerSets and DisaggregatedSets are all ours, and Nodes are cluster facts
    # (labels only are kept).
    assert {call.resource for call in unfiltered} <= {c.PLURAL, d.PLURAL, "nodes"}, (
        f"lists/watches without the {c.SET_NAME_LABEL} or {d.SET_NAME_LABEL} selector: {unfiltered}"
    )


def test_a_converged_set_costs_no_writes(e2e: E2E, kube: Kube, ns: str) -> None:
    operator = e2e.require_operator()
    manifest = make_lws("quiet", replicas=3, size=2)
    kube.kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(manifest))
    settled = kube.wait_available(ns, "quiet")
    operator.settle(settled["metadata"]["resourceVersion"])
    mark = operator.request_log.mark()

    # A full resync, as after a leadership change or the periodic safety net.
    operator.call(_resync(operator.running_operator))
    # The same manifest applied again, as CI pipelines do.
    applied = kube.kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(manifest))
    assert "unchanged" in applied.stdout
    last = kube.lws(ns, "quiet")
    assert last is not None
    operator.settle(last["metadata"]["resourceVersion"])
    writes = _reconcile_writes(operator.request_log.calls(since=mark))
    print(f"\nconverged 3-group set, resync + identical re-apply: writes {_tally(writes)}")
    assert writes == [], f"no-op reconciles wrote: {_tally(writes)}"

    # A label on the set is propagated to the leader StatefulSet's own labels (upstream #896): one write.
    mark = operator.request_log.mark()
    labelled = kube.patch(LEADERWORKERSETS, ns, "quiet", {"metadata": {"labels": {"team": "a"}}})
    operator.settle(labelled["metadata"]["resourceVersion"])
    writes = _reconcile_writes(operator.request_log.calls(since=mark))
    print(f"label change: writes {_tally(writes)}")
    assert _tally(writes) == {"apply statefulsets": 1}

    # A group's leader pod and worker StatefulSet change in what status does not count (an annotation):
    # the set and the group are looked at again from the watch events, and nothing is written.
    mark = operator.request_log.mark()
    kube.patch(PODS, ns, "quiet-1", {"metadata": {"annotations": {"touched": "1"}}})
    touched = kube.patch(STATEFULSETS, ns, "quiet-1", {"metadata": {"annotations": {"touched": "1"}}})
    operator.settle(touched["metadata"]["resourceVersion"])
    writes = _reconcile_writes(operator.request_log.calls(since=mark))
    print(f"group objects annotated: writes {_tally(writes)}")
    assert writes == [], f"a change status does not count wrote: {_tally(writes)}"


def test_groups_that_restart_together_record_their_restarts_in_shared_writes(
    e2e: E2E, kube: Kube, ns: str
) -> None:
    """Each recreation writes its count to the set's status before it deletes the leader. Groups that fail
    at once used to patch that status each with the version they had read: all but one conflicted, read the
    set again and retried, and the leaders' teardown waited on those round trips. Changes that wait for one
    another now go out together, and none conflicts."""
    operator = e2e.require_operator()
    kube.create(LEADERWORKERSETS, ns, make_lws("together", replicas=6, size=2))
    settled = kube.wait_available(ns, "together")
    operator.settle(settled["metadata"]["resourceVersion"])
    mark = operator.request_log.mark()
    operator.call(_record_together(operator.running_operator, ns, "together", 6))
    status_writes = [
        call.status
        for call in operator.request_log.calls(since=mark)
        if call.target == "leaderworkersets/status" and call.verb == "patch"
    ]
    # The first change goes out alone (nothing waited yet); the five that came meanwhile, in one write.
    assert status_writes == [200, 200], status_writes
    entries = kube.get(LEADERWORKERSETS, ns, "together")["status"]["groupRestarts"]
    assert sorted(e["index"] for e in entries if e.get("message") == "recorded together") == list(range(6))


async def _record_together(operator: Operator, ns: str, name: str, groups: int) -> None:
    deps = operator.deps
    assert deps is not None
    cached = deps.caches.sets.get(ns, name)
    assert cached is not None
    lws = LeaderWorkerSet(cached)  # every group read the same version, as reconciles running at once do
    with reconciling(
        Key("group", ns, name),
        clock=deps.clock,
        telemetry=deps.telemetry,
        logger=logging.getLogger(__name__),
        attributes={},
    ) as ctx:
        await asyncio.gather(
            *(_record(deps, ctx, lws, i, message="recorded together") for i in range(groups))
        )


async def _add_handler(informer: object, handler: object) -> None:
    informer.handlers.append(handler)  # type: ignore[attr-defined]


async def _resync(operator: Operator) -> None:
    operator.resync()


@pytest.mark.parametrize(("groups", "size"), [(3, 2), (3, 6), (6, 2)])
def test_a_rollout_costs_writes_per_group_not_per_pod(
    e2e: E2E, kube: Kube, ns: str, groups: int, size: int
) -> None:
    operator = e2e.require_operator()
    kube.create(LEADERWORKERSETS, ns, make_lws("cost", replicas=groups, size=size))
    kube.wait_available(ns, "cost")
    mark = operator.request_log.mark()
    kube.patch(
        LEADERWORKERSETS,
        ns,
        "cost",
        {"spec": {"leaderWorkerTemplate": {"workerTemplate": {"metadata": {"annotations": {"build": "2"}}}}}},
    )
    done = kube.wait_lws(
        ns,
        "cost",
        lambda o: (
            rolled_out(updated=groups, ready=groups)(o)
            and any(
                cd["type"] == c.CONDITION_AVAILABLE and cd["status"] == "True"
                for cd in o["status"]["conditions"]
            )
        ),
        timeout=60,
        what="the rollout",
    )
    operator.settle(done["metadata"]["resourceVersion"])
    writes = _reconcile_writes(operator.request_log.calls(since=mark))
    tally = _tally(writes)
    print(f"\nrollout of {groups} groups x {size} pods: {len(writes)} writes {tally}")
    assert not any(w.resource == "pods" for w in writes), "a rollout never writes pods"
    assert tally.get("create statefulsets") == groups, "one worker StatefulSet per group"
    # Status follows each group through down, updated and ready: a few writes per group, whatever its size.
    assert tally.get("patch leaderworkersets/status", 0) <= 5 * groups + 2, "status is written per group step"
    assert len(writes) <= 8 * groups + 5, "writes grow with groups, not with pods"


def test_a_new_set_converges_with_the_writes_it_needs_and_few_more(e2e: E2E, kube: Kube, ns: str) -> None:
    """Issue 11: per group, one worker StatefulSet; per set, a Service, the leader StatefulSet, a revision,
    a handful of events (aggregated, not one per group) and its status at most once per interval."""
    operator = e2e.require_operator()
    groups = 30
    mark = operator.request_log.mark()
    started = time.monotonic()
    kube.create(LEADERWORKERSETS, ns, make_lws("many", replicas=groups, size=2))
    done = kube.wait_available(ns, "many", timeout=60)
    elapsed = time.monotonic() - started
    operator.settle(done["metadata"]["resourceVersion"])
    operator.call(operator.running_operator.deps.recorder.drain())  # events still queued count too
    writes = [call for call in operator.request_log.writes(since=mark) if call.namespace == ns]
    tally = _tally(writes)
    print(f"\n{groups} groups x 2 to Available in {elapsed:.1f}s: {len(writes)} writes {tally}")
    statuses = tally.pop("patch leaderworkersets/status")
    events = tally.pop("create events") + tally.pop("patch events", 0)
    assert tally == {
        "create statefulsets": groups,
        "apply statefulsets": 1,
        "create services": 1,
        "create controllerrevisions": 1,
    }
    # CreatingRevision, the leader and the worker StatefulSets (the first and the rest combined, with its
    # count), the Progressing and Available conditions: about as many events for 30 groups as for one.
    assert events <= 8, f"{events} events: aggregated per set, reason and related kind"
    # Counts are written at most once per status_interval; conditions (Progressing, Available) at once.
    interval = e2e.require_operator().settings.status_interval
    assert statuses <= elapsed / interval + 4, f"{statuses} status writes in {elapsed:.1f}s: one per interval"
    # A first build reads nothing: its leader is read only when something is built for it again.
    reads = [
        call
        for call in operator.request_log.calls(since=mark)
        if call.namespace == ns and call.verb == "get" and call.resource == "pods"
    ]
    assert reads == [], f"{len(reads)} leaders read before their first build"


def test_the_statefulset_controllers_revisions_never_reach_the_cache(e2e: E2E, kube: Kube, ns: str) -> None:
    """A group's revision is found by set and key; the StatefulSet controller's revisions of each worker
    StatefulSet (they carry the set's label, copied from the template) are left out by the server."""
    operator = e2e.require_operator()
    kube.create(LEADERWORKERSETS, ns, make_lws("revs", replicas=3, size=2))
    done = kube.wait_available(ns, "revs")
    operator.settle(done["metadata"]["resourceVersion"])
    in_cluster = kube.list(CONTROLLER_REVISIONS, ns, f"{c.SET_NAME_LABEL}=revs")
    assert len(in_cluster) >= 1 + 3 + 1, "the set's own, one per worker StatefulSet, the leader's"
    deps = operator.running_operator.deps
    assert deps is not None
    cached = [r for r in deps.caches.revisions.items() if r["metadata"]["namespace"] == ns]
    assert [r["metadata"]["ownerReferences"][0]["kind"] for r in cached] == [c.KIND]
    key = cached[0]["metadata"]["labels"][c.REVISION_KEY]
    assert deps.caches.revisions.by_index(BY_REVISION, f"{ns}/revs/{key}") == cached
