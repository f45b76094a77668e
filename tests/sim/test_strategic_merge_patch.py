"""Strategic merge patch on built-in kinds, directives and upstream's list ordering."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lws.sim.patch import PatchError
from lws.sim.patch.mergepatch import apply_merge_patch
from lws.sim.patch.strategic import (
    STRATEGIES,
    FieldStrategy,
    apply_strategic_merge_patch,
    strategic_merge,
    supports_strategic,
)

POD = ("", "Pod")
STS = ("apps", "StatefulSet")


def _pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"containers": list(containers), **spec}}


def _c(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, **fields}


@pytest.mark.parametrize(
    ("doc", "patch", "expected"),
    [
        pytest.param(
            _pod(_c("a", image="x:1"), _c("b", image="y:1")),
            {"spec": {"containers": [_c("b", image="y:2")]}},
            _pod(_c("a", image="x:1"), _c("b", image="y:2")),
            id="containers merge by name",
        ),
        pytest.param(
            _pod(_c("a")),
            {"spec": {"containers": [_c("z", image="z")]}},
            _pod(_c("z", image="z"), _c("a")),
            id="a new element goes before live-only elements, as upstream",
        ),
        pytest.param(
            _pod(_c("a", env=[{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}])),
            {"spec": {"containers": [_c("a", env=[{"name": "Y", "value": "3"}])]}},
            _pod(_c("a", env=[{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}])),
            id="env merges by name inside a container",
        ),
        pytest.param(
            _pod(_c("a", ports=[{"containerPort": 80}, {"containerPort": 81}])),
            {"spec": {"containers": [_c("a", ports=[{"containerPort": 81, "name": "m"}])]}},
            _pod(_c("a", ports=[{"containerPort": 80}, {"containerPort": 81, "name": "m"}])),
            id="ports merge by containerPort",
        ),
        pytest.param(
            _pod(_c("a", volumeMounts=[{"mountPath": "/a", "name": "v"}])),
            {"spec": {"containers": [_c("a", volumeMounts=[{"mountPath": "/b", "name": "w"}])]}},
            _pod(_c("a", volumeMounts=[{"mountPath": "/b", "name": "w"}, {"mountPath": "/a", "name": "v"}])),
            id="volumeMounts merge by mountPath",
        ),
        pytest.param(
            _pod(_c("a", envFrom=[{"configMapRef": {"name": "x"}}])),
            {"spec": {"containers": [_c("a", envFrom=[{"secretRef": {"name": "y"}}])]}},
            _pod(_c("a", envFrom=[{"secretRef": {"name": "y"}}])),
            id="envFrom has no strategy and is replaced",
        ),
        pytest.param(
            _pod(_c("a"), tolerations=[{"key": "k1", "operator": "Exists"}]),
            {"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}]}},
            _pod(_c("a"), tolerations=[{"key": "k2", "operator": "Exists"}]),
            id="tolerations are atomic",
        ),
        pytest.param(
            _pod(_c("a"), volumes=[{"name": "v", "emptyDir": {}}]),
            {"spec": {"volumes": [{"name": "w", "configMap": {"name": "c"}}]}},
            _pod(_c("a"), volumes=[{"name": "w", "configMap": {"name": "c"}}, {"name": "v", "emptyDir": {}}]),
            id="volumes merge by name",
        ),
        pytest.param(
            _pod(_c("a"), volumes=[{"name": "v", "emptyDir": {}}]),
            {
                "spec": {
                    "volumes": [
                        {"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}
                    ]
                }
            },
            _pod(_c("a"), volumes=[{"name": "v", "hostPath": {"path": "/x"}}]),
            id="retainKeys swaps a volume source",
        ),
        pytest.param(
            _pod(_c("a"), _c("b")),
            {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}},
            _pod(_c("b")),
            id="$patch delete removes a list element",
        ),
        pytest.param(
            _pod(_c("a"), _c("b")),
            {"spec": {"containers": [_c("c"), {"$patch": "replace"}]}},
            _pod(_c("c")),
            id="$patch replace replaces a merge list",
        ),
        pytest.param(
            {"metadata": {"labels": {"a": "1", "b": "2"}}},
            {"metadata": {"labels": {"$patch": "replace", "c": "3"}}},
            {"metadata": {"labels": {"c": "3"}}},
            id="$patch replace replaces a map",
        ),
        pytest.param(
            {"metadata": {"labels": {"a": "1"}, "annotations": {"x": "y"}}},
            {"metadata": {"annotations": {"$patch": "delete"}}},
            {"metadata": {"labels": {"a": "1"}, "annotations": {}}},
            id="$patch delete empties a map",
        ),
        pytest.param(
            {"metadata": {"labels": {"a": "1", "b": "2"}}},
            {"metadata": {"labels": {"a": None, "c": "3"}}},
            {"metadata": {"labels": {"b": "2", "c": "3"}}},
            id="null deletes a key",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["a", "b"]}},
            {"metadata": {"finalizers": ["b", "c"]}},
            {"metadata": {"finalizers": ["a", "b", "c"]}},
            id="finalizers are a set union",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["a", "b"]}},
            {"metadata": {"finalizers": ["kopf"]}},
            {"metadata": {"finalizers": ["kopf", "a", "b"]}},
            id="a new finalizer lands first, as upstream",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["a", "b", "c"]}},
            {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}},
            {"metadata": {"finalizers": ["a", "c"]}},
            id="deleteFromPrimitiveList",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["a", "b"]}},
            {"metadata": {"$deleteFromPrimitiveList/missing": ["b"]}},
            {"metadata": {"finalizers": ["a", "b"]}},
            id="deleteFromPrimitiveList of an absent list does nothing",
        ),
        pytest.param(
            {"metadata": {"ownerReferences": [{"uid": "1", "name": "x"}, {"uid": "2", "name": "y"}]}},
            {"metadata": {"ownerReferences": [{"uid": "2", "controller": True}]}},
            {
                "metadata": {
                    "ownerReferences": [
                        {"uid": "1", "name": "x"},
                        {"uid": "2", "name": "y", "controller": True},
                    ]
                }
            },
            id="ownerReferences merge by uid",
        ),
        pytest.param(
            _pod(_c("a"), _c("b"), _c("c")),
            {"spec": {"$setElementOrder/containers": [_c("c"), _c("a"), _c("b")]}},
            _pod(_c("c"), _c("a"), _c("b")),
            id="setElementOrder reorders",
        ),
        pytest.param(
            _pod(_c("a"), _c("b")),
            {"spec": {"$setElementOrder/containers": [_c("a"), _c("n"), _c("b")], "containers": [_c("n")]}},
            _pod(_c("a"), _c("n"), _c("b")),
            id="setElementOrder places a new element as kubectl asks",
        ),
        pytest.param(
            {"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled"}]}},
            {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled"}]}},
            id="status conditions merge by type",
        ),
        pytest.param(
            _pod(_c("a", args=["x"])),
            {"spec": {"containers": [_c("a", args=["y"])]}},
            _pod(_c("a", args=["y"])),
            id="args are atomic",
        ),
        pytest.param(
            _pod(_c("a")),
            {"spec": {"containers": [_c("b", env=[{"name": "X", "value": None}], resources=None)]}},
            _pod(_c("b", env=[{"name": "X"}]), _c("a")),
            id="nulls inside an added element are dropped",
        ),
        pytest.param(
            {"spec": {"replicas": 1}},
            {"spec": {"replicas": {"nested": True}}},
            {"spec": {"replicas": {"nested": True}}},
            id="a value of another type replaces",
        ),
    ],
)
def test_pod_and_metadata_patches(
    doc: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    assert apply_strategic_merge_patch(doc, patch, POD) == expected
    assert doc == before
    assert patch == patch_before


def test_statefulset_template_uses_pod_spec_strategies() -> None:
    sts = {
        "spec": {
            "replicas": 1,
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [_c("main", image="a")]},
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"}}],
        }
    }
    patch = {
        "spec": {
            "template": {"spec": {"containers": [_c("sidecar", image="s")]}},
            "volumeClaimTemplates": [{"metadata": {"name": "logs"}}],
        }
    }
    result = apply_strategic_merge_patch(sts, patch, STS)
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == ["sidecar", "main"]
    assert result["spec"]["volumeClaimTemplates"] == [{"metadata": {"name": "logs"}}]  # atomic upstream
    assert result["spec"]["template"]["metadata"] == {"labels": {"app": "x"}}


def test_deployment_strategy_retain_keys() -> None:
    live = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert apply_strategic_merge_patch(live, patch, ("apps", "Deployment")) == {
        "spec": {"strategy": {"type": "Recreate"}}
    }


@pytest.mark.parametrize(
    ("kind", "doc", "patch", "expected"),
    [
        (
            ("", "Service"),
            {"spec": {"ports": [{"port": 80, "name": "http"}]}},
            {"spec": {"ports": [{"port": 443, "name": "https"}]}},
            {"spec": {"ports": [{"port": 443, "name": "https"}, {"port": 80, "name": "http"}]}},
        ),
        (
            ("", "Node"),
            {"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}},
            {"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]}},
            {"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]}},
        ),
        (
            ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
            {"webhooks": [{"name": "a", "timeoutSeconds": 10}, {"name": "b"}]},
            {"webhooks": [{"name": "a", "timeoutSeconds": 5}]},
            {"webhooks": [{"name": "a", "timeoutSeconds": 5}, {"name": "b"}]},
        ),
        (
            ("policy", "PodDisruptionBudget"),
            {"spec": {"selector": {"matchLabels": {"a": "1"}}}},
            {"spec": {"selector": {"matchExpressions": []}}},
            {"spec": {"selector": {"matchExpressions": []}}},
        ),
        (
            ("", "ConfigMap"),
            {"data": {"a": "1"}, "metadata": {"finalizers": ["x"]}},
            {"data": {"b": "2"}, "metadata": {"finalizers": ["x", "y"]}},
            {"data": {"a": "1", "b": "2"}, "metadata": {"finalizers": ["x", "y"]}},
        ),
    ],
)
def test_other_builtin_kinds(
    kind: tuple[str, str], doc: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert apply_strategic_merge_patch(doc, patch, kind) == expected


def test_custom_resources_are_refused_with_415() -> None:
    assert not supports_strategic(("leaderworkerset.x-k8s.io", "LeaderWorkerSet"))
    assert supports_strategic(("apps", "StatefulSet"))
    assert supports_strategic(("", "ConfigMap"))
    with pytest.raises(PatchError) as info:
        apply_strategic_merge_patch({}, {}, ("leaderworkerset.x-k8s.io", "LeaderWorkerSet"))
    assert info.value.code == 415
    assert "application/merge-patch+json" in str(info.value)


@pytest.mark.parametrize(
    ("doc", "patch", "code", "fragment"),
    [
        ({"metadata": {}}, {"metadata": {"$patch": "merge"}}, 500, "unknown patch type: merge"),
        (_pod(_c("a")), {"spec": {"containers": [{"$patch": "merge"}]}}, 500, "merging lists cannot yet"),
        (
            _pod(_c("a")),
            {"spec": {"containers": [{"image": "x"}]}},
            500,
            "does not contain declared merge key: name",
        ),
        ({"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": [["b"]]}}, 422, "lists of lists"),
        ({"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": [1]}}, 500, "not identical"),
        ({"spec": {"x": {"a": 1}}}, {"spec": {"x": {"$retainKeys": "a"}}}, 400, "retainKeys"),
        ({"spec": {"x": {"a": 1}}}, {"spec": {"x": {"$retainKeys": ["a"], "b": 2}}}, 400, "retainKeys"),
        (
            _pod(_c("a"), _c("b")),
            {"spec": {"$setElementOrder/containers": [_c("a"), _c("b")], "containers": [_c("b"), _c("a")]}},
            500,
            "doesn't match $setElementOrder list",
        ),
        ({"metadata": {}}, {"metadata": {"$setElementOrderfinalizers": ["a"]}}, 400, "setElementOrder"),
        (
            {"metadata": {}},
            {"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}},
            400,
            "primitive list",
        ),
    ],
)
def test_errors(doc: dict[str, Any], patch: dict[str, Any], code: int, fragment: str) -> None:
    with pytest.raises(PatchError) as info:
        apply_strategic_merge_patch(doc, patch, POD)
    assert info.value.code == code
    assert fragment in str(info.value)


def test_directives_in_an_added_value_are_dropped() -> None:
    # Like upstream: a value added wholesale is stripped of directive maps, never interpreted.
    patch = {"metadata": {"labels": {"$patch": "merge"}, "finalizers": ["a"]}}
    assert apply_strategic_merge_patch({}, patch, POD) == {"metadata": {"finalizers": ["a"]}}


def test_patch_must_be_an_object() -> None:
    with pytest.raises(PatchError) as info:
        apply_strategic_merge_patch({}, [], POD)  # type: ignore[arg-type]
    assert info.value.code == 400


def test_strategy_table_covers_the_pod_template_of_every_workload() -> None:
    for kind in [("apps", "StatefulSet"), ("apps", "Deployment"), ("apps", "DaemonSet"), ("batch", "Job")]:
        table = STRATEGIES[kind]
        assert table["spec.template.spec.containers"] == FieldStrategy("merge", "name")
        assert table["spec.template.spec.containers.env"] == FieldStrategy("merge", "name")
        assert table["spec.template.metadata.finalizers"] == FieldStrategy("merge")


def test_custom_lookup_with_recursive_schema() -> None:
    def lookup(path: str) -> FieldStrategy | None:
        return {"items": FieldStrategy("merge", "id")}.get(path.rsplit(".", 1)[-1])

    doc = {"items": [{"id": 1, "items": [{"id": "x", "v": 1}]}]}
    patch = {"items": [{"id": 1, "items": [{"id": "x", "v": 2}, {"id": "y"}]}]}
    assert strategic_merge(doc, patch, lookup) == {
        "items": [{"id": 1, "items": [{"id": "x", "v": 2}, {"id": "y"}]}]
    }


# --- properties -------------------------------------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "a", "b"])
_maps = st.recursive(
    st.dictionaries(st.sampled_from(["a", "b", "c"]), _scalars, max_size=3),
    lambda inner: st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), inner | _scalars, max_size=3),
    max_leaves=8,
)


@given(_maps, _maps)
def test_without_lists_or_directives_it_is_a_merge_patch(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    assert apply_strategic_merge_patch(doc, patch, ("", "ConfigMap")) == apply_merge_patch(doc, patch)


_containers = st.lists(
    st.builds(_c, st.sampled_from(["a", "b", "c", "d"]), image=st.sampled_from(["x", "y"])),
    max_size=4,
    unique_by=lambda c: c["name"],
)


@given(_containers, _containers)
def test_container_merge_properties(live: list[dict[str, Any]], patch: list[dict[str, Any]]) -> None:
    once = apply_strategic_merge_patch(_pod(*live), {"spec": {"containers": patch}}, POD)
    names = [c["name"] for c in once["spec"]["containers"]]
    # Every container survives exactly once; patched ones carry the patch's fields.
    assert sorted(names) == sorted({c["name"] for c in live + patch})
    by_name = {c["name"]: c for c in once["spec"]["containers"]}
    for c in patch:
        assert by_name[c["name"]]["image"] == c["image"]
    # Re-applying the same patch changes nothing.
    assert apply_strategic_merge_patch(once, {"spec": {"containers": patch}}, POD) == once
