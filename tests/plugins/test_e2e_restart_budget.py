"""The restart_budget plugin among several groups: once one group has used up its budget, the LeaderWorkerSet
says which group failed (``status.groupRestarts``, a ``GroupFailed`` event) and leaves the others alone.

The backoff between recreations, live setting changes and the single-group case are proven in
``tests/operator/test_e2e_restart.py``.
"""

from __future__ import annotations

import json

import pytest

from lws.api import constants as c
from lws.cluster.resources import LEADERWORKERSETS, PODS
from lws.sim.testing import wait_until
from tests.operator.e2e_kit import Obj, make_lws, pod_ready
from tests.plugins.plugin_cluster import PluginCluster

pytestmark = pytest.mark.e2e


def _uids(env: PluginCluster, ns: str) -> dict[str, str]:
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in env.pods(ns, "budget")}


def _group_restarts(env: PluginCluster, ns: str) -> list[Obj]:
    return list(((env.kube.lws(ns, "budget") or {}).get("status") or {}).get("groupRestarts") or [])


def test_the_set_names_the_group_that_used_up_its_budget_and_leaves_the_others_alone(
    default_plugins: PluginCluster, ns: str
) -> None:
    env = default_plugins
    budget = {"restart.lws.x-k8s.io/max-group-restarts": "1", "restart.lws.x-k8s.io/backoff-seconds": "0"}
    env.kube.create(LEADERWORKERSETS, ns, make_lws("budget", replicas=3, size=2, annotations=budget))
    env.kube.wait_available(ns, "budget")
    first = _uids(env, ns)

    # The first failure of group 1 is within the budget: the group is recreated.
    env.cluster.faults.restart_container(ns, "budget-1-1")
    wait_until(
        lambda: _uids(env, ns).get("budget-1") not in (None, first["budget-1"]), what="group 1 recreated"
    )
    env.kube.wait_available(ns, "budget")
    wait_until(lambda: pod_ready(env.kube.get(PODS, ns, "budget-1-1") or {}), what="group 1's new worker")
    second = _uids(env, ns)

    # The second is not: group 1 is marked failed and left as it is for inspection.
    env.cluster.faults.restart_container(ns, "budget-1-1")
    (entry,) = wait_until(
        lambda: [e for e in _group_restarts(env, ns) if e.get("state") == "Failed"], what="a failed group"
    )
    assert (entry["index"], entry["count"]) == (1, 1)
    assert entry["message"].startswith(
        f"group 1 of LeaderWorkerSet {ns}/budget was recreated 1 time, the limit set by "
        "restart.lws.x-k8s.io/max-group-restarts=1; it is left as it is for inspection."
    ), entry["message"]
    assert [e["index"] for e in _group_restarts(env, ns)] == [1], "no other group has an entry"

    (failed,) = env.events(ns, c.EVENT_GROUP_FAILED)
    assert failed["type"] == "Warning" and failed["note"].startswith(
        "group 1 failed: group 1 of LeaderWorkerSet"
    )
    assert (failed["regarding"]["kind"], failed["regarding"]["name"]) == (c.KIND, "budget")
    assert failed["related"]["name"] == "budget-1", "the event points at the failed group's leader"
    env.settle(env.kube.lws(ns, "budget") or {})
    assert _uids(env, ns) == second, "nothing is recreated any more, and groups 0 and 2 were never touched"
    assert {k: v for k, v in second.items() if not k.startswith("budget-1")} == {
        k: v for k, v in first.items() if not k.startswith("budget-1")
    }

    # What an operator of the cluster sees.
    shown = env.kube.kubectl("get", "lws", "budget", "-n", ns, "-o", "jsonpath={.status.groupRestarts}")
    assert [(e["index"], e["state"]) for e in json.loads(shown.stdout)] == [(1, "Failed")]
