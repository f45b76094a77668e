"""lws.plugin_testing: the fixtures plugin authors get, checked against what the real pipeline does."""

from __future__ import annotations

from typing import Any

import pytest

from lws import hookimpl
from lws.api import constants as c
from lws.hooks.types import PodContext
from lws.plugin_testing import (
    AdmissionRejected,
    group_context,
    lws_manifest,
    make_test_hooks,
    pod_context,
    render,
    restart_event,
)


class Spy:
    """A throw-away plugin that records the contexts the pod webhook hands to plugins."""

    __name__ = "spy"

    def __init__(self) -> None:
        self.seen: dict[str, PodContext] = {}

    @hookimpl
    def lws_mutate_pod(self, pod: dict[str, Any], ctx: PodContext) -> None:
        self.seen[ctx.pod_name] = ctx
        pod["metadata"].setdefault("labels", {})["spied"] = "yes"


def test_extra_plugins_join_the_builtins(lws_make_hooks, lws_render):
    spy = Spy()
    hooks = lws_make_hooks(spy)
    assert "spy" in [i.name for i in hooks.infos] and "startup_policies" in [i.name for i in hooks.infos]
    rendered = lws_render(lws_manifest(size=3), hooks=hooks)
    assert sorted(spy.seen) == ["demo-0", "demo-0-1", "demo-0-2"]
    assert all(p["metadata"]["labels"]["spied"] == "yes" for p in rendered.pods())


def test_no_third_party_entry_points_and_opt_in_builtins_only_on_request(lws_hooks):
    names = {i.name for i in lws_hooks.infos}
    assert "volcano" not in names and "rack_spread" not in names
    assert "volcano" in {i.name for i in make_test_hooks(enable=("volcano",)).infos}
    assert "tpu" not in {i.name for i in make_test_hooks(disable=("tpu",)).infos}
    with pytest.raises(ValueError, match="no built-in plugin named nope"):
        make_test_hooks(enable=("nope",))


def test_without_builtins_admission_says_why():
    with pytest.raises(AdmissionRejected, match=r"spec\.startupPolicy") as caught:
        render(lws_manifest(), make_test_hooks(builtins=False))
    assert caught.value.errors


@pytest.mark.parametrize("pod_name", ["demo-1", "demo-1-2"])
def test_pod_context_matches_what_the_webhook_builds(lws_make_hooks, lws_render, pod_name):
    spy = Spy()
    lws_render(lws_manifest(replicas=2, size=3), hooks=lws_make_hooks(spy))
    real = spy.seen[pod_name]
    built = pod_context(
        group_index=1, worker_index=real.worker_index, size=3, revision=real.labels[c.REVISION_KEY]
    )
    for field in ("pod_name", "set_name", "role", "group_index", "worker_index", "group_size", "leader_name",
                  "subdomain", "leader_address", "group_key", "namespace"):  # fmt: skip
        assert getattr(built, field) == getattr(real, field), field
    for key, value in built.labels.items():
        assert real.labels[key] == value, key
    assert built.annotations[c.SIZE_ANNOTATION] == real.annotations[c.SIZE_ANNOTATION]


def test_pod_context_refuses_a_leader_with_a_worker_index():
    with pytest.raises(ValueError, match="the leader is index 0"):
        pod_context(role="leader", worker_index=2)


def test_group_context_and_restart_event_drive_the_real_policies(lws_hooks):
    obj = lws_manifest(size=3, startup_policy="LeaderReady")
    leader = {
        "metadata": {"name": "demo-0"},
        "status": {"conditions": [{"type": "Ready", "status": "False"}]},
    }
    gate = lws_hooks.workers_gate(group_context(obj, leader_pod=leader))
    assert gate is not None and "LeaderReady" in gate.reason
    decision, who = lws_hooks.decide_restart(restart_event(obj, worker_index=2))
    assert (decision.action, who) == ("recreate", "restart_policies")
    assert "demo-0-2" in decision.reason
    calm, _ = lws_hooks.decide_restart(restart_event(obj, restarts=0))
    assert calm.action == "ignore"


def test_rendered_lookups_say_what_exists(lws_render):
    rendered = lws_render(lws_manifest(size=2))
    assert rendered.lws["kind"] == "LeaderWorkerSet"
    assert rendered.names("Pod") == [("Pod", "demo-0"), ("Pod", "demo-0-1")]
    assert rendered.env("demo-0-1")["LWS_WORKER_INDEX"] == "1"
    with pytest.raises(KeyError, match=r"no Pod 'demo-9'; rendered: \[\('LeaderWorkerSet', 'demo'\)"):
        rendered.pod("demo-9")
    with pytest.raises(KeyError, match="has no container 'x'"):
        rendered.container("demo-0", "x")
