"""The rack_spread plugin, tested with the fixtures lws ships for plugin authors (lws.plugin_testing)."""

from __future__ import annotations

import lws_rack_spread
import pytest

from lws.plugin_testing import admission_errors, installed_hooks, lws_manifest, pod_context

RACKS = "rack-spread.lws.x-k8s.io/racks"


def rack_of(pod: dict) -> list[str]:
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    return [e["values"][0] for t in terms["nodeSelectorTerms"] for e in t["matchExpressions"]]


def test_groups_go_round_robin_over_the_racks(lws_make_hooks, lws_render):
    hooks = lws_make_hooks(lws_rack_spread)
    rendered = lws_render(lws_manifest(replicas=3, size=2, annotations={RACKS: "rack-a,rack-b"}), hooks=hooks)
    assert [rack_of(rendered.pod(p)) for p in ("demo-0", "demo-0-1", "demo-1", "demo-1-1", "demo-2")] == [
        ["rack-a"], ["rack-a"], ["rack-b"], ["rack-b"], ["rack-a"],
    ]  # fmt: skip


def test_user_node_affinity_terms_all_get_the_rack():
    pod = {"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "gpu", "operator": "Exists"}]},
                              {"matchExpressions": [{"key": "tpu", "operator": "Exists"}]}]}}}}}  # fmt: skip
    lws_rack_spread.lws_mutate_pod(pod, pod_context(group_index=1, annotations={RACKS: "r0,r1"}))
    lws_rack_spread.lws_mutate_pod(pod, pod_context(group_index=1, annotations={RACKS: "r0,r1"}))
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    rack = {"key": "example.com/rack", "operator": "In", "values": ["r1"]}
    assert [t["matchExpressions"][-1] for t in terms["nodeSelectorTerms"]] == [rack, rack]
    assert [len(t["matchExpressions"]) for t in terms["nodeSelectorTerms"]] == [2, 2]


def test_nothing_happens_without_the_annotation(lws_make_hooks, lws_render):
    rendered = lws_render(lws_manifest(replicas=2), hooks=lws_make_hooks(lws_rack_spread))
    assert all("affinity" not in p["spec"] for p in rendered.pods())


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ({RACKS: "rack-a,,rack-b"}, "'': must not be empty"),
        ({RACKS: "rack a"}, "must list node label values"),
        (
            {"rack-spread.lws.x-k8s.io/rack": "a"},
            "unknown setting; the settings are: rack-spread.lws.x-k8s.io/racks",
        ),
        ({"rack-spread.lws.x-k8s.io/label-key": "example.com/rack"}, "racks: Required value"),
    ],
)
def test_validation(lws_make_hooks, annotations, message):
    errors = admission_errors(lws_manifest(annotations=annotations), lws_make_hooks(lws_rack_spread))
    assert len(errors) == 1 and message in str(errors[0]), [str(e) for e in errors]
    assert errors[0].origin == "lws_rack_spread"


def test_installed_plugin_is_found_through_its_entry_point():
    hooks = installed_hooks()
    info = next(i for i in hooks.infos if i.name == "rack_spread")
    assert (info.distribution, info.enabled) == ("lws-plugin-example", True)
    assert info.hooks == ("lws_mutate_pod", "lws_pod_annotations", "lws_validate")
