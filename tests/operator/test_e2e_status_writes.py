"""A LeaderWorkerSet's status has several writers (the set reconcile, group reconciles recording restarts, a
replica that led a moment ago): a status computed from a cached set is written only if the set is still
that version, so nothing another writer put there is lost (issue 10, bug 8)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from e2e_kit import condition, make_lws
from operator_harness import Private

from lws.api import constants as c
from lws.cluster.resources import LEADERWORKERSETS
from lws.sim.testing import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]

LWS_RESOURCE = f"{c.PLURAL}.{c.GROUP}"
AUDITED = "example.com/Audited"


def test_a_status_computed_from_a_stale_cache_does_not_overwrite_a_newer_write(private: Private) -> None:
    kube, ns, faults = private.kube, "default", private.cluster.faults
    operator = private.start_operator()
    kube.create(
        LEADERWORKERSETS,
        ns,
        make_lws("audit", replicas=2, size=2, leaderWorkerTemplate={"restartPolicy": "None"}),
    )
    available = kube.wait_available(ns, "audit")
    operator.settle(available["metadata"]["resourceVersion"])

    # The operator's view of the set freezes (its watch is down); meanwhile another writer adds a condition.
    gap = faults.inject_error(503, verbs=["list", "watch"], resources=[LWS_RESOURCE], times=None)
    faults.drop_watches()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    audited = {
        "type": AUDITED,
        "status": "True",
        "reason": "Audit",
        "message": "checked",
        "lastTransitionTime": now,
    }
    conditions = [*available["status"]["conditions"], audited]
    kube.patch(LEADERWORKERSETS, ns, "audit", {"status": {"conditions": conditions}}, subresource="status")

    # A worker crash-loops (restartPolicy None: no group recreation), so the set's status has news to
    # write: a group down for as long as it takes (a single restart's blip of readiness may fall between
    # two of the set's coalesced status writes).
    mark = operator.request_log.mark()
    private.cluster.faults.crash_loop(ns, "audit-1-1")
    wait_until(
        lambda: any(
            call.verb == "patch" and call.target == "leaderworkersets/status" and call.status == 200
            for call in operator.request_log.calls(since=mark)
        ),
        timeout=20,
        what="the operator to write the set's status",
    )
    private.cluster.faults.crash_loop(ns, "audit-1-1", enabled=False)
    faults.clear(gap.id)
    settled = kube.wait_available(ns, "audit", timeout=30)
    operator.settle(settled["metadata"]["resourceVersion"])

    found = condition(kube.lws(ns, "audit") or {}, AUDITED)
    assert found is not None and found["status"] == "True", "the other writer's condition survived"
