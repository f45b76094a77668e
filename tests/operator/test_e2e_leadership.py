"""Two replicas never act as leader at once: a leader that cannot renew its Lease stops reconciling when
its renew deadline passes, before a standby may take over (issue 10, bug 3).

The leader's Lease requests are swallowed by its network (they hang, as through a partition) while its
other requests still get through, and a stream of changes keeps asking the leader for writes: the worst
case, since a deposed leader that does not notice keeps writing. The overlap is measured from the two
replicas' own request records and printed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from e2e_kit import Kube, make_lws
from operator_harness import Private
from replica_network import ReplicaNetwork, Sent

from lws.cluster.resources import LEADERWORKERSETS
from lws.plugin_testing import settings_for_tests
from lws.sim.testing import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]


def _lease(path: str) -> bool:
    return "/leases/" in path or path.endswith("/leases")


def _leader_work(sent: Sent) -> bool:
    """A write only the leader makes (not the Lease, not events, not its own webhook registration)."""
    return (
        sent.is_write
        and not _lease(sent.path)
        and "/events" not in sent.path
        and "webhookconfigurations" not in sent.path
    )


class _Churn:
    """Changes a set's labels every 50 ms; the leader answers each by applying its leader StatefulSet."""

    def __init__(self, kube: Kube, namespace: str, name: str) -> None:
        self.kube, self.namespace, self.name = kube, namespace, name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="churn")

    def __enter__(self) -> _Churn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        tick = 0
        while not self._stop.wait(0.05):
            tick += 1
            self.kube.patch(
                LEADERWORKERSETS, self.namespace, self.name, {"metadata": {"labels": {"tick": str(tick)}}}
            )


def test_a_leader_that_cannot_renew_stops_before_a_standby_takes_over(
    private: Private, record_property: Callable[[str, object], None]
) -> None:
    kube, ns = private.kube, "default"
    lease = settings_for_tests()
    net_a, net_b = ReplicaNetwork(), ReplicaNetwork()
    a = private.start_operator(connect_with=net_a.connect())
    wait_until(lambda: a.leading, what="the first replica to lead")
    b = private.start_operator(connect_with=net_b.connect())
    kube.create(LEADERWORKERSETS, ns, make_lws("ha", replicas=1, size=1))
    kube.wait_available(ns, "ha")

    with _Churn(kube, ns, "ha"):
        wait_until(
            lambda: any(_leader_work(s) and s.path.endswith("/statefulsets/ha") for s in net_a.sent),
            what="the leader to answer the churn",
        )
        cut = time.monotonic()
        net_a.blackhole(lambda _method, path, _body: _lease(path))
        wait_until(lambda: b.leading, timeout=15, what="the standby to take over")
        acquired = next(
            s for s in net_b.sent if _lease(s.path) and s.is_write and s.succeeded and s.started > cut
        )
        wait_until(
            lambda: sum(1 for s in net_b.sent if _leader_work(s) and s.started > acquired.started) >= 5,
            what="the new leader to answer the churn",
        )
    assert not a.leading, "the deposed leader knows it"

    renewed = max(s.started for s in net_a.sent if _lease(s.path) and s.is_write and s.succeeded)
    last_write = max(s.started for s in net_a.sent if _leader_work(s))
    overlap = last_write - acquired.started
    summary = (
        f"leadership handover (Lease {lease.lease_duration:g}s, renew deadline {lease.renew_deadline:g}s, "
        f"retry {lease.retry_period:g}s): the deposed leader's last write began "
        f"{last_write - renewed:.3f}s after its last renewal; the standby's acquisition began "
        f"{acquired.started - renewed:.3f}s after it; overlap {max(overlap, 0.0):.3f}s "
        f"(margin {-overlap:.3f}s)"
    )
    record_property("figures", summary)
    print(f"\n{summary}")
    assert last_write - renewed <= lease.renew_deadline + 0.25, "it stopped at its renew deadline"
    assert overlap < 0, f"both replicas wrote as leader for {overlap:.3f}s"
