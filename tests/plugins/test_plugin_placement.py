"""placement: the affinity each mode gives every group pod, multi-level weights, and admission checks."""

from __future__ import annotations

import pytest
from lws_builtins import placement

from lws.plugin_testing import admission_errors, lws_manifest, pod_context

GROUP_KEY = "leaderworkerset.sigs.k8s.io/group-key"
NAME = "leaderworkerset.sigs.k8s.io/name"
ZONE, BLOCK, RACK = "topology.kubernetes.io/zone", "example.com/block", "example.com/rack"


def placed(mode: str, topology: str, **kwargs):
    return lws_manifest(
        replicas=2,
        size=3,
        annotations={"placement.lws.x-k8s.io/mode": mode, "placement.lws.x-k8s.io/topology": topology},
        **kwargs,
    )


def own_group(key: str) -> dict:
    return {"matchExpressions": [{"key": GROUP_KEY, "operator": "In", "values": [key]}]}


def other_groups(key: str) -> dict:
    return {
        "matchExpressions": [
            {"key": NAME, "operator": "In", "values": ["demo"]},
            {"key": GROUP_KEY, "operator": "Exists"},
            {"key": GROUP_KEY, "operator": "NotIn", "values": [key]},
        ]
    }


@pytest.mark.parametrize("pod", ["demo-1", "demo-1-1", "demo-1-2"])
def test_exclusive_in_set_gives_every_pod_of_the_group_the_same_terms(lws_render, pod):
    rendered = lws_render(placed("exclusive-in-set", ZONE))
    key = rendered.pod("demo-1")["metadata"]["labels"][GROUP_KEY]
    assert rendered.pod(pod)["spec"]["affinity"] == {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": own_group(key), "topologyKey": ZONE}
            ]
        },
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": other_groups(key), "topologyKey": ZONE}
            ]
        },
    }


def test_groups_differ_only_by_their_key(lws_render):
    rendered = lws_render(placed("exclusive-in-set", ZONE))
    keys = [rendered.pod(p)["metadata"]["labels"][GROUP_KEY] for p in ("demo-0", "demo-1")]
    assert keys[0] != keys[1]
    anti = rendered.pod("demo-0")["spec"]["affinity"]["podAntiAffinity"]
    assert anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"] == other_groups(keys[0])


def test_colocate_multilevel_requires_the_outermost_and_prefers_tighter_levels(lws_render):
    rendered = lws_render(placed("colocate", f"{ZONE},{BLOCK},{RACK}"))
    key = rendered.pod("demo-0-2")["metadata"]["labels"][GROUP_KEY]
    affinity = rendered.pod("demo-0-2")["spec"]["affinity"]
    assert affinity == {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": own_group(key), "topologyKey": ZONE}
            ],
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 50, "podAffinityTerm": {"labelSelector": own_group(key), "topologyKey": BLOCK}},
                {"weight": 100, "podAffinityTerm": {"labelSelector": own_group(key), "topologyKey": RACK}},
            ],
        }
    }


def test_spread_prefers_other_domains_than_the_sets_other_groups(lws_render):
    rendered = lws_render(placed("spread", f"{ZONE},{RACK}"))
    key = rendered.pod("demo-1")["metadata"]["labels"][GROUP_KEY]
    affinity = rendered.pod("demo-1")["spec"]["affinity"]
    assert affinity["podAntiAffinity"] == {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"labelSelector": other_groups(key), "topologyKey": ZONE}}
        ]
    }
    assert affinity["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] == [
        {"weight": 100, "podAffinityTerm": {"labelSelector": own_group(key), "topologyKey": RACK}}
    ]


def test_settings_reach_both_pod_templates_and_the_revision(lws_render):
    plain = lws_render(lws_manifest(replicas=2, size=3))
    rendered = lws_render(placed("colocate", ZONE))
    for sts in ("demo", "demo-0"):
        annotations = rendered.get("StatefulSet", sts)["spec"]["template"]["metadata"]["annotations"]
        assert annotations["placement.lws.x-k8s.io/mode"] == "colocate"
        assert annotations["placement.lws.x-k8s.io/topology"] == ZONE
    revision = "leaderworkerset.sigs.k8s.io/template-revision-hash"
    assert (
        plain.get("StatefulSet", "demo")["metadata"]["labels"][revision]
        != rendered.get("StatefulSet", "demo")["metadata"]["labels"][revision]
    )


def test_user_terms_are_kept_and_admission_twice_adds_nothing():
    ctx = pod_context(
        annotations={"placement.lws.x-k8s.io/mode": "colocate", "placement.lws.x-k8s.io/topology": ZONE}
    )
    user_term = {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "kubernetes.io/hostname"}
    pod = {
        "spec": {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [user_term]}}}
    }
    placement.lws_mutate_pod(pod, ctx)
    placement.lws_mutate_pod(pod, ctx)
    terms = pod["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms == [user_term, {"labelSelector": own_group(ctx.group_key), "topologyKey": ZONE}]


@pytest.mark.parametrize(("levels", "weights"), [(1, [100]), (2, [50, 100]), (3, [33, 67, 100]), (150, None)])
def test_weights_grow_toward_the_tightest_level(levels, weights):
    found = placement.level_weights(levels)
    if weights is not None:
        assert found == weights
    assert found == sorted(found) and found[-1] == 100 and min(found) >= 1


def test_no_annotations_no_affinity(lws_render):
    rendered = lws_render(lws_manifest(size=2))
    assert all("affinity" not in p["spec"] for p in rendered.pods())


@pytest.mark.parametrize(
    ("annotations", "path", "detail"),
    [
        (
            {"placement.lws.x-k8s.io/mode": "pack", "placement.lws.x-k8s.io/topology": ZONE},
            "placement.lws.x-k8s.io/mode",
            'supported values: "exclusive-in-set", "colocate", "spread"',
        ),
        ({"placement.lws.x-k8s.io/mode": "colocate"}, "placement.lws.x-k8s.io/topology", "must be set with"),
        (
            {"placement.lws.x-k8s.io/topology": ZONE},
            "placement.lws.x-k8s.io/mode",
            "exclusive-in-set, colocate",
        ),
        (
            {"placement.lws.x-k8s.io/mode": "spread", "placement.lws.x-k8s.io/topology": f"{ZONE},bad key!"},
            "placement.lws.x-k8s.io/topology",
            "must list node label keys",
        ),
        (
            {"placement.lws.x-k8s.io/mode": "spread", "placement.lws.x-k8s.io/topology": f"{ZONE},{ZONE}"},
            "placement.lws.x-k8s.io/topology",
            "must not list a key twice",
        ),
        (
            {
                "placement.lws.x-k8s.io/mode": "exclusive-in-set",
                "placement.lws.x-k8s.io/topology": ZONE,
                "leaderworkerset.sigs.k8s.io/exclusive-topology": ZONE,
            },
            "placement.lws.x-k8s.io/mode",
            "cannot be combined with leaderworkerset.sigs.k8s.io/exclusive-topology",
        ),
        (
            {"placement.lws.x-k8s.io/modes": "spread"},
            "placement.lws.x-k8s.io/modes",
            "its settings are: placement.lws.x-k8s.io/mode, placement.lws.x-k8s.io/topology",
        ),
    ],
)
def test_validation(lws_hooks, annotations, path, detail):
    errors = admission_errors(lws_manifest(annotations=annotations), lws_hooks)
    assert [e.path for e in errors] == [f"metadata.annotations.{path}"], [str(e) for e in errors]
    assert detail in str(errors[0])
    assert errors[0].origin == "placement"
