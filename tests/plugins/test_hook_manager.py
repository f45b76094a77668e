"""The hook façade calls pluggy: pluggy's monitoring and tracing see every call, pluggy orders the
implementations and stops where the spec says ``firstresult``, and each result is credited to its plugin."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import lws_builtins.vllm
import pytest

from lws.api.model import LeaderWorkerSet
from lws.hooks import specs
from lws.hooks.manager import Hooks, PluginError, PluginSelection, make_hooks
from lws.plugin import FieldError, GroupContext, PolicyRegistry, WorkerGate, hookimpl
from lws.plugin_testing import group_context, lws_manifest, make_test_hooks


class Gate:
    def __init__(self, reason: str | None) -> None:
        self.reason = reason
        self.calls = 0

    @hookimpl
    def lws_workers_gate(self, ctx: GroupContext) -> WorkerGate | None:
        self.calls += 1
        return WorkerGate(self.reason) if self.reason else None


class Rule:
    def __init__(self, detail: str) -> None:
        self.detail = detail

    @hookimpl
    def lws_validate(self, lws: Any, old: Any) -> list[FieldError]:
        return [FieldError("spec", self.detail)]


def hooks_of(*plugins: tuple[str, object], observed: list[Any] | None = None) -> Hooks:
    def observe(hook: str, plugin: str, seconds: float, error: BaseException | None) -> None:
        assert seconds >= 0
        if observed is not None:
            observed.append((hook, plugin, type(error).__name__ if error else None))

    return make_hooks(PluginSelection(load_entrypoints=False, extra=plugins), observer=observe)


def test_pluggy_monitoring_and_tracing_see_every_facade_call() -> None:
    hooks = hooks_of(("first", Rule("a")), ("second", Rule("b")))
    seen: list[tuple[str, list[str]]] = []
    undo = hooks.pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: seen.append((name, [i.plugin_name for i in impls])),
        lambda outcome, name, impls, kwargs: None,
    )
    traced: list[str] = []
    hooks.pm.trace.root.setwriter(traced.append)
    untrace = hooks.pm.enable_tracing()
    try:
        errors = hooks.validate(lws_manifest_model(), None)
    finally:
        undo()
        untrace()
    assert seen == [("lws_validate", ["first", "second"])]
    assert any("lws_validate" in line for line in traced)
    # pluggy's order (last registered first), each error credited to its plugin.
    assert [(e.detail, e.origin) for e in errors] == [("b", "second"), ("a", "first")]


def test_firstresult_is_the_specs_and_pluggy_stops_there() -> None:
    for name in ("lws_workers_gate", "lws_review_restart"):
        assert getattr(specs, name).lws_spec["firstresult"] is True
    early, late = Gate("leader not scheduled"), Gate("never asked")
    observed: list[Any] = []
    hooks = hooks_of(("late", late), ("early", early), observed=observed)
    ctx = group_context(lws_manifest(size=2), leader_pod=None)
    gate = hooks.workers_gate(ctx)  # no startup policy is registered: the hook alone decides
    assert gate == WorkerGate("leader not scheduled")
    assert (early.calls, late.calls) == (1, 0)
    assert ("lws_workers_gate", "early", None) in observed
    assert not [o for o in observed if o[1] == "late"]


def test_an_implementations_error_names_its_plugin_and_is_observed() -> None:
    class Broken:
        @hookimpl
        def lws_validate(self, lws: Any, old: Any) -> None:
            raise ValueError("annotation x.lws.x-k8s.io/y must be a number")

    observed: list[Any] = []
    hooks = hooks_of(("broken", Broken()), observed=observed)
    with pytest.raises(PluginError, match=r"plugin 'broken' failed in lws_validate: annotation x"):
        hooks.validate(lws_manifest_model(), None)
    assert observed == [("lws_validate", "broken", "ValueError")]


def test_a_hook_wrapper_runs_and_results_it_replaces_are_credited_to_star() -> None:
    class Wrapper:
        @hookimpl(wrapper=True)
        def lws_validate(self, lws: Any, old: Any) -> Generator[None, Any, Any]:
            result = yield
            return [*result, [FieldError("spec", "from the wrapper")]]

    hooks = hooks_of(("rule", Rule("a")), ("wrapper", Wrapper()))
    errors = hooks.validate(lws_manifest_model(), None)
    assert [(e.detail, e.origin) for e in errors] == [("a", "*"), ("from the wrapper", "*")]
    plain = hooks_of(("rule", Rule("a")))
    assert [(e.detail, e.origin) for e in plain.validate(lws_manifest_model(), None)] == [("a", "rule")]


def test_policy_values_are_credited_to_the_plugin_that_registered_them_and_conflicts_name_both() -> None:
    class Policy:
        def workers_gate(self, ctx: GroupContext) -> WorkerGate | None:
            return None

    def registering(value: str) -> object:
        class Registers:
            @hookimpl
            def lws_register_policies(self, registry: PolicyRegistry) -> None:
                registry.startup_policy(value, Policy())

        return Registers()

    hooks = hooks_of(("one", registering("Mine")), ("two", registering("Yours")))
    assert {v: p for v, (p, _) in hooks.policies.startup.items()} == {"Mine": "one", "Yours": "two"}
    with pytest.raises(
        PluginError, match=r"plugins 'two' and 'one' both implement spec.startupPolicy='Same'"
    ):
        hooks_of(("one", registering("Same")), ("two", registering("Same")))


def test_the_registered_plugin_object_is_the_plugin_itself() -> None:
    rule = Rule("a")
    hooks = hooks_of(("rule", rule))
    assert hooks.plugin("rule") is rule
    assert hooks.plugin("missing") is None
    assert make_test_hooks().plugin("vllm") is lws_builtins.vllm


def lws_manifest_model() -> LeaderWorkerSet:
    return LeaderWorkerSet(lws_manifest())
