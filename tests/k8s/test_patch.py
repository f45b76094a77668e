"""The webhook's JSON patch turns the object it was sent into the one it wants, touching nothing else."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lws.k8s.patch import json_clone, json_patch
from lws.sim.patch.jsonpatch import apply_json_patch

keys = st.sampled_from(["a", "b", "app/name", "x~y", "spec", "env"])
scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=3)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
objects = st.dictionaries(keys, documents, max_size=5)


@settings(deadline=None)  # correctness, not speed: a loaded machine must not fail it
@given(objects, objects)
def test_the_patch_applied_by_the_api_server_gives_the_wanted_object(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    before = copy.deepcopy(old)
    ops = json_patch(old, new)
    assert apply_json_patch(old, ops) == new
    assert old == before, "the object sent is left as it was"


@settings(deadline=None)
@given(objects)
def test_an_unchanged_object_needs_no_operation_and_a_clone_is_equal_and_separate(
    doc: dict[str, Any],
) -> None:
    clone = json_clone(doc)
    assert json_patch(doc, clone) == [] and clone == doc
    clone["added"] = 1
    assert "added" not in doc


def test_a_pod_mutation_is_a_few_local_operations() -> None:
    pod = {
        "metadata": {"name": "s-1", "labels": {"leaderworkerset.sigs.k8s.io/name": "s"}},
        "spec": {"containers": [{"name": "c", "image": "i", "env": [{"name": "A", "value": "1"}]}]},
    }
    mutated = json_clone(pod)
    mutated["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/group-index"] = "1"
    mutated["spec"]["containers"][0]["env"].insert(0, {"name": "LWS_GROUP_SIZE", "value": "2"})
    assert json_patch(pod, mutated) == [
        {
            "op": "add",
            "path": "/metadata/labels/leaderworkerset.sigs.k8s.io~1group-index",
            "value": "1",
        },
        {"op": "replace", "path": "/spec/containers", "value": mutated["spec"]["containers"]},
    ]
