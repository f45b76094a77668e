"""An operator serving some namespaces leaves the others alone; the telemetry seam sees reconciles, the API
calls each one makes and the plugin calls inside it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from e2e_kit import make_lws
from operator_harness import Private

from lws.cluster.client import ApiCall
from lws.cluster.resources import LEADERWORKERSETS, NAMESPACES, STATEFULSETS
from lws.controller.context import Span, Telemetry
from lws.core.decisions import Decision
from lws.core.routing import Key

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]


def test_an_operator_limited_to_namespaces_reconciles_only_those(private: Private) -> None:
    kube = private.kube
    for name in ("team-a", "team-b"):
        kube.create(NAMESPACES, None, {"metadata": {"name": name}})
    operator = private.start_operator(namespaces=("team-a",))
    kube.create(LEADERWORKERSETS, "team-a", make_lws("served", replicas=1, size=2))
    ignored = kube.create(LEADERWORKERSETS, "team-b", make_lws("ignored", replicas=1, size=2))
    kube.wait_available("team-a", "served")
    operator.settle(ignored["metadata"]["resourceVersion"])
    assert kube.get(STATEFULSETS, "team-b", "ignored") is None
    assert not (kube.lws("team-b", "ignored") or {}).get("status"), "not even a status"
    assert all(
        call.namespace in ("team-a", "default")
        for call in operator.request_log.calls()
        if call.resource in ("pods", "statefulsets")
    )


@dataclass
class _Span:
    name: str
    attributes: dict[str, Any]
    events: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        self.events.append(name)

    def record_error(self, error: BaseException) -> None:
        self.errors.append(error)


class _Recorder(Telemetry):
    def __init__(self) -> None:
        self.spans: list[_Span] = []
        self.outcomes: list[tuple[str, str]] = []

    @contextlib.contextmanager
    def reconcile(self, key: Key, attributes: Mapping[str, Any]) -> Iterator[Span]:
        span = _Span(f"reconcile {key.kind} {key.name}", dict(attributes))
        self.spans.append(span)
        yield span

    @contextlib.contextmanager
    def api_call(self, parent: Span, call: ApiCall) -> Iterator[None]:
        yield
        assert isinstance(parent, _Span)
        parent.add_event(f"{call.verb} {call.target} {call.status}")

    def hook_called(
        self, parent: Span | None, hook: str, plugin: str, seconds: float, error: BaseException | None
    ) -> None:
        if parent is not None:
            parent.add_event(f"hook {hook} {plugin}")

    def reconcile_done(self, span: Span, key: Key, outcome: str, seconds: float) -> None:
        assert isinstance(span, _Span) and span in self.spans
        self.outcomes.append((str(key), outcome))

    def decided(self, span: Span, decision: Decision) -> None:
        span.add_event(f"decided {decision.action} by {decision.by}")


def test_the_telemetry_seam_sees_reconciles_api_calls_and_plugin_calls(private: Private) -> None:
    telemetry = _Recorder()
    private.start_operator(telemetry=telemetry)
    private.kube.create(LEADERWORKERSETS, "default", make_lws("traced", replicas=1, size=2))
    private.kube.wait_available("default", "traced")

    set_spans = [s for s in telemetry.spans if s.name == "reconcile set traced"]
    group_spans = [s for s in telemetry.spans if s.name == "reconcile group traced-0"]
    assert set_spans and group_spans
    set_events = [e for s in set_spans for e in s.events]
    assert "apply statefulsets 201" in set_events or "apply statefulsets 200" in set_events
    assert "create controllerrevisions 201" in set_events
    assert any(e.startswith("hook lws_pod_annotations ") for e in set_events), (
        "plugin calls inside the reconcile"
    )
    group_events = [e for s in group_spans for e in s.events]
    assert "create statefulsets 201" in group_events
    # The reconcilers report their decisions as typed records; nothing has to be read off the API calls.
    assert {"decided create revision by lws", "decided apply leader StatefulSet by lws"} <= set(set_events)
    assert "decided check worker gates by lws" in group_events
    assert "decided create worker StatefulSet by lws" in group_events
    assert set_spans[0].attributes["k8s.namespace.name"] == "default"
    assert ("set/default/traced", "success") in telemetry.outcomes
