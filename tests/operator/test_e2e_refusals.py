"""A child object the API server refuses (issue 10, bug 7): 67 generated sets were admitted with pod templates
the StatefulSet API then refused, and the operator looped with tracebacks. A refusal is now a Warning event
and a ReplicaFailure condition on the set, retried with backoff, never a traceback; fixing the set clears it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from e2e_kit import Kube, make_lws
from operator_harness import E2E

from lws.api import constants as c
from lws.cluster.resources import EVENTS, LEADERWORKERSETS
from lws.sim.testing import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]


class _Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@pytest.fixture
def tracebacks() -> Iterator[_Tracebacks]:
    handler = _Tracebacks()
    logging.getLogger("lws").addHandler(handler)
    yield handler
    logging.getLogger("lws").removeHandler(handler)


def _condition(kube: Kube, ns: str, name: str) -> dict[str, object]:
    lws = kube.get(LEADERWORKERSETS, ns, name) or {}
    return next(
        (
            cond
            for cond in (lws.get("status") or {}).get("conditions") or []
            if cond["type"] == "ReplicaFailure"
        ),
        {},
    )


def test_a_refused_worker_statefulset_is_an_event_and_a_condition_then_clears(
    e2e: E2E, kube: Kube, ns: str, tracebacks: _Tracebacks
) -> None:
    e2e.require_operator()
    # The CRD (as upstream's) lets a pod template without a spec through; the StatefulSet API does not.
    lws = make_lws("refused", replicas=1, size=2)
    template = lws["spec"]["leaderWorkerTemplate"]
    template["leaderTemplate"] = template["workerTemplate"]
    template["workerTemplate"] = {"metadata": {"labels": {"app": "refused"}}}
    kube.create(LEADERWORKERSETS, ns, lws)

    failing = wait_until(
        lambda: (cond := _condition(kube, ns, "refused")).get("status") == "True" and cond,
        timeout=30,
        what="the ReplicaFailure condition",
    )
    assert failing["reason"] == c.EVENT_FAILED_CREATE
    assert "spec.template.spec.containers" in str(failing["message"])
    events = wait_until(
        lambda: [e for e in kube.list(EVENTS, ns) if e.get("reason") == c.EVENT_FAILED_CREATE],
        timeout=30,
        what="a FailedCreate event",
    )
    assert events[0]["type"] == "Warning" and events[0]["regarding"]["name"] == "refused"

    template["workerTemplate"] = make_lws("refused")["spec"]["leaderWorkerTemplate"]["workerTemplate"]
    kube.patch(LEADERWORKERSETS, ns, "refused", {"spec": {"leaderWorkerTemplate": template}})
    kube.wait_available(ns, "refused")
    wait_until(
        lambda: _condition(kube, ns, "refused").get("status") == "False",
        timeout=30,
        what="the condition to clear",
    )
    assert not tracebacks.records, [r.getMessage() for r in tracebacks.records]
