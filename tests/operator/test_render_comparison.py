"""The comparison behind every "matches `lws render` field for field" test (``e2e_kit._compare``): live
objects that carry only what the server adds pass; any field render prints that is missing or different in
the cluster fails, naming its path. Without this, a comparison that silently accepted everything would let
the render-parity tests on both targets pass whatever the operator built."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from e2e_kit import _compare

from lws.core.admission import admit
from lws.core.render import render_set
from lws.hooks.manager import make_hooks
from tests import upstream_samples


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    """What `lws render` prints for upstream's basic sample, by kind (the first object of each)."""
    hooks = make_hooks()
    manifest = upstream_samples.leaderworkersets_of(upstream_samples.path("sample-lws.yaml"))[0]
    defaulted, errors = admit(manifest, None, hooks, namespace="ns")
    assert not errors
    first: dict[str, dict[str, Any]] = {}
    for obj in render_set(defaulted, hooks)[1:]:
        first.setdefault(obj["kind"], obj)
    assert sorted(first) == ["Pod", "Service", "StatefulSet"]
    return first


def as_stored(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as an API server returns it: with the fields and defaults the server adds."""
    live = copy.deepcopy(obj)
    live["metadata"].update(uid="1234", resourceVersion="77", creationTimestamp="2026-12-05T00:00:00Z")
    live["metadata"].setdefault("labels", {})["added-by-the-server"] = "x"
    live["spec"]["defaultedByTheServer"] = True
    live["status"] = {"observed": 1}
    return live


@pytest.mark.parametrize("kind", ["Pod", "Service", "StatefulSet"])
def test_what_the_server_adds_is_no_difference(rendered: dict[str, dict[str, Any]], kind: str) -> None:
    assert _compare(kind, rendered[kind], as_stored(rendered[kind])) == []


def test_a_missing_object_is_a_difference(rendered: dict[str, dict[str, Any]]) -> None:
    name = rendered["StatefulSet"]["metadata"]["name"]
    assert _compare("StatefulSet", rendered["StatefulSet"], None) == [
        f"StatefulSet {name}: missing in the cluster"
    ]


def test_a_different_nested_value_is_named_by_its_path(rendered: dict[str, dict[str, Any]]) -> None:
    live = as_stored(rendered["StatefulSet"])
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "other:1"
    (problem,) = _compare("StatefulSet", rendered["StatefulSet"], live)
    assert ".spec.template.spec.containers[0].image: want 'nginxinc/nginx-unprivileged:1.27'" in problem


def test_a_missing_field_and_a_missing_label_are_differences(rendered: dict[str, dict[str, Any]]) -> None:
    live = as_stored(rendered["StatefulSet"])
    del live["spec"]["serviceName"]
    label = next(iter(rendered["StatefulSet"]["metadata"]["labels"]))
    del live["metadata"]["labels"][label]
    problems = _compare("StatefulSet", rendered["StatefulSet"], live)
    assert len(problems) == 2
    assert any(".spec.serviceName: missing" in p for p in problems)
    assert any(f".metadata.labels.{label}: missing" in p for p in problems)


def test_a_list_of_another_length_is_a_difference(rendered: dict[str, dict[str, Any]]) -> None:
    live = as_stored(rendered["Service"])
    live["metadata"]["ownerReferences"].append(copy.deepcopy(live["metadata"]["ownerReferences"][0]))
    (problem,) = _compare("Service", rendered["Service"], live)
    assert ".metadata.ownerReferences: want" in problem


def test_a_pods_injected_environment_is_compared(rendered: dict[str, dict[str, Any]]) -> None:
    live = as_stored(rendered["Pod"])
    env = live["spec"]["containers"][0]["env"]
    index = next(i for i, e in enumerate(env) if e["name"] == "LWS_GROUP_SIZE")
    env[index]["value"] = "5"
    (problem,) = _compare("Pod", rendered["Pod"], live)
    assert f".spec.containers[0].env[{index}].value: want '4', have '5'" in problem
