"""What the operator writes survives its own crash at any point: a group recreation is two writes (the
count in ``status.groupRestarts``, the deletion of the leader), and an operator killed between them neither
loses the count nor counts twice (issue 10, bug 8: the restart budget relies on that count)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2e_kit import make_lws
from operator_harness import Private
from replica_network import ReplicaNetwork

from lws.cluster.resources import LEADERWORKERSETS, PODS
from lws.sim.testing import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]


def _uid(obj: dict[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("uid") or "")


def test_a_group_recreation_cut_short_by_a_crash_is_finished_and_counted_once(private: Private) -> None:
    kube, ns = private.kube, "default"
    network = ReplicaNetwork()
    first = private.start_operator(connect_with=network.connect())
    kube.create(LEADERWORKERSETS, ns, make_lws("budget", replicas=1, size=2))
    kube.wait_available(ns, "budget")
    leader = kube.get(PODS, ns, "budget-0")

    delivered: list[str] = []

    def second_write_of_the_recreation(method: str, path: str, body: Any) -> bool:
        deletes_leader = method == "DELETE" and path.endswith("/pods/budget-0")
        counts = (
            method == "PATCH"
            and path.endswith("/leaderworkersets/budget/status")
            and "groupRestarts" in json.dumps(body or {})
        )
        if not (deletes_leader or counts):
            return False
        if not delivered:
            delivered.append(f"{method} {path}")
            return False
        return True  # the operator dies before this one reaches the API server

    network.blackhole(second_write_of_the_recreation)
    private.cluster.faults.restart_container(ns, "budget-0-1")
    wait_until(lambda: network.swallowed, what="the recreation's second write")
    first.stop(clean=False)

    second = private.start_operator()
    wait_until(
        lambda: _uid(kube.get(PODS, ns, "budget-0")) not in ("", _uid(leader)),
        timeout=30,
        what="the group to be recreated",
    )
    recovered = kube.wait_available(ns, "budget", timeout=30)
    second.settle(recovered["metadata"]["resourceVersion"])
    entries = (kube.lws(ns, "budget") or {}).get("status", {}).get("groupRestarts") or []
    assert [(e["index"], e["count"]) for e in entries] == [(0, 1)], (
        f"one recreation counted once (first write delivered: {delivered[0]}); status: {entries}"
    )
