"""The operator as a process that dies, restarts and runs in several replicas: a rollout survives a crash
without duplicated or orphaned objects; only the Lease holder reconciles; every replica serves webhooks."""

from __future__ import annotations

import pytest
from e2e_kit import Kube, labels, make_lws, rolled_out
from operator_harness import Private

from lws.api import constants as c
from lws.cluster.resources import (
    CONTROLLER_REVISIONS,
    LEADERWORKERSETS,
    MUTATING_WEBHOOK_CONFIGURATIONS,
    PODS,
    SERVICES,
    STATEFULSETS,
    VALIDATING_WEBHOOK_CONFIGURATIONS,
)
from lws.sim.testing import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]


def _live(objs: list[dict]) -> list[dict]:
    return [o for o in objs if not o["metadata"].get("deletionTimestamp")]


def _assert_one_consistent_set(kube: Kube, ns: str, name: str, replicas: int, size: int) -> None:
    """Exactly the objects of ``replicas`` groups, each owned by the live object it names."""
    selector = f"{c.SET_NAME_LABEL}={name}"
    lws = kube.lws(ns, name)
    assert lws is not None
    pods = {p["metadata"]["name"]: p for p in _live(kube.list(PODS, ns, selector))}
    expected = {f"{name}-{i}" for i in range(replicas)} | {
        f"{name}-{i}-{j}" for i in range(replicas) for j in range(1, size)
    }
    assert set(pods) == expected, "one leader and size-1 workers per group, nothing else"
    statefulsets = {s["metadata"]["name"]: s for s in _live(kube.list(STATEFULSETS, ns, selector))}
    assert set(statefulsets) == {name} | {f"{name}-{i}" for i in range(replicas)}
    for index in range(replicas):
        owner = statefulsets[f"{name}-{index}"]["metadata"]["ownerReferences"][0]
        leader = pods[f"{name}-{index}"]
        assert (owner["kind"], owner["uid"]) == ("Pod", leader["metadata"]["uid"]), (
            "worker sts owned by the live leader"
        )
    assert statefulsets[name]["metadata"]["ownerReferences"][0]["uid"] == lws["metadata"]["uid"]
    assert [s["metadata"]["name"] for s in kube.list(SERVICES, ns, selector)] == [name]
    own = [
        r
        for r in kube.list(CONTROLLER_REVISIONS, ns, selector)
        if r["metadata"]["ownerReferences"][0]["kind"] == c.KIND
    ]
    keys = {labels(r)[c.REVISION_KEY] for r in own}
    assert len(own) == 1 and keys == {labels(pods[f"{name}-0"])[c.REVISION_KEY]}, (
        "one revision, the one running"
    )


def test_a_crashed_operator_is_replaced_and_finishes_the_rollout(private: Private) -> None:
    kube, ns = private.kube, "default"
    first = private.start_operator()
    kube.create(
        LEADERWORKERSETS,
        ns,
        make_lws(
            "crash", replicas=4, size=2, rolloutStrategy={"rollingUpdateConfiguration": {"maxUnavailable": 1}}
        ),
    )
    kube.wait_available(ns, "crash")
    kube.patch(
        LEADERWORKERSETS,
        ns,
        "crash",
        {"spec": {"leaderWorkerTemplate": {"workerTemplate": {"metadata": {"annotations": {"build": "2"}}}}}},
    )
    kube.wait_lws(
        ns,
        "crash",
        lambda o: 0 < o["status"].get("updatedReplicas", 0) < 4,
        what="the rollout to be under way",
    )
    first.stop(clean=False)  # as kill -9: the Lease and the webhook registration stay behind

    second = private.start_operator()
    assert second.leading or wait_until(lambda: second.leading, what="the new replica to take the Lease")
    kube.wait_lws(
        ns,
        "crash",
        rolled_out(updated=4, ready=4),
        timeout=60,
        what="the new operator to finish the rollout",
    )
    wait_until(
        lambda: (
            len(
                [
                    r
                    for r in kube.list(CONTROLLER_REVISIONS, ns, f"{c.SET_NAME_LABEL}=crash")
                    if r["metadata"]["ownerReferences"][0]["kind"] == c.KIND
                ]
            )
            == 1
        ),
        what="the old revision to be truncated",
    )
    _assert_one_consistent_set(kube, ns, "crash", replicas=4, size=2)


def test_only_the_lease_holder_reconciles_and_every_replica_serves_webhooks(private: Private) -> None:
    kube, ns = private.kube, "default"
    one = private.start_operator()
    two = private.start_operator()
    wait_until(lambda: one.leading != two.leading, what="exactly one leader")
    leader, standby = (one, two) if one.leading else (two, one)
    for kind in (MUTATING_WEBHOOK_CONFIGURATIONS, VALIDATING_WEBHOOK_CONFIGURATIONS):
        config = kube.get(
            kind,
            None,
            f"lws-{'mutating' if kind is MUTATING_WEBHOOK_CONFIGURATIONS else 'validating'}-webhook-configuration",
        )
        assert config is not None
        bundle = config["webhooks"][0]["clientConfig"]["caBundle"]
        assert _count_certificates(bundle) == 2, "both replicas' CAs are trusted"

    mark = standby.request_log.mark()
    kube.create(LEADERWORKERSETS, ns, make_lws("ha", replicas=2, size=2))
    kube.wait_available(ns, "ha")
    standby_writes = [w for w in standby.request_log.writes(since=mark) if w.resource != "leases"]
    assert standby_writes == [], f"the standby wrote: {standby_writes}"
    assert any(w.resource == "statefulsets" for w in leader.request_log.writes(since=0))

    leader.stop()  # clean: the Lease is released and the webhook URL handed to the standby
    wait_until(lambda: standby.leading, what="the standby to take over")
    kube.create(LEADERWORKERSETS, ns, make_lws("after", replicas=1, size=2))  # admitted by the survivor
    kube.wait_available(ns, "after")
    config = kube.get(MUTATING_WEBHOOK_CONFIGURATIONS, None, c.MUTATING_WEBHOOK_CONFIGURATION)
    assert config is not None and _count_certificates(config["webhooks"][0]["clientConfig"]["caBundle"]) == 1

    standby.stop()
    assert kube.get(MUTATING_WEBHOOK_CONFIGURATIONS, None, c.MUTATING_WEBHOOK_CONFIGURATION) is None
    assert kube.get(VALIDATING_WEBHOOK_CONFIGURATIONS, None, c.VALIDATING_WEBHOOK_CONFIGURATION) is None


def _count_certificates(bundle: str) -> int:
    import base64

    return base64.b64decode(bundle).count(b"-----BEGIN CERTIFICATE-----")
