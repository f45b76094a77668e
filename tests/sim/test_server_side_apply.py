"""Server-side apply and managedFields (lws.sim.patch.apply), checked against Kubernetes' documented behaviour."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lws.sim.patch import PatchError
from lws.sim.patch.apply import (
    ApplyConflict,
    manager_from_user_agent,
    record_update,
    restore_unchanged_timestamps,
    server_side_apply,
)
from lws.sim.patch.fieldsets import fields_v1, paths_of_fields_v1

STS = ("apps", "StatefulSet")


def statefulset(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}]}]},
        },
    }
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"}, "spec": body}


def stored(obj: dict[str, Any], rv: str = "1") -> dict[str, Any]:
    """What the server would store: the result plus the metadata it stamps."""
    out = copy.deepcopy(obj)
    out["metadata"].update(namespace="default", uid="u-1", resourceVersion=rv)
    return out


def apply(live: dict[str, Any] | None, config: dict[str, Any], manager: str = "kubectl", **kw: Any) -> dict:
    kw.setdefault("force", False)
    kw.setdefault("kind", STS)
    kw.setdefault("now", "2030-01-01T00:00:00Z")
    return server_side_apply(copy.deepcopy(live), copy.deepcopy(config), manager=manager, **kw)


def entry(obj: dict[str, Any], manager: str, operation: str | None = None) -> dict[str, Any]:
    found = [
        e
        for e in obj["metadata"].get("managedFields", [])
        if e["manager"] == manager and (operation is None or e["operation"] == operation)
    ]
    assert len(found) == 1, obj["metadata"].get("managedFields")
    return found[0]


def managers(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["manager"], e["operation"]) for e in obj["metadata"].get("managedFields", [])]


# --- apply: ownership recorded like Kubernetes -------------------------------------------------------------


def test_create_through_apply_records_exactly_the_applied_fields() -> None:
    result = apply(None, statefulset())
    assert result["spec"]["replicas"] == 2
    [recorded] = result["metadata"]["managedFields"]
    assert {k: v for k, v in recorded.items() if k != "fieldsV1"} == {
        "manager": "kubectl",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "time": "2030-01-01T00:00:00Z",
        "fieldsType": "FieldsV1",
    }
    # The selector is atomic, container ports are keyed by port and protocol (defaulted to TCP), list items
    # carry "." because they are members with children, and name/apiVersion/kind are nobody's.
    assert recorded["fieldsV1"] == {
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"web"}': {
                            ".": {},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {
                                'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}
                            },
                        }
                    }
                },
            },
        }
    }


def test_applying_the_same_configuration_twice_changes_nothing() -> None:
    live = stored(apply(None, statefulset()))
    again = server_side_apply(
        copy.deepcopy(live),
        statefulset(),
        manager="kubectl",
        force=False,
        kind=STS,
        now="2031-01-01T00:00:00Z",
    )
    assert again == live  # same time too: the server can skip the write and keep resourceVersion "1"


def test_a_changed_apply_moves_the_time_and_the_value() -> None:
    live = stored(apply(None, statefulset()))
    result = apply(live, statefulset(replicas=3), now="2031-01-01T00:00:00Z")
    assert result["spec"]["replicas"] == 3
    assert entry(result, "kubectl")["time"] == "2031-01-01T00:00:00Z"
    assert result["metadata"]["uid"] == "u-1"


def test_fields_the_applier_stops_setting_are_removed() -> None:
    config = statefulset()
    config["metadata"]["labels"] = {"team": "a", "tier": "b"}
    live = stored(apply(None, config))
    config["metadata"]["labels"] = {"team": "a"}
    del config["spec"]["template"]["spec"]["containers"][0]["ports"]
    result = apply(live, config)
    assert result["metadata"]["labels"] == {"team": "a"}
    assert "ports" not in result["spec"]["template"]["spec"]["containers"][0]
    assert "f:ports" not in str(entry(result, "kubectl")["fieldsV1"])


def test_emptied_maps_disappear_with_the_last_field_removed() -> None:
    config = statefulset()
    config["metadata"]["annotations"] = {"a": "1"}
    live = stored(apply(None, config))
    del config["metadata"]["annotations"]
    assert "annotations" not in apply(live, config)["metadata"]


def test_fields_another_manager_also_owns_survive_when_the_applier_drops_them() -> None:
    config = statefulset()
    config["metadata"]["labels"] = {"shared": "x"}
    live = stored(apply(None, config, manager="first"))
    live = stored(apply(live, config, manager="second"))
    del config["metadata"]["labels"]
    result = apply(live, config, manager="first")
    assert result["metadata"]["labels"] == {"shared": "x"}
    assert "f:labels" in entry(result, "second")["fieldsV1"]["f:metadata"]


def test_fields_set_by_other_writers_are_kept_when_merging_list_maps() -> None:
    live = stored(apply(None, statefulset()))
    sidecar = copy.deepcopy(live)
    sidecar["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "envoy"})
    live = stored(record_update(live, sidecar, manager="injector", operation="Update", now="T"), rv="2")
    config = statefulset()
    config["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    result = apply(live, config)
    assert [(c["name"], c["image"]) for c in result["spec"]["template"]["spec"]["containers"]] == [
        ("web", "nginx:2"),
        ("sidecar", "envoy"),
    ]


def test_list_map_order_follows_the_configuration_and_keeps_live_only_items_in_place() -> None:
    def containers(*names: str) -> dict[str, Any]:
        config = statefulset()
        config["spec"]["template"]["spec"]["containers"] = [{"name": n, "image": n} for n in names]
        return config

    live = stored(apply(None, containers("a", "b", "c")))
    other = copy.deepcopy(live)
    other["spec"]["template"]["spec"]["containers"].insert(1, {"name": "x", "image": "x"})
    live = stored(record_update(live, other, manager="other", operation="Update", now="T"))

    def names(config: dict[str, Any]) -> list[str]:
        return [c["name"] for c in apply(live, config)["spec"]["template"]["spec"]["containers"]]

    # Same answers as structured-merge-diff: a live-only item stays ahead of the configured item it preceded.
    assert names(containers("a", "b", "c", "d")) == ["a", "x", "b", "c", "d"]
    assert names(containers("c", "a", "b", "d")) == ["x", "c", "a", "b", "d"]


def test_finalizers_are_a_set_and_atomic_lists_are_replaced_whole() -> None:
    config = statefulset()
    config["metadata"]["finalizers"] = ["a.io/x"]
    config["spec"]["template"]["spec"]["containers"][0]["args"] = ["--one", "--two"]
    live = stored(apply(None, config))
    other = copy.deepcopy(live)
    other["metadata"]["finalizers"].append("b.io/y")
    live = stored(record_update(live, other, manager="controller", operation="Update", now="T"))
    config["spec"]["template"]["spec"]["containers"][0]["args"] = ["--three"]
    result = apply(live, config)
    assert result["metadata"]["finalizers"] == ["a.io/x", "b.io/y"]
    assert result["spec"]["template"]["spec"]["containers"][0]["args"] == ["--three"]
    assert entry(result, "controller")["fieldsV1"] == {"f:metadata": {"f:finalizers": {'v:"b.io/y"': {}}}}


# --- conflicts -------------------------------------------------------------------------------------------------


def scaled(live: dict[str, Any], replicas: int, manager: str = "kubectl-client-side-apply") -> dict[str, Any]:
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = replicas
    return stored(record_update(live, new, manager=manager, operation="Patch", now="T"), rv="2")


def test_changing_a_field_another_manager_owns_is_a_409_worded_like_kubernetes() -> None:
    live = scaled(stored(apply(None, statefulset())), 5)
    with pytest.raises(ApplyConflict) as raised:
        apply(live, statefulset())
    error = raised.value
    assert error.code == 409
    assert error.reason == "Conflict"
    assert error.status["message"] == (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas'
    )
    assert error.status["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
            "field": ".spec.replicas",
        }
    ]


def test_force_takes_the_field_over() -> None:
    live = scaled(stored(apply(None, statefulset())), 5)
    result = apply(live, statefulset(), force=True)
    assert result["spec"]["replicas"] == 2
    assert "kubectl-client-side-apply" not in [m for m, _ in managers(result)]
    assert "f:replicas" in entry(result, "kubectl")["fieldsV1"]["f:spec"]


def test_applying_the_value_another_manager_set_shares_the_field_without_conflict() -> None:
    live = scaled(stored(apply(None, statefulset())), 5)
    result = apply(live, statefulset(replicas=5))
    assert "f:replicas" in entry(result, "kubectl")["fieldsV1"]["f:spec"]
    assert "f:replicas" in entry(result, "kubectl-client-side-apply")["fieldsV1"]["f:spec"]


def test_conflicts_with_several_managers_are_listed_per_manager() -> None:
    live = stored(apply(None, statefulset()))
    live = scaled(live, 4, manager="hpa")
    config = statefulset(replicas=3)
    config["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    other = statefulset(replicas=4)
    other["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:3"
    live = stored(apply(live, other, manager="other", force=True))
    with pytest.raises(ApplyConflict) as raised:
        apply(live, config)
    assert raised.value.status["message"] == (
        'Apply failed with 3 conflicts: conflicts with "hpa" using apps/v1:\n- .spec.replicas\n'
        'conflicts with "other":\n- .spec.replicas\n'
        '- .spec.template.spec.containers[name="web"].image'
    )


def test_the_operator_style_forced_apply_always_wins_and_stays_idempotent() -> None:
    live = scaled(stored(apply(None, statefulset(), manager="lws", force=True)), 7, manager="someone")
    result = stored(apply(live, statefulset(), manager="lws", force=True), rv="3")
    assert result["spec"]["replicas"] == 2
    assert apply(result, statefulset(), manager="lws", force=True, now="2040-01-01T00:00:00Z") == result


# --- malformed configurations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "fragment", "code"),
    [
        (lambda c: c["metadata"].update(managedFields=[{"manager": "x"}]), "managedFields must be nil", 400),
        (lambda c: c.update(kind="Deployment"), "Deployment", 400),
        (lambda c: c.update(apiVersion="v1"), "StatefulSet", 400),
        (lambda c: c.pop("apiVersion"), "apiVersion and kind", 400),
        (
            lambda c: c["spec"]["template"]["spec"]["containers"].append({"name": "web", "image": "x"}),
            'containers[name="web"]',
            422,
        ),
        (
            lambda c: c["spec"]["template"]["spec"]["containers"].append({"image": "x"}),
            'omits key field "name"',
            422,
        ),
    ],
)
def test_malformed_configurations_are_refused(change: Any, fragment: str, code: int) -> None:
    config = statefulset()
    change(config)
    with pytest.raises(PatchError) as raised:
        apply(stored(apply(None, statefulset())), config)
    assert fragment in str(raised.value)
    assert raised.value.code == code


def test_the_name_must_match_the_live_object() -> None:
    config = statefulset()
    config["metadata"]["name"] = "other"
    with pytest.raises(PatchError, match="does not match the name on the URL"):
        apply(stored(apply(None, statefulset())), config)


# --- status subresource ---------------------------------------------------------------------------------------


def test_main_resource_apply_leaves_status_alone_when_the_kind_has_a_status_subresource() -> None:
    live = stored(apply(None, statefulset(), status_subresource=True))
    live["status"] = {"replicas": 1}
    config = statefulset()
    config["status"] = {"replicas": 9}
    result = apply(live, config, status_subresource=True)
    assert result["status"] == {"replicas": 1}
    assert "f:status" not in entry(result, "kubectl")["fieldsV1"]


def test_status_apply_records_a_subresource_entry_and_touches_only_status() -> None:
    live = stored(apply(None, statefulset(), status_subresource=True))
    config = statefulset(replicas=9)
    config["status"] = {"replicas": 2, "conditions": [{"type": "Ready", "status": "True"}]}
    result = apply(live, config, manager="controller", subresource="status")
    assert result["spec"]["replicas"] == 2
    assert result["status"]["replicas"] == 2
    status_entry = entry(result, "controller")
    assert status_entry["subresource"] == "status"
    assert status_entry["fieldsV1"] == {
        "f:status": {
            "f:conditions": {'k:{"type":"Ready"}': {".": {}, "f:status": {}, "f:type": {}}},
            "f:replicas": {},
        }
    }


# --- custom resources: list and map types from the CRD schema -----------------------------------------------

CRD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["port", "protocol"],
                    "items": {
                        "type": "object",
                        "properties": {
                            "port": {"type": "integer"},
                            "protocol": {"type": "string", "default": "TCP"},
                            "name": {"type": "string"},
                        },
                    },
                },
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "args": {"type": "array", "items": {"type": "string"}},
                "selector": {"type": "object", "x-kubernetes-map-type": "atomic"},
                "template": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        }
    },
}
WIDGET = ("example.com", "Widget")


def widget(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}


def test_custom_resources_merge_by_their_schema_extensions() -> None:
    first = widget(
        ports=[{"port": 80, "name": "http"}],
        tags=["a"],
        args=["x"],
        selector={"a": "1"},
        template={"nested": {"deep": 1}},
    )
    live = stored(apply(None, first, manager="one", kind=WIDGET, schema=CRD_SCHEMA))
    fields = entry(live, "one")["fieldsV1"]["f:spec"]
    assert fields["f:ports"] == {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:name": {}, "f:port": {}}}
    assert fields["f:tags"] == {'v:"a"': {}}
    assert fields["f:args"] == {}
    assert fields["f:selector"] == {}
    # Undescribed (preserved) fields are entries of a free-form map: members even when they have children.
    assert fields["f:template"] == {"f:nested": {".": {}, "f:deep": {}}}

    second = widget(ports=[{"port": 443, "protocol": "TCP"}], tags=["b"], args=["y"], selector={"b": "2"})
    result = apply(live, second, manager="two", kind=WIDGET, schema=CRD_SCHEMA, force=True)
    spec = result["spec"]
    assert spec["ports"] == [{"port": 80, "name": "http"}, {"port": 443, "protocol": "TCP"}]
    assert spec["tags"] == ["a", "b"]
    assert spec["selector"] == {"b": "2"}
    assert spec["args"] == ["y"]


def test_custom_resource_conflict_names_the_applier_without_version() -> None:
    live = stored(apply(None, widget(args=["x"]), manager="one", kind=WIDGET, schema=CRD_SCHEMA))
    with pytest.raises(ApplyConflict, match=r'conflict with "one": \.spec\.args$'):
        apply(live, widget(args=["y"]), manager="two", kind=WIDGET, schema=CRD_SCHEMA)


# --- record_update: non-apply writers ------------------------------------------------------------------------


def test_a_create_makes_the_writer_owner_of_everything_it_set() -> None:
    obj = stored(statefulset())
    result = record_update(None, obj, manager="kopf", operation="Create", now="T1")
    [recorded] = result["metadata"]["managedFields"]
    assert (recorded["manager"], recorded["operation"], recorded["time"]) == ("kopf", "Update", "T1")
    spec = recorded["fieldsV1"]["f:spec"]
    assert "." not in spec
    assert spec["f:selector"] == {}
    assert spec["f:template"]["f:metadata"]["f:labels"] == {".": {}, "f:app": {}}
    assert "f:name" not in str(recorded["fieldsV1"].get("f:metadata", {}))


def test_an_update_takes_changed_fields_and_removed_fields_leave_every_entry() -> None:
    config = statefulset()
    config["metadata"]["labels"] = {"a": "1", "b": "2"}
    live = stored(apply(None, config))
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 4
    del new["metadata"]["labels"]["b"]
    result = record_update(live, new, manager="editor", operation="Update", now="T2")
    assert entry(result, "editor")["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    applier = entry(result, "kubectl")["fieldsV1"]
    assert applier["f:metadata"] == {"f:labels": {"f:a": {}}}
    assert "f:replicas" not in applier["f:spec"]
    assert new["metadata"]["managedFields"] == live["metadata"]["managedFields"]  # input untouched


def test_an_update_that_changes_nothing_keeps_managed_fields_identical() -> None:
    live = stored(record_update(None, stored(statefulset()), manager="a", operation="Create", now="T1"))
    result = record_update(live, copy.deepcopy(live), manager="b", operation="Update", now="T2")
    assert result == live


def test_same_manager_updates_accumulate_in_one_entry() -> None:
    live = stored(record_update(None, stored(statefulset()), manager="a", operation="Create", now="T1"))
    new = copy.deepcopy(live)
    new["metadata"]["labels"] = {"x": "1"}
    result = record_update(live, new, manager="a", operation="Patch", now="T2")
    [recorded] = result["metadata"]["managedFields"]
    assert recorded["time"] == "T2"
    assert "f:replicas" in recorded["fieldsV1"]["f:spec"]
    assert recorded["fieldsV1"]["f:metadata"] == {"f:labels": {".": {}, "f:x": {}}}


def test_writers_can_replace_or_reset_managed_fields() -> None:
    live = stored(apply(None, statefulset(), manager="kubectl-client-side-apply"))
    migrated = copy.deepcopy(live)
    migrated["metadata"]["managedFields"][0]["manager"] = "kubectl"
    result = record_update(live, migrated, manager="kubectl", operation="Patch", now="T2")
    assert managers(result) == [("kubectl", "Apply")]

    reset = copy.deepcopy(live)
    reset["metadata"]["managedFields"] = [{}]
    assert (
        "managedFields"
        not in record_update(live, reset, manager="x", operation="Update", now="T")["metadata"]
    )


def test_status_writes_record_a_subresource_entry_and_ignore_requested_managed_fields() -> None:
    live = stored(apply(None, statefulset()))
    new = copy.deepcopy(live)
    new["status"] = {"readyReplicas": 1}
    new["metadata"]["managedFields"] = [{}]
    result = record_update(
        live, new, manager="sts-controller", operation="Update", now="T", subresource="status"
    )
    status_entry = entry(result, "sts-controller")
    assert status_entry["subresource"] == "status"
    assert status_entry["fieldsV1"] == {"f:status": {"f:readyReplicas": {}}}
    assert entry(result, "kubectl")


def test_an_apply_after_update_conflicts_with_the_updater() -> None:
    live = stored(
        record_update(None, stored(statefulset()), manager="kubectl-create", operation="Create", now="T")
    )
    with pytest.raises(ApplyConflict, match=r'"kubectl-create" using apps/v1: \.spec\.replicas'):
        apply(live, statefulset(replicas=5))


def test_objects_without_any_managed_fields_are_owned_by_before_first_apply() -> None:
    with pytest.raises(
        ApplyConflict, match=r'conflict with "before-first-apply" using apps/v1: \.spec\.replicas'
    ):
        apply(stored(statefulset()), statefulset(replicas=5))


# --- helpers ----------------------------------------------------------------------------------------------


def test_timestamp_only_differences_are_reverted() -> None:
    live = stored(apply(None, statefulset()))
    newer = copy.deepcopy(live)
    newer["metadata"]["managedFields"][0]["time"] = "2099-01-01T00:00:00Z"
    assert restore_unchanged_timestamps(live, newer) == live
    changed = copy.deepcopy(newer)
    changed["spec"]["replicas"] = 9
    assert restore_unchanged_timestamps(live, changed) == changed


@pytest.mark.parametrize(
    ("agent", "manager"),
    [
        ("kubectl/v1.37.1 (linux/amd64) kubernetes/abcdef", "kubectl"),
        ("OpenAPI-Generator/37.0.2/python", "OpenAPI-Generator"),
        ("kopf/1.45.2", "kopf"),
        ("", ""),
        (None, ""),
        ("x" * 200, "x" * 128),
    ],
)
def test_default_manager_is_the_user_agent_prefix(agent: str | None, manager: str) -> None:
    assert manager_from_user_agent(agent) == manager


# --- properties -----------------------------------------------------------------------------------------------

scalars = st.one_of(st.booleans(), st.integers(-5, 5), st.text("ab", max_size=2))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text("abc", min_size=1, max_size=2), inner, max_size=3),
    ),
    max_leaves=12,
)
specs = st.dictionaries(st.sampled_from(["replicas", "paused", "extra", "selector"]), json_values, max_size=4)


@settings(max_examples=150, deadline=None)
@given(specs)
def test_any_apply_repeated_is_a_no_op(spec: dict[str, Any]) -> None:
    config = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "x"}, "spec": spec}
    first = stored(apply(None, config))
    assert apply(first, config, now="2099-01-01T00:00:00Z") == first


@settings(max_examples=150, deadline=None)
@given(specs, specs)
def test_an_applier_owns_no_field_it_stopped_applying(one: dict[str, Any], two: dict[str, Any]) -> None:
    def config(spec: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "x"}, "spec": spec}

    result = apply(stored(apply(None, config(one))), config(two))
    assert (result.get("spec") or {}) == two


@settings(max_examples=200, deadline=None)
@given(
    st.sets(
        st.lists(st.sampled_from(["f:a", "f:b", 'k:{"name":"x"}', 'v:"y"']), min_size=1, max_size=4).map(
            tuple
        )
    )
)
def test_fields_v1_round_trips(paths: set[tuple[str, ...]]) -> None:
    assert paths_of_fields_v1(fields_v1(paths)) == paths


# --- kubectl moving an object from client-side to server-side apply ----------------------------------------

CM = ("", "ConfigMap")


def client_side_applied(data: dict[str, str]) -> dict[str, Any]:
    """A ConfigMap as `kubectl apply` (client-side) leaves it: its last-applied annotation and an Update entry."""
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default"},
        "data": data,
    }
    annotated = copy.deepcopy(config)
    text = (
        json.dumps({**config, "metadata": {**config["metadata"], "annotations": {}}}, sort_keys=True) + "\n"
    )
    annotated["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": text}
    return stored(
        record_update(None, annotated, manager="kubectl-client-side-apply", operation="Create", now="T")
    )


def config_map(**data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}


def test_kubectl_takes_over_what_its_client_side_apply_set() -> None:
    live = client_side_applied({"a": "1", "b": "2"})
    result = apply(live, config_map(a="9", b="2"), manager="kubectl", kind=CM)
    assert result["data"] == {"a": "9", "b": "2"}
    assert "f:a" in entry(result, "kubectl")["fieldsV1"]["f:data"]
    # The annotation follows what kubectl now applies, so a later client-side apply diffs correctly.
    annotation = result["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert (
        annotation
        == '{"apiVersion":"v1","data":{"a":"9","b":"2"},"kind":"ConfigMap","metadata":{"name":"c"}}\n'
    )


def test_other_managers_and_drifted_fields_still_conflict() -> None:
    live = client_side_applied({"a": "1", "b": "2"})
    with pytest.raises(ApplyConflict, match='conflict with "kubectl-client-side-apply"'):
        apply(live, config_map(a="9", b="2"), manager="someone-else", kind=CM)
    drifted = copy.deepcopy(live)
    drifted["data"]["a"] = "5"
    drifted = stored(
        record_update(live, drifted, manager="kubectl-client-side-apply", operation="Patch", now="T")
    )
    with pytest.raises(ApplyConflict, match=r"\.data\.a"):
        apply(drifted, config_map(a="9", b="2"), manager="kubectl", kind=CM)
