"""What the operator costs the API server: it watches only its own objects, a converged set costs no
writes, and a rollout costs writes per group, not per pod. Measured through the operator's request log."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml
from e2e_kit import Kube, make_lws, namespace_scope, rolled_out
from operator_harness import E2E

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.cluster.client import ApiCall
from lws.cluster.resources import LEADERWORKERSETS, PODS
from lws.controller.operator import Operator

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
        and call.label_selector not in selectors
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
