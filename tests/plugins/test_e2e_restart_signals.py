"""A plugin's restart policy is offered every failure signal a group pod shows and decides itself (issue 10,
bug 8): a pod that is only not ready — no container restart, no deletion, which upstream's trigger never
lets through — reaches the policy, which here recreates the group when the pod's own health gate says so.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lws.api.crd import build_crd, crd_yaml
from lws.cluster.resources import LEADERWORKERSETS, PODS
from lws.hooks.manager import PluginSelection, make_hooks
from lws.plugin import PolicyRegistry, RestartDecision, RestartEvent, hookimpl, pod_failures
from lws.sim.testing import wait_until
from tests.operator.e2e_kit import Kube, PodTimeline, make_lws, pod_ready
from tests.plugins.plugin_cluster import GPU_RACKS, PluginCluster, running

pytestmark = pytest.mark.e2e

POLICY = "RecreateGroupWhenUnhealthy"
HEALTH = "example.com/healthy"


class WhenUnhealthy:
    """Recreates a group when one of its pods reports the readiness gate ``example.com/healthy`` False;
    records what it was offered."""

    def __init__(self) -> None:
        self.offered: list[tuple[str, tuple[str, ...]]] = []

    @hookimpl
    def lws_register_policies(self, registry: PolicyRegistry) -> None:
        registry.restart_policy(POLICY, self)

    def decide(self, event: RestartEvent) -> RestartDecision:
        kinds = tuple(f.kind for f in pod_failures(event.pod))
        self.offered.append((str(event.pod["metadata"]["name"]), kinds))
        if _health(event.pod) == "False" and "not-ready" in kinds:
            return RestartDecision.recreate(f"pod {event.pod['metadata']['name']} reports itself unhealthy")
        return RestartDecision.ignore()


def _health(pod: dict[str, Any] | Any) -> str | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == HEALTH:
            return str(condition.get("status"))
    return None


@pytest.fixture(scope="module")
def policy_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PluginCluster, WhenUnhealthy]]:
    policy = WhenUnhealthy()
    hooks = make_hooks(PluginSelection(extra=(("when_unhealthy", policy),)))
    tmp = tmp_path_factory.mktemp("restart-signals")
    crd = Path(tmp / "crd.yaml")
    crd.write_text(
        crd_yaml(build_crd(startup_policies=hooks.startup_values, restart_policies=hooks.restart_values))
    )
    with running(tmp, topology=GPU_RACKS, hooks=hooks, crds=[crd]) as env:
        yield env, policy


def _report_health(kube: Kube, ns: str, pod: str, healthy: bool) -> None:
    """What the pod's own agent would do: set its readiness-gate condition."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    condition = {"type": HEALTH, "status": str(healthy), "lastTransitionTime": now}
    kube.request(
        "PATCH",
        PODS.path(ns, pod, "status"),
        body={"status": {"conditions": [condition]}},
        content_type="application/strategic-merge-patch+json",
    )


def test_a_pod_that_is_only_not_ready_reaches_the_policy_which_recreates_its_group(
    policy_cluster: tuple[PluginCluster, WhenUnhealthy],
) -> None:
    env, policy = policy_cluster
    kube = env.kube
    with env.namespace() as ns:
        body = make_lws("gated", replicas=1, size=2)
        template = body["spec"]["leaderWorkerTemplate"]
        template["restartPolicy"] = POLICY
        template["workerTemplate"]["spec"]["readinessGates"] = [{"conditionType": HEALTH}]
        template["leaderTemplate"] = copy.deepcopy(template["workerTemplate"])
        kube.create(LEADERWORKERSETS, ns, body)
        for name in ("gated-0", "gated-0-1"):
            wait_until(lambda n=name: (kube.get(PODS, ns, n) or {}).get("spec", {}).get("nodeName"))
            _report_health(kube, ns, name, True)
        kube.wait_available(ns, "gated", timeout=30)
        leader = kube.get(PODS, ns, "gated-0")
        assert leader is not None

        worker_uid = kube.get(PODS, ns, "gated-0-1")["metadata"]["uid"]

        # The policy may recreate the group as soon as it sees the worker not ready: the watch, started
        # before the report, sees every state the worker went through, that one included (leaving the
        # block waits for the watch to catch up).
        with PodTimeline(kube, ns, "gated", size_of=lambda _revision: 2) as timeline:
            _report_health(kube, ns, "gated-0-1", False)  # running, no restart, not deleted: only not ready
            wait_until(
                lambda: (
                    (p := kube.get(PODS, ns, "gated-0")) is None
                    or p["metadata"]["uid"] != leader["metadata"]["uid"]
                    or p["metadata"].get("deletionTimestamp")
                ),
                timeout=20,
                what="the policy to recreate the group",
            )
        worker = next(
            p for p in timeline.delivered if p["metadata"]["uid"] == worker_uid and not pod_ready(p)
        )
        assert [f.kind for f in pod_failures(worker)] == ["not-ready"]
        assert ("gated-0-1", ("not-ready",)) in policy.offered
